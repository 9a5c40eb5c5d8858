package watch

import (
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
)

// fakeInfo is a FileInfo with just what the Settler reads.
type fakeInfo struct {
	fs.FileInfo
	mtime time.Time
	mode  fs.FileMode
}

func (f fakeInfo) ModTime() time.Time { return f.mtime }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) Size() int64        { return 1 }
func (f fakeInfo) Sys() any           { return nil }

func TestSettler(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	const settle = 5 * time.Second
	src := &local.Source{Root: "/r"}
	tests := []struct {
		name        string
		first, last time.Duration // event times after t0
		mtime       time.Duration // after t0
		mode        fs.FileMode
		statErr     error
		now         time.Duration
		ready, kept bool
		forced      bool
	}{
		{"quiet and old", 0, 0, 0, 0, nil, 6 * time.Second, true, false, false},
		{"recent event", 0, 3 * time.Second, 3 * time.Second, 0, nil, 6 * time.Second, false, true, false},
		{"quiet but fresh mtime (lost event)", 0, 0, 4 * time.Second, 0, nil, 6 * time.Second, false, true, false},
		{"never stops: cap", 0, 49 * time.Second, 49 * time.Second, 0, nil, 50 * time.Second, true, false, true},
		{"gone", 0, 0, 0, 0, os.ErrNotExist, 6 * time.Second, false, false, false},
		{"became a directory", 0, 0, 0, fs.ModeDir, nil, 6 * time.Second, false, false, false},
		{"unreadable: try later", 0, 0, 0, 0, fs.ErrPermission, 6 * time.Second, false, true, false},
	}
	for _, tt := range tests {
		k := FileKey{Src: src, Rel: "a.wav"}
		s := NewSettler(settle, 10*settle, func(FileKey) (fs.FileInfo, error) {
			if tt.statErr != nil {
				return nil, tt.statErr
			}
			return fakeInfo{mtime: t0.Add(tt.mtime), mode: tt.mode}, nil
		})
		s.Touch(k, t0.Add(tt.first))
		s.Touch(k, t0.Add(tt.last))
		got := s.Ready(t0.Add(tt.now))
		if (len(got) == 1) != tt.ready {
			t.Errorf("%s: ready = %v, want %v", tt.name, got, tt.ready)
		}
		if tt.ready && (got[0].Force != tt.forced || !got[0].Detected.Equal(t0.Add(tt.first))) {
			t.Errorf("%s: candidate %+v, want Force=%v and Detected at the first event", tt.name, got[0], tt.forced)
		}
		if (s.Len() == 1) != tt.kept {
			t.Errorf("%s: still settling = %v, want %v", tt.name, s.Len() == 1, tt.kept)
		}
	}
}

func TestSettlerRetryWaits(t *testing.T) {
	t0 := time.Now()
	k := FileKey{Src: &local.Source{}, Rel: "a"}
	s := NewSettler(time.Second, 10*time.Second, func(FileKey) (fs.FileInfo, error) {
		return fakeInfo{mtime: t0.Add(-time.Hour)}, nil
	})
	s.Retry(k, t0, t0.Add(time.Minute))
	if got := s.Ready(t0.Add(30 * time.Second)); len(got) != 0 {
		t.Fatalf("ready before the back-off ended: %v", got)
	}
	if got := s.Ready(t0.Add(61 * time.Second)); len(got) != 1 {
		t.Fatal("not ready after the back-off")
	}
}
