package index_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/index"
)

// lockedBy opens dir, which must be held, and returns the *LockedError.
func lockedBy(tb testing.TB, dir string) *index.LockedError {
	tb.Helper()
	db, err := index.Open(dir, index.Options{})
	if err == nil {
		db.Close()
		tb.Fatal("Open of a held index succeeded")
	}
	var locked *index.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, index.ErrLocked) {
		tb.Fatalf("Open of a held index: %v, want a *LockedError", err)
	}
	return locked
}

// A one-shot command holding the index is named with its pid and start
// time, and the next step is to wait for it or stop it, not to ask it
// with status (it serves no socket). Once it closed the index, the lock
// file names no one.
func TestLockedByOneShotCommandSaysWhoAndWhatToDo(t *testing.T) {
	dir := t.TempDir()
	before := time.Now().Add(-time.Second)
	cmd, stdin, _ := startHelper(t, "hold", dir)
	locked := lockedBy(t, dir)
	pid := cmd.Process.Pid
	if h := locked.Holder; h.PID != pid || h.Command != "sync" || h.Admin != "" || h.Started.Before(before) || h.Started.After(time.Now()) {
		t.Errorf("holder %+v, want sync, pid %d, started since %s, no admin socket", h, pid, before)
	}
	msg := locked.Error()
	for _, want := range []string{"s3ferry sync", "process " + strconv.Itoa(pid), "started ", "wait for it to finish or stop pid " + strconv.Itoa(pid)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "status") {
		t.Errorf("message %q suggests status, which a one-shot command does not answer", msg)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if h := index.ReadHolder(dir); h != (index.Holder{}) {
		t.Errorf("after the holder closed the index, the lock file says %+v, want no one", h)
	}
}

// The daemon holding the index is named, and status is the next step.
func TestLockedByDaemonSuggestsStatus(t *testing.T) {
	dir := t.TempDir()
	db, err := index.Open(dir, index.Options{Command: "run", Admin: "/run/s3ferry/admin.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	locked := lockedBy(t, dir)
	msg := locked.Error()
	if !locked.Daemon() || !strings.Contains(msg, "the daemon (s3ferry run, process "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, "s3ferry status") {
		t.Errorf("message %q: want the daemon named and s3ferry status suggested", msg)
	}
}

// A lock file left by a process that is gone (killed with kill -9; or its
// lock just taken by a process that has not written its own) names no
// one: neither ReadHolder nor the message trusts it.
func TestStaleHolderIsIgnored(t *testing.T) {
	dir := t.TempDir()
	closeDB(t, openDB(t, dir))
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	lock := filepath.Join(dir, "s3ferry.lock")
	stale := dead + "\n/run/s3ferry/admin.sock\nsync\n" + time.Now().UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(lock, []byte(stale), 0o640); err != nil {
		t.Fatal(err)
	}
	if h := index.ReadHolder(dir); h != (index.Holder{}) {
		t.Errorf("ReadHolder of a stale lock file = %+v, want no one", h)
	}
	// A holder whose pid another process took since: this test's process
	// is alive, but started after the holder says it took the lock.
	recycled := strconv.Itoa(os.Getpid()) + "\n/run/s3ferry/admin.sock\nsync\n" + time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(lock, []byte(recycled), 0o640); err != nil {
		t.Fatal(err)
	}
	if h := index.ReadHolder(dir); h != (index.Holder{}) {
		t.Errorf("ReadHolder of a holder whose pid was recycled = %+v, want no one", h)
	}
	current := strconv.Itoa(os.Getpid()) + "\n/run/s3ferry/admin.sock\nsync\n" + time.Now().UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(lock, []byte(current), 0o640); err != nil {
		t.Fatal(err)
	}
	if h := index.ReadHolder(dir); h.PID != os.Getpid() {
		t.Errorf("ReadHolder of a holder written by a live process = %+v, want it named", h)
	}
	if err := os.WriteFile(lock, []byte(stale), 0o640); err != nil {
		t.Fatal(err)
	}
	// Held, by a process that has not written its holder yet.
	f, err := os.OpenFile(lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	locked := lockedBy(t, dir)
	msg := locked.Error()
	if locked.PID != 0 || locked.Daemon() || strings.Contains(msg, dead) || strings.Contains(msg, "sync") || strings.Contains(msg, "status") {
		t.Errorf("held with a stale holder: %+v, %q; want another process, unnamed", locked.Holder, msg)
	}
}
