package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockName is the file in the index directory that one process holds an
// exclusive flock on while the index is open. While it is held it is the
// holder file too: the Holder, one field a line (PID, admin socket,
// command, start time), written after the lock is taken and emptied before
// it is released. Emptied, not removed: a process that opened the file
// just before an unlink would lock a name no one else sees.
const lockName = "s3ferry.lock"

// Holder is the process that holds an index directory, as its lock file
// says.
type Holder struct {
	PID int // 0 when it could not be read, or names a process that is gone
	// Admin is the path of the holder's admin socket; "" when the holder
	// serves none (a one-shot command such as sync).
	Admin string
	// Command is the s3ferry command holding the index ("run", "sync",
	// "index check"); "" when it did not say.
	Command string
	// Started is when it took the lock; zero when it did not say.
	Started time.Time
}

// lockDir takes the lock of dir and writes h (with our PID and the time)
// into it. unlockDir releases it; so does the kernel when the process dies,
// even by kill -9, and the holder it leaves behind names a process that is
// gone, which readHolder ignores. flock locks belong to an open file
// description, so a second lockDir in the same process fails too.
func lockDir(dir string, h Holder) (*os.File, error) {
	name := filepath.Join(dir, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock index: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, Holder: readHolder(name)}
		}
		return nil, fmt.Errorf("lock index %s: %w", name, err)
	}
	h.PID, h.Started = os.Getpid(), time.Now()
	if err := writeHolder(f, h); err != nil {
		f.Close()
		if errors.Is(err, syscall.ENOSPC) {
			// The first write of an open: a full disk is said as the
			// index's other writes say it, not as a locking failure.
			return nil, &DiskFullError{Dir: dir, Min: DefaultMinFree}
		}
		return nil, fmt.Errorf("lock index %s: %w", name, err)
	}
	return f, nil
}

// unlockDir empties the lock file f, so that it names no holder, and
// releases the lock.
func unlockDir(f *os.File) error {
	terr := f.Truncate(0)
	return errors.Join(terr, f.Close())
}

func writeHolder(f *os.File, h Holder) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	// A command name is ours, but keep it on its line whatever it holds.
	command := strings.Join(strings.Fields(h.Command), " ")
	_, err := f.WriteAt([]byte(strconv.Itoa(h.PID)+"\n"+h.Admin+"\n"+command+"\n"+h.Started.UTC().Format(time.RFC3339)+"\n"), 0)
	return err
}

// ReadHolder reads what the lock file of the index in dir says of the
// process holding it, without taking the lock (a zero Holder when there is
// no lock file, or it names a process that is gone). It does not tell
// whether the lock is held: a client checks that the process answering at
// Admin is PID (SO_PEERCRED).
func ReadHolder(dir string) Holder { return readHolder(filepath.Join(dir, lockName)) }

// readHolder parses the lock file name; a PID it cannot read is 0 (the
// holder may be between truncating and writing it), and so is a path that
// is not absolute. A holder whose process is gone (killed, its lock taken
// by a process that has not written its own yet) is the zero Holder: the
// file is stale.
func readHolder(name string) Holder {
	b, err := os.ReadFile(name)
	if err != nil {
		return Holder{}
	}
	lines := strings.SplitN(string(b), "\n", 5)
	line := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	pid, err := strconv.Atoi(line(0))
	if err != nil || pid <= 0 || !alive(pid) {
		return Holder{}
	}
	h := Holder{PID: pid, Command: line(2)}
	if admin := line(1); filepath.IsAbs(admin) {
		h.Admin = admin
	}
	if t, err := time.Parse(time.RFC3339, line(3)); err == nil {
		h.Started = t
	}
	if recycled(h) {
		return Holder{}
	}
	return h
}

// alive reports whether process pid exists (signal 0: EPERM means it does,
// and belongs to another user).
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// recycled reports whether h.PID is now another process than the one
// that wrote h: the holder is written after its process started, so a
// process that started later (its /proc start time, whose clock ticks
// Linux exports at 100 a second, after h.Started and a tick's rounding)
// took the pid of one that is gone. Without /proc, or a start time in h,
// it cannot tell and says no.
func recycled(h Holder) bool {
	if h.Started.IsZero() {
		return false
	}
	started, ok := processStart(h.PID)
	return ok && started.After(h.Started.Add(time.Second)) // Started has whole seconds
}

// processStart reads when process pid started from /proc: field 22 of
// /proc/PID/stat (clock ticks since boot; the fields after the command,
// which may hold spaces and parentheses, are counted from its last ')')
// plus btime of /proc/stat.
func processStart(pid int) (time.Time, bool) {
	const ticksPerSecond = 100 // USER_HZ, what /proc counts in on every Linux
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false
	}
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64) // state is field 3, starttime 22
	if err != nil {
		return time.Time{}, false
	}
	boot, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for l := range strings.Lines(string(boot)) {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(sec, 0).Add(time.Duration(ticks) * time.Second / ticksPerSecond), true
		}
	}
	return time.Time{}, false
}

// Daemon reports whether the holder is a daemon: one that serves an admin
// socket (s3ferry run).
func (h Holder) Daemon() bool { return h.Admin != "" }

// String is "s3ferry sync, process 123, started 2026-12-07 02:40:00 UTC",
// as much of it as the lock file said.
func (h Holder) String() string {
	s := "process " + strconv.Itoa(h.PID)
	if h.Command != "" {
		s = "s3ferry " + h.Command + ", " + s
	}
	if !h.Started.IsZero() {
		s += ", started " + h.Started.Local().Format("2006-01-02 15:04:05 MST")
	}
	return s
}
