package main

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	var cmd, flag, stderr bytes.Buffer
	if code := run([]string{"s3ferry", "version"}, &cmd, &stderr); code != 0 {
		t.Fatalf("s3ferry version: exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"s3ferry", "--version"}, &flag, &stderr); code != 0 {
		t.Fatalf("s3ferry --version: exit %d, stderr %q", code, stderr.String())
	}
	got := cmd.String()
	if got != flag.String() {
		t.Errorf("s3ferry version printed %q, --version %q", got, flag.String())
	}
	for _, want := range []string{"s3ferry version " + version, "commit ", runtime.Version()} {
		if !strings.Contains(got, want) {
			t.Errorf("s3ferry version printed %q, want it to contain %q", got, want)
		}
	}
}

func TestDescribeVersion(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main:     debug.Module{Path: "github.com/s3ferry/s3ferry", Version: "v0.3.1"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/s3ferry/s3ferry", Version: "(devel)"}}
	tests := []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		{"make: ldflags win", "v0.3.0-2-gdef456", "def456", stamped, "v0.3.0-2-gdef456 (commit def456, "},
		{"go install @v0.3.1", "dev", "unknown", stamped, "v0.3.1 (commit abc123, "},
		{"go build, no VCS", "dev", "unknown", devel, "dev (commit unknown, "},
		{"no build information", "dev", "unknown", nil, "dev (commit unknown, "},
	}
	for _, tt := range tests {
		if got := describeVersion(tt.version, tt.commit, tt.info); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want it to start with %q", tt.name, got, tt.want)
		}
	}
}

// A binary built without the Makefile's ldflags from a checkout tagged
// v0.0.1-test, as `go install github.com/s3ferry/s3ferry/cmd/s3ferry@v0.0.1-test`
// builds one, prints the version the go command stamped into it.
func TestVersionFromBuildInfo(t *testing.T) {
	// A fresh repository holding this checkout's files, one commit, tagged:
	// the go command finds no VCS in a git worktree, and this checkout may
	// have changes not committed yet.
	repo := t.TempDir()
	files, err := exec.Command("git", "-C", "../..", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(files), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join("../..", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted, not yet committed
		} else if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
			"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "test")
	git("tag", "v0.0.1-test")

	bin := filepath.Join(t.TempDir(), "s3ferry")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/s3ferry")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Main.Version, "v0.0.1-test"; got != want {
		t.Fatalf("go build stamped the module version %q, want %q", got, want)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("s3ferry version: %v", err)
	}
	if want := regexp.MustCompile(`^s3ferry version v0\.0\.1-test \(commit [0-9a-f]{40}, go[0-9.]+\)\n$`); !want.Match(out) {
		t.Errorf("s3ferry version printed %q, want it to match %s", out, want)
	}
}
