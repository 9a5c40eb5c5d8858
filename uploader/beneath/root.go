//go:build linux

package beneath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSymlink means a symbolic link (or a name that leads out of the root:
// "..", an absolute path) was met on the way to a file: nothing was opened, read or written
// through it.
var ErrSymlink = errors.New("a symbolic link is on the way")

// Options say how a Root resolves paths.
type Options struct {
	// FollowSymlinks resolves symbolic links met on the way, as open(2)
	// does, wherever they lead: the operator vouches for the tree
	// (--follow-symlinks). Writes never follow links.
	FollowSymlinks bool
	// NoOpenat2 never calls openat2 and always walks component by
	// component, as on kernels before 5.6 or in sandboxes that refuse it.
	// Tests set it so both ways are exercised on every machine.
	NoOpenat2 bool
}

// Root is a directory whose files are opened beneath it. A Root from New
// holds no file descriptor: each operation opens the root by its path
// (which the operator configured, and is trusted) and resolves the rest
// beneath it, so a root that is remounted or replaced is seen as it is
// now. A Root from OpenRoot holds the directory open instead, and every
// operation resolves beneath that fd: what the path names later does not
// matter.
type Root struct {
	path string
	opts Options
	fd   *os.File // nil: open path each time
}

// New returns the Root at dir.
func New(dir string, opts Options) Root { return Root{path: dir, opts: opts} }

// Path is the root's path, as given to New.
func (r Root) Path() string { return r.path }

// Join is the full path of rel, for messages.
func (r Root) Join(rel string) string { return filepath.Join(r.path, filepath.FromSlash(rel)) }

// Open opens the file rel (slash-separated, relative to the root) for
// reading, without blocking on a FIFO that has no writer. An error matches
// ErrSymlink when a link is on the way (and links are not followed),
// fs.ErrNotExist when rel is not there.
func (r Root) Open(rel string) (*os.File, error) {
	return r.open(rel, unix.O_RDONLY|unix.O_NONBLOCK, r.opts.FollowSymlinks)
}

// OpenDir opens the directory rel ("" or "." is the root itself).
func (r Root) OpenDir(rel string) (*Dir, error) {
	f, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY, r.opts.FollowSymlinks)
	if err != nil {
		return nil, err
	}
	return &Dir{f: f, root: r, rel: clean(rel)}, nil
}

