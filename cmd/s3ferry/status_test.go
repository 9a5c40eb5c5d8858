package main

import (
	"errors"
	"io/fs"
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

}

// TestReadOnlyCommandsCreateNoIndex: status, manifest, verify and index
// check, given an index directory that is missing or holds no index, fail
// in one line and create nothing (issue 24).
func TestReadOnlyCommandsCreateNoIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/a.wav", "a", time.Hour)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"status", []string{"status"}},
		{"manifest", []string{"manifest", "{root}", "{dest}", "--out", filepath.Join(t.TempDir(), "m.csv")}},
		{"verify", []string{"verify", "{root}", "{dest}"}},
		{"index check", []string{"index", "check"}},
	} {
		for _, existing := range []bool{false, true} {
			dir := filepath.Join(t.TempDir(), "index")
			if existing {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r := e.run(t, append(append([]string{}, tc.args...), "--index-dir", dir)...)
			want := "no index at " + dir + ": run s3ferry sync (or run) first, or pass --index-dir"
			if r.code != exitError || !strings.Contains(r.stderr, want) {
				t.Errorf("%s, directory exists %t: exit %d, stderr %q; want exit %d and %q", tc.name, existing, r.code, r.stderr, exitError, want)
			}
			entries, err := os.ReadDir(dir)
			switch {
			case !existing && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s created %s (%v)", tc.name, dir, err)
			case existing && len(entries) > 0:
				t.Errorf("%s wrote %d files into the empty %s", tc.name, len(entries), dir)
			}
		}
	}
}
