package bucket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader"
)

// TestRestorePointInTime writes a key's history at known times and
// restores the tree as it was at each of them.
func TestRestorePointInTime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	clock := t0
	f.fake.Now = func() time.Time { return clock }
	step := func(m int) { clock = at(m) }

	step(10)
	f.put(t, "a.wav", "a one", true)
	step(30)
	f.put(t, "a.wav", "a two", true)
	step(40)
	f.put(t, "b.wav", "b", true)
	step(50)
	if _, err := f.fake.Delete(ctx, "rec/a.wav", ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		at                      time.Time
		files                   map[string]string
		restored, deleted, late int64
	}{
		{at(5), map[string]string{}, 0, 0, 2},
		{at(20), map[string]string{"a.wav": "a one"}, 1, 0, 1},
		{at(45), map[string]string{"a.wav": "a two", "b.wav": "b"}, 2, 0, 0},
		{at(60), map[string]string{"b.wav": "b"}, 1, 1, 0},
		{time.Time{}, map[string]string{"b.wav": "b"}, 1, 1, 0}, // now
	}
	for _, tt := range tests {
		to := t.TempDir()
		st, err := (&Restore{Bucket: f.fake, Prefix: "rec/", At: tt.at, To: to}).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Restored != tt.restored || st.Deleted != tt.deleted || st.Later != tt.late || st.Listed != 2 {
			t.Errorf("at %s: %+v; want %d restored, %d deleted, %d later", tt.at.Format(time.TimeOnly), st, tt.restored, tt.deleted, tt.late)
		}
		checkTree(t, to, tt.files)
	}
}

// TestRestoreRefusals: keys that lead outside the target are not written,
// and existing files are left alone without Overwrite.
func TestRestoreRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "../escape.wav", "out", true)
	f.put(t, "/abs.wav", "abs", true) // key rec//abs.wav
	f.put(t, "ok.wav", "new", true)
	f.put(t, "dir/", "", false)

	parent := t.TempDir()
	to := filepath.Join(parent, "target")
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "ok.wav"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := (&Restore{Bucket: f.fake, Prefix: "rec/", To: to}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 2 || st.Existing != 1 || st.Restored != 0 {
		t.Errorf("stats %+v: want 2 failed (outside the target), 1 existing, none restored", st)
	}
	checkTree(t, parent, map[string]string{"target/ok.wav": "old"})

	st, err = (&Restore{Bucket: f.fake, Prefix: "rec/", To: to, Overwrite: true}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != 1 || st.Failed != 2 {
		t.Errorf("with Overwrite: %+v; want 1 restored, 2 failed", st)
	}
	checkTree(t, parent, map[string]string{"target/ok.wav": "new"})
}

// checkTree fails unless dir holds exactly files (slash paths to content).
func checkTree(tb testing.TB, dir string, files map[string]string) {
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
	for rel, want := range files {
		if got[rel] != want {
			tb.Errorf("%s = %q, want %q", rel, got[rel], want)
		}
	}
	if len(got) != len(files) {
		tb.Errorf("tree %v, want %v", got, files)
	}
}

// TestRestoreUncleanKeys: keys s3ferry never writes are refused by name,
// and the rest of the restore goes on. MinIO refuses such keys, so this
// runs on the Fake; AWS S3 stores "a//b", "a/./b", "a/x/../b" and "./a/b"
// as distinct keys beside "a/b", so before this each of them restored to
// a/b and raced the genuine one.
func TestRestoreUncleanKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "a/b.wav", "genuine", true)
	unclean := []string{"a//b.wav", "a/./b.wav", "a/x/../b.wav", "./a/b.wav", "a/b.wav/."}
	for _, k := range unclean {
		f.put(t, k, "planted", true)
	}
	f.put(t, "c.wav", "other", true)
	var logs bytes.Buffer
	to := t.TempDir()
	st, err := (&Restore{Bucket: f.fake, Prefix: "rec/", To: to, Pool: agent.PoolOptions{Workers: 1}, Overwrite: true,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != 2 || st.Failed != int64(len(unclean)) {
		t.Errorf("stats %+v: want 2 restored, %d failed", st, len(unclean))
	}
	checkTree(t, to, map[string]string{"a/b.wav": "genuine", "c.wav": "other"})
	var errs []string
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Err string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		errs = append(errs, rec.Err)
	}
	for _, k := range unclean {
		want := strconv.Quote("rec/"+k) + ": " + ErrUncleanKey.Error()
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("no error says %s; the log:\n%s", want, logs.String())
		}
	}
}