// WalkDirs calls fn with each directory below rel, rel first, then its
// subdirectories depth first, by name. Directories are opened beneath the
// root and never through a link, whatever the root's options: a link to
// a directory, or a directory replaced by one meanwhile, is not entered.
// fn gets the directory open and its entries; a directory that cannot be
// opened or listed ends the walk with its error, as does one of fn's
// (one gone meanwhile is skipped). A missing rel is an error matching
// fs.ErrNotExist.
func (r Root) WalkDirs(ctx context.Context, rel string, fn func(d *Dir, entries []fs.DirEntry) error) error {
	r.opts.FollowSymlinks = false
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := r.OpenDir(rel)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir()
	if err == nil {
		err = fn(d, entries)
	}
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if err := r.WalkDirs(ctx, path.Join(clean(rel), e.Name()), fn); err != nil && !errors.Is(err, ErrSymlink) && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Stat returns what lstat (stat, when links are followed) says of rel,
// resolved beneath the root.
func (r Root) Stat(rel string) (fs.FileInfo, error) {
	rel = clean(rel)
	if rel == "." {
		f, err := r.open(".", unix.O_PATH|unix.O_DIRECTORY, true)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Stat()
	}
	d, err := r.OpenDir(path.Dir(rel))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if r.opts.FollowSymlinks {
		return d.Stat(path.Base(rel))
	}
	return d.Lstat(path.Base(rel))
}

// MkdirAll opens the directory rel, creating it and its missing parents
// (mode 0700: whoever writes into them gives them their final mode once
// they hold what they should), and returns it with the directories it
// created, parents first. Existing directories are entered only if they
// are directories, not links to one: a link is an ErrSymlink error.
func (r Root) MkdirAll(rel string) (d *Dir, created []string, err error) {
	w := r
	w.opts.FollowSymlinks = false // writes never follow links
	d, err = w.OpenDir(rel)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return d, nil, err
	}
	d, err = w.OpenDir(".")
	if err != nil {
		return nil, nil, err
	}
	rel = clean(rel)
	cur := "."
	for _, name := range strings.Split(rel, "/") {
		cur = path.Join(cur, name)
		err := unix.Mkdirat(int(d.f.Fd()), name, 0o700)
		switch {
		case err == nil:
			created = append(created, cur)
		case errors.Is(err, unix.EEXIST):
		default:
			d.Close()
			return nil, created, &fs.PathError{Op: "mkdir", Path: r.Join(cur), Err: err}
		}
		next, err := openat(int(d.f.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY, 0, false, true)
		d.Close()
		if err != nil {
			return nil, created, &fs.PathError{Op: "open", Path: r.Join(cur), Err: err}
		}
		d = &Dir{f: os.NewFile(uintptr(next), r.Join(cur)), root: w, rel: cur}
	}
	return d, created, nil
}

// Chmod sets the mode of the directory or file rel, without following a
// link on the way.
func (r Root) Chmod(rel string, mode fs.FileMode) error {
	f, err := r.open(rel, unix.O_RDONLY|unix.O_NONBLOCK, false)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(mode)
}

// open opens rel beneath the root with flags.
func (r Root) open(rel string, flags int, follow bool) (*os.File, error) {
	if path.IsAbs(rel) || !filepath.IsLocal(clean(rel)) {
		return nil, &fs.PathError{Op: "open", Path: r.Join(rel), Err: ErrSymlink}
	}
	rel = clean(rel)
	var root int
	if r.fd != nil {
		root = int(r.fd.Fd())
	} else {
		var err error
		root, err = unix.Open(r.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: r.path, Err: err}
		}
		defer unix.Close(root)
	}
	fd, err := openat(root, rel, flags, 0, follow, r.opts.NoOpenat2)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: r.Join(rel), Err: err}
	}
	return os.NewFile(uintptr(fd), r.Join(rel)), nil
}

// clean makes rel a clean slash path; "" is ".".
func clean(rel string) string { return path.Clean("./" + rel) }

// openat opens rel (clean and local) beneath dirfd. Without follow, a
// symbolic link anywhere on the way is an ErrSymlink error:
//
//	kernel                    how
//	openat2 (5.6 and later)   one call, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS
//	ENOSYS, EPERM (seccomp)   openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) per directory,
//	or noOpenat2              then openat(O_NOFOLLOW) of the last name
func openat(dirfd int, rel string, flags int, mode uint32, follow, noOpenat2 bool) (int, error) {
	flags |= unix.O_CLOEXEC
	if follow {
		return retryEINTR(func() (int, error) { return unix.Openat(dirfd, rel, flags, mode) })
	}
	if !noOpenat2 {
		how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		var fd int
		var err error
		for range 8 { // EAGAIN: a rename raced the lookup
			fd, err = retryEINTR(func() (int, error) { return unix.Openat2(dirfd, rel, &how) })
			if err != unix.EAGAIN {
				break
			}
		}
		if err != unix.ENOSYS && err != unix.EPERM {
			return fd, linkError(err)
		}
	}
	return walk(dirfd, rel, flags, mode)
}

