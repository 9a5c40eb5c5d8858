package local

import (
	"path"
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		defaults         bool
		path             string
		want             bool
	}{
		{"plain file", nil, nil, true, "2026-11-22/agent07/call-1.wav", true},
		{"dotfile", nil, nil, true, "2026-11-22/.call.wav", false},
		{"file in dot dir", nil, nil, true, ".snapshots/2026-11-22/call.wav", false},
		{"tmp", nil, nil, true, "2026-11-22/call.wav.tmp", false},
		{"part", nil, nil, true, "2026-11-22/call.wav.part", false},
		{"tilde", nil, nil, true, "2026-11-22/~call.wav", false},
		{"defaults off", nil, nil, false, "2026-11-22/.call.wav", true},
		{"a download's temporary file, defaults off", nil, nil, false, "2026-11-22/.s3ferry-0123456789abcdef.tmp", false},
		{"a download's temporary file, included", []string{"**"}, nil, false, "2026-11-22/.s3ferry-0123456789abcdef.tmp", false},
		{"not quite a download's temporary file", nil, nil, false, "2026-11-22/.s3ferry-0123456789abcdeg.tmp", true},
		{"include hit", []string{"**/*.wav"}, nil, true, "2026-11-22/a/call.wav", true},
		{"include miss", []string{"**/*.wav"}, nil, true, "2026-11-22/a/call.txt", false},
		{"include base name", []string{"*.wav"}, nil, true, "2026-11-22/a/call.wav", true},
		{"exclude wins", []string{"**/*.wav"}, []string{"**/scratch/**"}, true, "2026-11-22/scratch/call.wav", false},
		{"exclude base", nil, []string{"*.log"}, true, "x/y.log", false},
	}
	for _, tt := range tests {
		f, err := NewFilter(tt.include, tt.exclude, tt.defaults)
		if err != nil {
			t.Fatalf("%s: NewFilter: %v", tt.name, err)
		}
		if got := f.File(tt.path); got != tt.want {
			t.Errorf("%s: File(%q) = %v, want %v", tt.name, tt.path, got, tt.want)
		}
	}
}

// TestPatternShapes checks the string comparisons that stand in for
// doublestar on common shapes against doublestar itself: a slash-free glob
// matching the whole path or its base name.
func TestPatternShapes(t *testing.T) {
	globs := []string{".*", "*.tmp", "~*", "*.part", "call-1.wav", "*", "**", "a?c", "*.{wav,mp3}",
		"[abc]*", "\\*x", "*x*", "x*y", "2026-*/**", "**/scratch/**", "*/call-1.wav"}
	paths := []string{".x", "a/b/.hidden", "x.tmp", "dir.tmp/file", "a/x.tmp", "~a", "a/~b", "call-1.wav",
		"a/call-1.wav", "a/call-1.wavx", "abc", "a/abc", "song.mp3", "*x", "ax", "xzy", "2026-11-22/a.wav",
		"q/scratch/z", "é/ü.tmp", "a/b/c/call-1.wav", "tmp", "."}
	kinds := map[patternKind]int{}
	for _, g := range globs {
		p, err := compile(g, "test")
		if err != nil {
			t.Fatalf("compile(%q): %v", g, err)
		}
		kinds[p.kind]++
		for _, rel := range paths {
			want, _ := doublestar.Match(g, rel)
			if !strings.Contains(g, "/") && !want {
				want, _ = doublestar.Match(g, path.Base(rel))
			}
			if got := p.match(rel); got != want {
				t.Errorf("pattern %q (kind %d) on %q: %v, doublestar says %v", g, p.kind, rel, got, want)
			}
		}
	}
	for _, k := range []patternKind{kindGlob, kindEqual, kindPrefix, kindSuffix} {
		if kinds[k] == 0 {
			t.Errorf("no pattern compiled to kind %d: the test does not cover it", k)
		}
	}
}

func TestFilterPrunesExcludedDirs(t *testing.T) {
	f, err := NewFilter(nil, []string{"**/scratch/**"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{"2026-11-22/scratch": false, "2026-11-22/agent07": true, ".git": false} {
		if got := f.Dir(path); got != want {
			t.Errorf("Dir(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestFilterRejectsBadPattern(t *testing.T) {
	if _, err := NewFilter([]string{"[a-"}, nil, true); err == nil {
		t.Error("NewFilter with a broken include pattern: nil error, want one")
	}
}

func TestParseDestination(t *testing.T) {
	tests := []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""},
		{"s3://b/", "b", ""},
		{"s3://b/recordings", "b", "recordings/"},
		{"s3://b/recordings/", "b", "recordings/"},
		{"s3://b//x/y", "b", "x/y/"},
	}
	for _, tt := range tests {
		b, p, err := ParseDestination(tt.in)
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseDestination(%q) = %q, %q, %v; want %q, %q", tt.in, b, p, err, tt.bucket, tt.prefix)
		}
	}
	for _, bad := range []string{"b/x", "s3://", "s3:///x"} {
		if _, _, err := ParseDestination(bad); err == nil {
			t.Errorf("ParseDestination(%q): nil error, want one", bad)
		}
	}
}
