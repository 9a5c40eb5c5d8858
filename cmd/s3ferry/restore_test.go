package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

// TestRestoreAt restores a tree as it was before a later overwrite, a
// later delete and a later new file.
func TestRestoreAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/overwritten.wav", "old content", 3*time.Hour)
	e.write(t, "d/deleted.wav", "deleted later", 3*time.Hour)
	e.write(t, "d/kept.wav", "kept", 3*time.Hour)
	e.sync(t, 0)
	at := time.Now()
	// S3 keeps times to the millisecond, AWS to the second: what happens
	// next must be dated after at on any server.
	time.Sleep(time.Until(at.Add(1100 * time.Millisecond)))
	e.write(t, "d/overwritten.wav", "new content, longer", time.Hour)
	e.write(t, "d/created.wav", "created later", time.Hour)
	e.sync(t, 0, "--full")
	e.remove(t, "d/deleted.wav")

	restore := func(want int, to string, flags ...string) bucket.RestoreStats {
		t.Helper()
		r := e.run(t, append([]string{"restore", "{dest}", "--to", to, "--json"}, flags...)...)
		if r.code != want {
			t.Fatalf("restore %v: exit %d, want %d\n%s\n%s", flags, r.code, want, r.stdout, r.stderr)
		}
		var st bucket.RestoreStats
		if want == 0 {
			r.decode(t, &st)
		}
		return st
	}
	then := t.TempDir()
	st := restore(0, then, "--at", at.Format(time.RFC3339Nano))
	if st.Restored != 3 || st.Later != 1 || st.Failed != 0 {
		t.Fatalf("restore --at: %+v, want 3 restored and 1 created later", st)
	}
	checkTree(t, then, map[string]string{
		"d/overwritten.wav": "old content",
		"d/deleted.wav":     "deleted later",
		"d/kept.wav":        "kept",
	})
	// The file has the mtime it had when it was uploaded.
	src, _ := os.Stat(filepath.Join(e.root, "d/kept.wav"))
	if got, err := os.Stat(filepath.Join(then, "d/kept.wav")); err != nil || !got.ModTime().Equal(src.ModTime()) {
		t.Errorf("restored mtime %v, want the original %v", got.ModTime(), src.ModTime())
	}

	now := t.TempDir()
	if st := restore(0, now); st.Restored != 3 || st.Deleted != 1 {
		t.Fatalf("restore of the current state: %+v, want 3 restored, 1 deleted", st)
	}
	checkTree(t, now, map[string]string{
		"d/overwritten.wav": "new content, longer",
		"d/created.wav":     "created later",
		"d/kept.wav":        "kept",
	})

	// An existing file is left alone, unless --overwrite.
	if err := os.WriteFile(filepath.Join(then, "d/kept.wav"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := restore(0, then, "--at", at.Format(time.RFC3339Nano), "--prefix", "d/kept"); st.Existing != 1 || st.Restored != 0 {
		t.Errorf("restore over an existing file: %+v, want it left alone", st)
	}
	if st := restore(0, then, "--prefix", "d/kept", "--overwrite"); st.Restored != 1 {
		t.Errorf("restore --overwrite: %+v, want 1 restored", st)
	}
	if got, err := os.ReadFile(filepath.Join(then, "d/kept.wav")); err != nil || string(got) != "kept" {
		t.Errorf("file after restore --overwrite = %q (%v), want the restored content", got, err)
	}

	// Into the source tree only with --overwrite.
	r := e.run(t, "restore", "{root}", "{dest}", "--to", filepath.Join(e.root, "d"), "--index-dir", "{index}")
	if r.code != exitUsage {
		t.Errorf("restore into the source tree without --overwrite: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
	r = e.run(t, "restore", "{root}", "{dest}", "--to", "{root}", "--at", at.Format(time.RFC3339Nano), "--overwrite", "--prefix", "d/overwritten")
	if r.code != 0 {
		t.Fatalf("restore into the source tree with --overwrite: exit %d\n%s", r.code, r.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(e.root, "d/overwritten.wav")); err != nil || string(got) != "old content" {
		t.Errorf("source file after restoring it = %q (%v), want the old content", got, err)
	}
}

// checkTree checks that dir holds exactly the files of want.
func checkTree(tb testing.TB, dir string, want map[string]string) {
	tb.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if !maps.Equal(got, want) {
		tb.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// TestRestoreOfNothingFails: a prefix that holds no key (a typo) exits 1,
// names what there is below the destination, and creates no --to.
func TestRestoreOfNothingFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "2026-12-06/agent05/call.wav", "a", time.Hour)
	e.write(t, "2026-12-07/agent05/call.wav", "b", time.Hour)
	e.sync(t, 0)
	to := filepath.Join(t.TempDir(), "restored")
	r := e.run(t, "restore", "{dest}", "--to", to, "--prefix", "2026-12-6/")
	want := fmt.Sprintf(`s3ferry: nothing to restore: no key below s3://%s/rec/2026-12-6/; below s3://%s/rec/ there are "2026-12-06/", "2026-12-07/": check --prefix`, e.bucket, e.bucket)
	if r.code != exitError || lastLine(r.stderr) != want {
		t.Fatalf("exit %d, last line %q; want %d and %q", r.code, lastLine(r.stderr), exitError, want)
	}
	if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("--to after a restore of nothing: %v, want it not created", err)
	}
}