// walk is openat without openat2: one directory at a time, none of them
// (nor the last name) a link.
func walk(dirfd int, rel string, flags int, mode uint32) (int, error) {
	names := strings.Split(rel, "/")
	cur, owned := dirfd, false
	defer func() {
		if owned {
			unix.Close(cur)
		}
	}()
	for _, name := range names[:len(names)-1] {
		if name == "." || name == ".." {
			return -1, ErrSymlink
		}
		next, err := retryEINTR(func() (int, error) {
			return unix.Openat(cur, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		})
		if err != nil {
			return -1, isLink(cur, name, err)
		}
		if owned {
			unix.Close(cur)
		}
		cur, owned = next, true
	}
	last := names[len(names)-1]
	if last == ".." {
		return -1, ErrSymlink
	}
	fd, err := retryEINTR(func() (int, error) { return unix.Openat(cur, last, flags|unix.O_NOFOLLOW, mode) })
	if err != nil {
		return -1, isLink(cur, last, err)
	}
	if flags&unix.O_PATH == 0 {
		// O_NOFOLLOW opens no link without O_PATH; with it, check.
		return fd, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		return -1, ErrSymlink
	}
	return fd, nil
}

// linkError turns what the kernel says of a link on the way (ELOOP), or of
// a path leading out of the root (EXDEV), into ErrSymlink.
func linkError(err error) error {
	if err == unix.ELOOP || err == unix.EXDEV {
		return ErrSymlink
	}
	return err
}

// isLink is linkError, and ErrSymlink for the ENOTDIR that
// openat(O_DIRECTORY|O_NOFOLLOW) gives for a link to a directory.
func isLink(dirfd int, name string, err error) error {
	if err != unix.ENOTDIR {
		return linkError(err)
	}
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return ErrSymlink
	}
	return err
}

func retryEINTR(fn func() (int, error)) (int, error) {
	for {
		fd, err := fn()
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Dir is a directory opened beneath a Root; names given to its methods are
// single names in it. Close it when done.
type Dir struct {
	f    *os.File
	root Root
	rel  string
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Rel is the directory's path relative to the root ("." for the root).
func (d *Dir) Rel() string { return d.rel }

// Join is the full path of name in the directory, for messages.
func (d *Dir) Join(name string) string { return d.root.Join(path.Join(d.rel, name)) }

// ReadDir lists the directory, sorted by name.
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	if _, err := d.f.Seek(0, 0); err != nil {
		return nil, err
	}
	entries, err := d.f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// Lstat returns what lstat says of name, relative to the directory's fd.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	return d.fstatat(name, unix.AT_SYMLINK_NOFOLLOW)
}

// Stat returns what stat says of name: a link is followed, wherever it
// leads (for FollowSymlinks only).
func (d *Dir) Stat(name string) (fs.FileInfo, error) { return d.fstatat(name, 0) }

func (d *Dir) fstatat(name string, flags int) (fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(int(d.f.Fd()), name, &st, flags)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
		}
		return newFileInfo(name, &st), nil
	}
}

// CreateTemp creates a new file named prefix+random()+".tmp" in the
// directory, for writing and reading (a download verifies what it wrote
// at offsets by reading it back), with mode 0600: only its owner reads it
// until the caller gives it its final mode. It holds an exclusive flock on
// the file for as long as the file (or a dup of its fd) is open, so that
// RemoveStale leaves it alone: a temporary file whose lock no process
// holds is one whose writer is gone. A name that another process locked
// or removed between its creation and the lock (a RemoveStale) is given
// up for another.
func (d *Dir) CreateTemp(prefix string, random func() string) (*os.File, string, error) {
	for attempt := 1; ; attempt++ {
		name := prefix + random() + ".tmp"
		if err := checkName(name); err != nil {
			return nil, "", &fs.PathError{Op: "create", Path: d.Join(name), Err: err}
		}
		fd, err := retryEINTR(func() (int, error) {
			return unix.Openat(int(d.f.Fd()), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		})
		if err != nil {
			return nil, "", &fs.PathError{Op: "create", Path: d.Join(name), Err: err}
		}
		f := os.NewFile(uintptr(fd), d.Join(name))
		ours, err := claim(fd)
		if ours {
			return f, name, nil
		}
		f.Close()
		if err == nil && attempt == 3 {
			err = errors.New("another process removes the temporary files made here")
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "lock", Path: d.Join(name), Err: err}
		}
	}
}

// claim takes the exclusive flock of the file just created at fd, and
// says whether it is still linked: false when another process holds the
// lock or has removed the file.
func claim(fd int) (bool, error) {
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return st.Nlink > 0, nil
}

