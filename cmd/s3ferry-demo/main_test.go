package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestDemo runs `make run`'s demo without waiting for Ctrl-C: the two syncs,
// then the daemon, which uploads the recording dropped while it runs; the
// demo shows its status and metrics, then stops it and MinIO.
func TestDemo(t *testing.T) {
	if _, err := s3test.Binary(); err != nil {
		s3test.Require(t, nil, err)
	}
	bin := filepath.Join(t.TempDir(), "s3ferry")
	build := exec.Command("go", "build", "-o", bin, "../s3ferry")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build s3ferry: %v\n%s", err, out)
	}
	dir := t.TempDir()
	var out strings.Builder
	if err := run(&out, bin, filepath.Join(dir, "demo"), false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"is in the bucket",                 // the daemon uploaded the live recording
		"daemon pid",                       // s3ferry status asked the running daemon
		"s3ferry_uploaded_files_total 1\n", // exactly that one file: the syncs sent the rest
		"s3ferry_healthy 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "demo", "index", "admin.addr")); err == nil {
		t.Errorf("admin.addr is still there: the daemon was not stopped")
	}
}
