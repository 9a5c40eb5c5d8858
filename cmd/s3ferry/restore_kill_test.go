package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestRestoreKilledAndRunAgain kills (SIGKILL) a restore of several large
// files fetched in ranged parts, through a link that caps each stream,
// once some are in place and the next is being written: no file is in
// place partly written, and a second run removes the temporary files the
// first left (and says how many), fetches only the files the first did
// not finish (the GETs through the proxy say so), and brings them whole.
func TestRestoreKilledAndRunAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const files, size = 5, 6 << 20
	want := map[string][]byte{}
	rng := rand.NewChaCha8([32]byte{25})
	for i := range files {
		rel := "cam/" + string(rune('a'+i)) + ".mp4"
		data := make([]byte, size)
		rng.Read(data)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(e.root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(filepath.Join(e.root, rel), old, old); err != nil {
			t.Fatal(err)
		}
		want[rel] = data
	}
	e.sync(t, 0)

	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 25)
	p.Set(s3test.Faults{StreamRate: 8 << 20}) // a file's 2 parts take about 0.4 s
	to := t.TempDir()
	args := []string{"restore", "s3://" + e.bucket + "/rec/", "--to", to, "--json", "--endpoint-url", p.URL,
		"--workers", "1", "--download-part-size", "1MiB", "--download-part-concurrency", "2"}

	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), e.srv.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "a file in place and the next being written", func() bool {
		done, tmp := restoredFiles(t, to)
		return len(done) >= 1 && len(tmp) >= 1 && len(done) < files-1
	})
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	done, left := restoredFiles(t, to)
	if len(left) == 0 {
		t.Fatal("no temporary file left by the killed restore: the test proves nothing of their removal")
	}
	for _, rel := range done {
		if got, _ := os.ReadFile(filepath.Join(to, rel)); !bytes.Equal(got, want[rel]) {
			t.Fatalf("%s is in place after the kill with %d bytes that are not the file's %d", rel, len(got), len(want[rel]))
		}
	}
	if len(done) == files {
		t.Fatalf("all %d files restored before the kill: the test proves nothing", files)
	}
	before := len(p.Gets())

	r := e.run(t, args...)
	if r.code != 0 {
		t.Fatalf("second restore: exit %d\n%s", r.code, r.stderr)
	}
	var st bucket.RestoreStats
	r.decode(t, &st)
	if st.Restored != int64(files-len(done)) || st.Existing != int64(len(done)) || st.Failed != 0 || st.Leftovers != int64(len(left)) {
		t.Errorf("second restore: %+v, want %d restored, the %d finished left alone, the %d temporary files removed",
			st, files-len(done), len(done), len(left))
	}
	if _, tmp := restoredFiles(t, to); len(tmp) != 0 {
		t.Errorf("temporary files after the second restore: %v", tmp)
	}
	fetched := map[string]int{}
	for _, g := range p.Gets()[before:] {
		fetched[strings.TrimPrefix(g.Path, "/"+e.bucket+"/rec/")]++
	}
	for _, rel := range done {
		if fetched[rel] != 0 {
			t.Errorf("%s, finished by the first run, fetched again %d times", rel, fetched[rel])
		}
	}
	for rel, data := range want {
		if got, err := os.ReadFile(filepath.Join(to, rel)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s after the second run: %d bytes (%v), want the file's %d", rel, len(got), err, len(data))
		}
		if !slices.Contains(done, rel) && fetched[rel] < 2 {
			t.Errorf("%s fetched in %d GETs, want its parts", rel, fetched[rel])
		}
	}
}

// restoredFiles lists the files below dir: the ones in place, and the
// temporary ones a download writes into.
func restoredFiles(tb testing.TB, dir string) (done, tmp []string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(path.Base(rel), ".s3ferry-") {
			tmp = append(tmp, rel)
		} else {
			done = append(done, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return done, tmp
}
