package agent

import "testing"

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