// RemoveStale removes the regular file name from the directory unless a
// process holds a flock on it (CreateTemp's: its writer runs), and says
// whether it did. It opens name without following a link and without
// blocking (a FIFO swapped in), takes the lock itself, and unlinks name
// only while name is still the file it opened. What it cannot open (a
// link, another user's file) it leaves.
func (d *Dir) RemoveStale(name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(int(d.f.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	})
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return false, nil
	case err != nil:
		return false, &fs.PathError{Op: "open", Path: d.Join(name), Err: err}
	}
	defer unix.Close(fd)
	var st, now unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, nil
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil // its writer runs
		}
		return false, &fs.PathError{Op: "lock", Path: d.Join(name), Err: err}
	}
	if err := unix.Fstatat(int(d.f.Fd()), name, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		return false, nil // renamed or replaced since it was opened
	}
	if err := unix.Unlinkat(int(d.f.Fd()), name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return true, nil
}

// Rename renames old to new within the directory, replacing new.
func (d *Dir) Rename(old, new string) error {
	if err := errors.Join(checkName(old), checkName(new)); err != nil {
		return &fs.PathError{Op: "rename", Path: d.Join(new), Err: err}
	}
	fd := int(d.f.Fd())
	if err := unix.Renameat(fd, old, fd, new); err != nil {
		return &fs.PathError{Op: "rename", Path: d.Join(new), Err: err}
	}
	return nil
}

// Link makes new a hard link to old within the directory; it fails with
// an error matching fs.ErrExist when new exists.
func (d *Dir) Link(old, new string) error {
	if err := errors.Join(checkName(old), checkName(new)); err != nil {
		return &fs.PathError{Op: "link", Path: d.Join(new), Err: err}
	}
	fd := int(d.f.Fd())
	if err := unix.Linkat(fd, old, fd, new, 0); err != nil {
		return &fs.PathError{Op: "link", Path: d.Join(new), Err: err}
	}
	return nil
}

// Sync flushes the directory itself (the names in it: a rename or link
// made in it) to stable storage.
func (d *Dir) Sync() error {
	if err := d.f.Sync(); err != nil {
		return &fs.PathError{Op: "sync", Path: d.Join("."), Err: err}
	}
	return nil
}

// SyncFS flushes the whole file system the directory is on to stable
// storage (syncfs(2)): one call makes every file written on it durable.
func (d *Dir) SyncFS() error {
	if err := unix.Syncfs(int(d.f.Fd())); err != nil {
		return &fs.PathError{Op: "syncfs", Path: d.Join("."), Err: err}
	}
	return nil
}

// Device is the ID of the device the directory is on (st_dev): files on
// one device are made durable by one SyncFS.
func (d *Dir) Device() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.f.Fd()), &st); err != nil {
		return 0, &fs.PathError{Op: "stat", Path: d.Join("."), Err: err}
	}
	return st.Dev, nil
}

// Remove removes the file name from the directory.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	if err := unix.Unlinkat(int(d.f.Fd()), name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return nil
}

// RemoveDir removes the empty directory name from the directory; one that
// is not empty stays, with an error matching unix.ENOTEMPTY (or EEXIST).
func (d *Dir) RemoveDir(name string) error {
	if err := checkName(name); err != nil {
		return &fs.PathError{Op: "rmdir", Path: d.Join(name), Err: err}
	}
	if err := unix.Unlinkat(int(d.f.Fd()), name, unix.AT_REMOVEDIR); err != nil {
		return &fs.PathError{Op: "rmdir", Path: d.Join(name), Err: err}
	}
	return nil
}

// Chtimes sets the access and modification times of name, not following
// a link.
func (d *Dir) Chtimes(name string, mtime time.Time) error {
	if err := checkName(name); err != nil {
		return &fs.PathError{Op: "chtimes", Path: d.Join(name), Err: err}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(int(d.f.Fd()), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "chtimes", Path: d.Join(name), Err: err}
	}
	return nil
}

// checkName refuses anything but a single name in a directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("%q is not a name in a directory", name)
	}
	return nil
}

// fileInfo is an fs.FileInfo from fstatat; Sys is a *syscall.Stat_t, as
// os.Lstat's is.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func newFileInfo(name string, st *unix.Stat_t) *fileInfo {
	return &fileInfo{name: name, st: syscall.Stat_t{
		Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atim: syscall.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctim: syscall.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}}
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Sec, fi.st.Mtim.Nsec) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }

// Mode converts the stat mode as os does.
func (fi *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if fi.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
