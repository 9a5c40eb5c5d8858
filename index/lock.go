package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the file in the index directory that one process holds an
// exclusive flock on while the index is open. It holds that process's
// Holder: its PID on the first line and, for a daemon, the path of its admin
// socket on the second.
const lockName = "s3ferry.lock"

// Holder is the process that holds an index directory, as its lock file
// says.
type Holder struct {
	PID int // 0 when it could not be read
	// Admin is the path of the holder's admin socket; "" when the holder
	// serves none (a one-shot command such as sync).
	Admin string
}

// lockDir takes the lock of dir and writes h (with our PID) into it.
// Closing the returned file releases the lock; so does the kernel when the
// process dies, even by kill -9, so a stale lock file is never a problem.
// flock locks belong to an open file description, so a second lockDir in
// the same process fails too.
func lockDir(dir string, h Holder) (*os.File, error) {
	name := filepath.Join(dir, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock index: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			held := readHolder(name)
			return nil, &LockedError{Dir: dir, PID: held.PID, Admin: held.Admin}
		}
		return nil, fmt.Errorf("lock index %s: %w", name, err)
	}
	h.PID = os.Getpid()
	if err := writeHolder(f, h); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock index %s: %w", name, err)
	}
	return f, nil
}

func writeHolder(f *os.File, h Holder) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(h.PID)+"\n"+h.Admin+"\n"), 0)
	return err
}

// ReadHolder reads what the lock file of the index in dir says of the
// process holding it, without taking the lock (a zero Holder when there is
// no lock file). It does not tell whether the lock is held: a client checks
// that the process answering at Admin is PID (SO_PEERCRED).
func ReadHolder(dir string) Holder { return readHolder(filepath.Join(dir, lockName)) }

// readHolder parses the lock file name; a PID it cannot read is 0 (the
// holder may be between truncating and writing it), and so is a path that
// is not absolute.
func readHolder(name string) Holder {
	b, err := os.ReadFile(name)
	if err != nil {
		return Holder{}
	}
	first, rest, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid < 0 {
		return Holder{}
	}
	h := Holder{PID: pid}
	if admin, _, _ := strings.Cut(rest, "\n"); filepath.IsAbs(admin) {
		h.Admin = admin
	}
	return h
}
