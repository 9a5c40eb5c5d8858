package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
)

// recordingWalker walks src and records the files it visits, in order.
func recordingWalker(t *testing.T, src *local.Source) (*walker, *[]string) {
	var got []string
	return &walker{
		src:   src,
		visit: func(_ context.Context, f found) error { got = append(got, f.rel); return nil },
		skip:  func(string) {},
		fail:  func(rel string, err error) { t.Errorf("%s: %v", rel, err) },
	}, &got
}

func TestPartitionWalkVisitsNewestFirst(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	var want []string
	for _, d := range []int{0, -1, -2} { // the order we want: newest first
		want = append(want, now.AddDate(0, 0, d).Format("2006/01/02")+"/f.wav")
	}
	for _, rel := range []string{want[2], want[0], want[1]} {
		agenttest.WriteFile(t, root, rel, "x")
	}
	src := agenttest.NewSource(t, root, "2006/01/02")
	w, got := recordingWalker(t, src)
	if err := w.partitions(context.Background(), now.Add(-72*time.Hour), time.Local); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*got, want) {
		t.Fatalf("visited %q, want newest first %q", *got, want)
	}
}

func TestTreeWalkVisitsRecentlyChangedDirsFirst(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"agent01", "agent02", "agent99"} {
		agenttest.WriteFile(t, root, d+"/f.wav", "x")
	}
	// agent02 changed last, agent01 longest ago.
	for i, d := range []string{"agent01", "agent99", "agent02"} {
		at := time.Now().Add(time.Duration(i-3) * time.Minute)
		if err := os.Chtimes(filepath.Join(root, d), at, at); err != nil {
			t.Fatal(err)
		}
	}
	src := agenttest.NewSource(t, root, "")
	w, got := recordingWalker(t, src)
	if err := w.tree(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"agent02/f.wav", "agent99/f.wav", "agent01/f.wav"}
	if !slices.Equal(*got, want) {
		t.Fatalf("visited %q, want the most recently changed directory first %q", *got, want)
	}
}
