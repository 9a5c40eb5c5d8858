package main

import (
	"errors"
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
