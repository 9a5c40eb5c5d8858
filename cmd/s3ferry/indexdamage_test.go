package main

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh temporary directory
// and unmounts it when the test ends, failed or not. Where mounting is
// refused (not root, no CAP_SYS_ADMIN) the test is skipped with the
// reason, except under CI=true, which runs as root: there it fails.
func mountTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	dir := tb.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "mount a tmpfs: " + strings.TrimSpace(string(out)) + " (" + err.Error() + "): run as root to test a full index disk"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Busy: detach it now, the kernel frees it when the last user goes.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				tb.Errorf("unmount %s: %s %v; %s %v", dir, out, err, out2, err2)
			}
		}
	})
	return dir
}

// fill writes a file into dir until its file system has no space left.
func fill(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			tb.Fatalf("fill %s: %v", dir, err)
		}
	}
}

func TestSyncIndexDiskFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.index = filepath.Join(mountTmpfs(t, "96m"), "index")
	for i := range 20 {
		e.write(t, filepath.Join("2026-11-01", "f"+strings.Repeat("x", i)+".wav"), "a", time.Hour)
	}
	e.sync(t, 0)
	fill(t, filepath.Dir(e.index))
	for i := range 300 {
		e.write(t, filepath.Join("2026-11-02", "g"+strings.Repeat("y", i%40)+string(rune('a'+i/40))+".wav"), "b", time.Hour)
	}
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s")
	if r.code != exitError || !strings.Contains(lastLine(r.stderr), "index disk full: free space on "+e.index+" ") ||
		!strings.HasSuffix(strings.TrimSpace(r.stderr), "or move --index-dir") {
		t.Fatalf("sync with the index on a full disk: exit %d, stderr %s\nwant exit %d and one line: index disk full: free space on %s ... or move --index-dir", r.code, r.stderr, exitError, e.index)
	}
	for _, crash := range []string{"SIGBUS", "panic", "goroutine "} {
		if strings.Contains(r.stderr, crash) {
			t.Fatalf("sync crashed (%s):\n%s", crash, r.stderr)
		}
	}
}

// TestDamagedIndexCostsAListingNotAReupload damages the index two ways,
// then wants sync to say so in one line and exit 1, `index check` to find
// it, and `index rebuild` then a sync to upload nothing again.
func TestDamagedIndexCostsAListingNotAReupload(t *testing.T) {
	t.Parallel()
	damage := []struct {
		name string
		do   func(tb testing.TB, dir string)
	}{
		{"garbled table", func(tb testing.TB, dir string) {
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				tb.Fatalf("no table in %s", dir)
			}
			garble(tb, tables[0])
		}},
		{"manifest truncated to its header", func(tb testing.TB, dir string) {
			if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 8); err != nil {
				tb.Fatal(err)
			}
		}},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var rels []string
			for i := range 30 {
				rel := filepath.Join("2026-11-0"+string(rune('1'+i%5)), "call"+strings.Repeat("0", i)+".wav")
				e.write(t, rel, "recording "+rel, time.Hour)
				rels = append(rels, rel)
			}
			if got := e.sync(t, 0); got.Uploaded != 30 {
				t.Fatalf("first sync: %+v, want 30 uploaded", got)
			}
			if r := e.run(t, "index", "check", "--index-dir", "{index}"); r.code != 0 || !strings.Contains(r.stdout, "healthy") {
				t.Fatalf("index check of a sound index: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			d.do(t, e.index)

			r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--full")
			if r.code != exitError || !strings.Contains(r.stderr, "is damaged") || !strings.Contains(r.stderr, "s3ferry index rebuild") ||
				strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("sync on a damaged index: exit %d, stderr:\n%s\nwant exit %d and one line naming the damage and 'index rebuild'", r.code, r.stderr, exitError)
			}
			if r := e.run(t, "index", "check", "--index-dir", "{index}"); r.code != exitError || !strings.Contains(r.stdout, e.index) {
				t.Fatalf("index check of a damaged index: exit %d, want %d\n%s%s", r.code, exitError, r.stdout, r.stderr)
			}
			// The message's command line, run as it is, rebuilds this index.
			_, line, _ := strings.Cut(r.stderr, "rebuild it from the bucket with '")
			line, _, _ = strings.Cut(line, "'")
			want := "s3ferry index rebuild " + e.root + " s3://" + e.bucket + "/rec/ --index-dir " + e.index
			if !strings.HasPrefix(line, want) {
				t.Fatalf("the damaged index's message suggests %q, want the rebuild of this index and bucket (%q...)", line, want)
			}
			if r := e.run(t, strings.Fields(line)[1:]...); r.code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
			}
			if got := e.sync(t, 0, "--full"); got.Uploaded != 0 || got.Unchanged != 30 {
				t.Fatalf("sync after the rebuild: %+v, want nothing uploaded, 30 unchanged", got)
			}
			for _, rel := range rels {
				if n := e.versions(t, filepath.ToSlash(rel)); n != 1 {
					t.Errorf("%s has %d versions, want 1: the rebuild must not cost a re-upload", rel, n)
				}
			}
		})
	}
}

// garble writes random bytes over the middle third of the file at path.
func garble(tb testing.TB, path string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := len(b) / 3; i < 2*len(b)/3; i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestFirstRunAdoptsWhatThePrefixHolds syncs a tree with one index, then
// runs a first sync with a new one: nothing is uploaded again.
func TestFirstRunAdoptsWhatThePrefixHolds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 20 {
		e.write(t, filepath.Join("2026-11-01", "f"+strings.Repeat("x", i)+".wav"), "content", time.Hour)
	}
	e.write(t, "2026-11-02/new.wav", "new", time.Hour)
	if err := os.Rename(filepath.Join(e.root, "2026-11-02"), filepath.Join(t.TempDir(), "later")); err != nil {
		t.Fatal(err)
	}
	if got := e.sync(t, 0); got.Uploaded != 20 {
		t.Fatalf("first sync: %+v, want 20 uploaded", got)
	}
	e.write(t, "2026-11-02/new.wav", "new", time.Hour)
	e.index = filepath.Join(t.TempDir(), "index") // lost, purged, or another host's
	if r := e.run(t, "index", "check", "--index-dir", "{index}"); r.code != exitError || !strings.Contains(r.stderr, "no index at "+e.index) {
		t.Fatalf("index check of no index: exit %d, want %d and 'no index'\n%s%s", r.code, exitError, r.stdout, r.stderr)
	}
	if got := e.sync(t, 0, "--partition-layout", "2006-01-02"); got.Uploaded != 1 || got.Unchanged != 20 {
		t.Fatalf("first sync with a new index: %+v, want only the new file uploaded, 20 unchanged", got)
	}
}
