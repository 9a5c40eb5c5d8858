package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/s3ferry/s3ferry/index"
)

// openIndexWith opens the index in dir for a command, with the index's
// options (the command's name, a daemon's admin socket). Root is refused
// an index directory that belongs to another user (the service's s3ferry
// user): the files Badger would create as root would lock the service out
// of its own index.
func openIndexWith(dir string, opts index.Options) (*index.DB, error) {
	if err := checkIndexOwner(dir, os.Geteuid()); err != nil {
		return nil, err
	}
	idx, err := index.Open(dir, opts)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%w: run as a user who may write there, or choose another --index-dir", err)
	}
	return idx, err
}

// openExistingIndex is openIndexWith for a command that only reads the
// index (status, manifest), named command: it never creates one
// (requireIndex).
func openExistingIndex(dir, command string, log *slog.Logger) (*index.DB, error) {
	if err := requireIndex(dir); err != nil {
		return nil, err
	}
	return openIndexWith(dir, index.Options{Logger: log, Command: command})
}

// requireIndex fails, creating nothing, unless dir holds an index (Badger's
// MANIFEST). Every command that only reads the index calls it before
// opening one: index.Open would create the directory and its files, so a
// mistyped --index-dir, or status run as root with nothing configured,
// would leave an empty index behind (one the packaged service, running as
// another user, could then not open). sync and run create the index.
func requireIndex(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no index at %s: run s3ferry sync (or run) first, or pass --index-dir", dir)
	}
	return nil
}

func checkIndexOwner(dir string, euid int) error {
	if euid != 0 {
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil // Open creates it, owned by us
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Errorf("index %s belongs to user %s: run s3ferry as that user (sudo -u %s s3ferry ...) so the service can still open its index", dir, name, name)
}
