package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusListsEverySourceOfTheIndex: status with only --index-dir, no
// daemon and no source given, lists each source a sync recorded there.
func TestStatusListsEverySourceOfTheIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/a.wav", "a", time.Hour)
	e.sync(t, 0)
	other := t.TempDir()
	for _, name := range []string{"cam1.mp4", "cam2.mp4"} {
		if err := os.WriteFile(filepath.Join(other, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.run(t, "sync", other, "s3://"+e.bucket+"/cams/", "--index-dir", "{index}", "--settle", "0s"); r.code != 0 {
		t.Fatalf("sync exit %d: %s", r.code, r.stderr)
	}

	r := e.run(t, "status", "--index-dir", "{index}")
	if r.code != 0 {
		t.Fatalf("status exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"no daemon running",
		e.root + " -> s3://" + e.bucket + "/rec/\n  files recorded  1\n",
		other + " -> s3://" + e.bucket + "/cams/\n  files recorded  2\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}

	empty := e.run(t, "status", "--index-dir", t.TempDir())
	if empty.code != 0 || !strings.Contains(empty.stdout, "no source yet") {
		t.Errorf("status of an empty index: exit %d, %q", empty.code, empty.stdout)
	}
}
