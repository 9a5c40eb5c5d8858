package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// MoveAside moves the index in dir out of the way, to be rebuilt: to
// dir.damaged-<time>, or, where dir cannot be renamed (the service's
// /var/lib/s3ferry lies in a directory its user may not write, or is a
// mount point), its content into dir/damaged-<time>. It takes the index's
// lock for the move: an index in use gives a *LockedError. It returns
// where the index went; a dir that does not exist is not an error ("").
func MoveAside(dir string, now time.Time) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	lock, err := lockDir(dir, Holder{Command: "index rebuild"})
	if err != nil {
		return "", err
	}
	defer func() { _ = unlockDir(lock) }()
	stamp := now.UTC().Format("20060102T150405Z")
	aside := dir + ".damaged-" + stamp
	err = os.Rename(filepath.Clean(dir), aside)
	if err == nil {
		return aside, nil
	}
	if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EBUSY) {
		return "", fmt.Errorf("move index %s aside: %w", dir, err)
	}
	aside = filepath.Join(dir, "damaged-"+stamp)
	if err := os.Mkdir(aside, 0o750); err != nil {
		return "", fmt.Errorf("move index %s aside: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("move index %s aside: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == lockName || strings.HasPrefix(e.Name(), "damaged-") {
			continue // the lock we hold; this and earlier moves
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(aside, e.Name())); err != nil {
			return "", fmt.Errorf("move index %s aside: %w", dir, err)
		}
	}
	return aside, nil
}