// stalledListing is a bucket whose full listings, once they have listed
// everything, wait for ctx's end: a restore over it has fetched every file
// but never ends.
type stalledListing struct{ uploader.Bucket }

func (b stalledListing) ListVersions(ctx context.Context, prefix string, opts uploader.ListOptions, fn func(uploader.History) error) error {
	if err := b.Bucket.ListVersions(ctx, prefix, opts, fn); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// killedFiles are what TestRestoreKilledBeforePlace restores, with the
// mtime each records: a temporary file with it is finished and waits only
// to be placed.
var (
	killedFiles = map[string]string{"a.wav": "a", "d/b.wav": "bb", "d/e/c.wav": "ccc"}
	killedMtime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
)

func killedFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := newFixture(tb)
	for rel, content := range killedFiles {
		if _, err := f.fake.Put(context.Background(), f.src.Prefix+rel, strings.NewReader(content), int64(len(content)),
			uploader.PutOptions{Metadata: map[string]string{uploader.MetaMtime: killedMtime.Format(time.RFC3339Nano)}}); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// TestRestoreKilledBeforePlace kills (SIGKILL) a restore whose files are
// all fetched, verified and given their mode and mtime but not yet placed
// (their batch waits): no file is under its name, only private temporary
// files are left, and a second restore into the same directory completes.
func TestRestoreKilledBeforePlace(t *testing.T) {
	if to := os.Getenv("S3FERRY_TEST_RESTORE_KILLED_TO"); to != "" {
		// The child: restore and wait to be killed.
		f := killedFixture(t)
		_, err := (&Restore{Bucket: stalledListing{f.fake}, Prefix: "rec/", To: to,
			Place: uploader.PlacerOptions{Files: 1000, Wait: time.Hour}}).Run(context.Background())
		t.Fatalf("the restore ended (%v) before it was killed", err)
	}
	dir := t.TempDir()
	to := filepath.Join(dir, "to")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreKilledBeforePlace$")
	// The child's own temporary directories go beneath ours: killed, it
	// never removes them.
	cmd.Env = append(os.Environ(), "S3FERRY_TEST_RESTORE_KILLED_TO="+to, "TMPDIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	finished := func() (n int) {
		filepath.WalkDir(to, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".s3ferry-") {
				if fi, err := d.Info(); err == nil && fi.ModTime().Equal(killedMtime) {
					n++
				}
			}
			return nil
		})
		return n
	}
	deadline := time.After(60 * time.Second)
	for finished() < len(killedFiles) {
		select {
		case err := <-exited:
			t.Fatalf("the restore ended (%v) before its files were fetched:\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("after 60s %d of %d files are fetched and waiting:\n%s", finished(), len(killedFiles), out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	// A moment, so that a file placed outside its batch would be seen
	// in place.
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	for rel := range killedFiles {
		if _, err := os.Lstat(filepath.Join(to, filepath.FromSlash(rel))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after the kill: %v, want no file under its name", rel, err)
		}
	}

	st, err := (&Restore{Bucket: killedFixture(t).fake, Prefix: "rec/", To: to}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != int64(len(killedFiles)) || st.Failed != 0 {
		t.Errorf("the second restore: %+v, want %d restored", st, len(killedFiles))
	}
	for rel, content := range killedFiles {
		p := filepath.Join(to, filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Errorf("%s: %q (%v), want %q", rel, b, err, content)
		}
		if fi, err := os.Stat(p); err == nil && !fi.ModTime().Equal(killedMtime) {
			t.Errorf("%s: mtime %s, want %s", rel, fi.ModTime(), killedMtime)
		}
	}
}

// TestRestoreOneFileEndsPromptly: a batch short of its size is placed
// when the restore ends, not when its wait is over: a restore of one file
// with an hour's wait ends (the bound says "not held", not how fast).
func TestRestoreOneFileEndsPromptly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "a.wav", "a", true)
	to := t.TempDir()
	ended := make(chan error, 1)
	var st RestoreStats
	go func() {
		var err error
		st, err = (&Restore{Bucket: f.fake, Prefix: "rec/", To: to, Place: uploader.PlacerOptions{Wait: time.Hour}}).Run(context.Background())
		ended <- err
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a restore of one file with an hour's batch wait did not end within 30s")
	}
	if st.Restored != 1 {
		t.Errorf("%+v, want 1 restored", st)
	}
	checkTree(t, to, map[string]string{"a.wav": "a"})
}
