package bucket

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent"
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
