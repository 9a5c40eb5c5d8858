package main

import (
	"bytes"
	"runtime"
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
