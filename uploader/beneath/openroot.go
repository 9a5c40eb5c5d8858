//go:build linux

package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSharedParent means a directory above a root is one another user may
// change (see OpenRoot): whoever can rename its entries can swap the root.
var ErrSharedParent = errors.New("a directory above it may be changed by another user")

// RootOptions say how OpenRoot opens a root.
type RootOptions struct {
	Options
	// Create makes the missing directories of the path, mode 0700.
	Create bool
	// AllowSharedParent accepts directories above the root that another
	// user owns or may write (see OpenRoot).
	AllowSharedParent bool
}

// OpenRoot opens the directory dir (an absolute path) once, from "/",
// one name at a time, following no symbolic link, and returns a Root that
// holds it open: every later operation resolves beneath that fd, so
// nothing done to the path afterwards redirects it. Close the Root when
// done. A link anywhere in dir is an ErrSymlink error; give the real
// path. Without AllowSharedParent, a directory above dir that a user
// other than root and the caller could change is an ErrSharedParent
// error, and nothing is opened below it:
//
//	directory above dir                               verdict
//	owned by root or by the caller, no group/other w  trusted
//	group or other writable, sticky (like /tmp)       trusted
//	group or other writable, not sticky               ErrSharedParent
//	owned by another uid                              ErrSharedParent
//
// With Create, missing directories are made with mode 0700 and the names
// made are returned, parents first.
func OpenRoot(dir string, opts RootOptions) (r Root, created []string, err error) {
	if !filepath.IsAbs(dir) {
		return Root{}, nil, &fs.PathError{Op: "open", Path: dir, Err: errors.New("not an absolute path")}
	}
	dir = filepath.Clean(dir)
	cur, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Root{}, nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer func() {
		if cur >= 0 {
			unix.Close(cur)
		}
	}()
	at, euid := "/", uint32(os.Geteuid())
	for _, name := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if name == "" {
			break // dir is "/"
		}
		if !opts.AllowSharedParent {
			if err := checkParent(cur, euid); err != nil {
				return Root{}, created, &fs.PathError{Op: "open", Path: at, Err: err}
			}
		}
		at = filepath.Join(at, name)
		next, err := openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY, 0, false, opts.NoOpenat2)
		if errors.Is(err, unix.ENOENT) && opts.Create {
			if err := unix.Mkdirat(cur, name, 0o700); err != nil && err != unix.EEXIST {
				return Root{}, created, &fs.PathError{Op: "mkdir", Path: at, Err: err}
			} else if err == nil {
				created = append(created, at)
			}
			next, err = openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY, 0, false, opts.NoOpenat2)
		}
		if err != nil {
			return Root{}, created, &fs.PathError{Op: "open", Path: at, Err: isLink(cur, name, err)}
		}
		unix.Close(cur)
		cur = next
	}
	f := os.NewFile(uintptr(cur), dir)
	cur = -1
	return Root{path: dir, opts: opts.Options, fd: f}, created, nil
}

// checkParent applies OpenRoot's table to the directory dirfd.
func checkParent(dirfd int, euid uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err != nil {
		return err
	}
	if st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("%w: it is owned by uid %d", ErrSharedParent, st.Uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("%w: it is writable by its group or by anyone (mode %04o), without the sticky bit", ErrSharedParent, st.Mode&0o7777)
	}
	return nil
}

// Close releases what OpenRoot holds; a Root from New holds nothing.
func (r Root) Close() error {
	if r.fd == nil {
		return nil
	}
	return r.fd.Close()
}
