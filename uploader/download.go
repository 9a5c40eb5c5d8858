package uploader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// ErrCorrupt means downloaded bytes do not match what the object says they
// are (its s3ferry xxhash, its MD5 ETag or its length). Nothing is written.
var ErrCorrupt = errors.New("downloaded content does not match the object's checksum")

// DownloadJob is one object version to write to a local file.
type DownloadJob struct {
	Key       string
	VersionID string // empty: the current version
	// Root and Rel name the local file to write: Rel (slash-separated)
	// beneath Root. Nothing is written through a symbolic link: a link on
	// the way, or at Rel, is an error matching beneath.ErrSymlink.
	Root beneath.Root
	Rel  string
	// Overwrite replaces an existing file at Rel; without it Download
	// fails with an error matching fs.ErrExist and changes nothing.
	Overwrite bool
	// KeepSpecialBits gives the file the mode its object records as it
	// is; without it, what Sanitize removes is removed (the bucket's
	// metadata is not trusted).
	KeepSpecialBits bool
	// DefaultMode is the mode of a file whose object records none; 0:
	// 0666 less the umask, as cp makes it.
	DefaultMode fs.FileMode
	// WantHash, when HasWantHash, is the xxhash64 the content must have
	// (the index's): a mismatch is ErrCorrupt.
	WantHash    uint64
	HasWantHash bool
	// Size and ETag are the version's as listed (0 and "": unknown): a
	// version larger than Config.PartSize is fetched in ranged parts,
	// each pinned to VersionID and If-Match ETag (see Fetch).
	Size int64
	ETag string
	// Config splits a large version into ranged parts; zero: defaults.
	Config DownloadConfig
	// Written, when set, is told the bytes written into the temporary
	// file as they land (see FetchJob.Written).
	Written func(n int64)
	// Placer, when set, places the finished file in a batch with others
	// instead of syncing it alone (see Placer): Download returns once the
	// file is fetched, verified and handed over, and Placed is told how
	// placing it ended (nil: it is in place and durable; an error
	// matching fs.ErrExist: Rel appeared meanwhile, left alone). Without
	// Placer, Download returns once the file is in place.
	Placer *Placer
	Placed func(DownloadResult, error)
}

// fetch is the FetchJob of j.
func (j DownloadJob) fetch() FetchJob {
	return FetchJob{
		Key: j.Key, VersionID: j.VersionID, Size: j.Size, ETag: j.ETag,
		WantHash: j.WantHash, HasWantHash: j.HasWantHash, Config: j.Config, Written: j.Written,
	}
}

// DownloadResult is what Download wrote.
type DownloadResult struct {
	Size    int64
	Hash    uint64    // xxhash64 of the content
	Mtime   time.Time // set on the file: MetaMtime, else the object's Last-Modified
	Checked []string  // what the content was verified against: "xxhash64", "CRC32C", "MD5"...
	Parts   bool      // fetched in ranged parts (see Fetch)
	Perm    Perm      // the object's mode and owner metadata (what of it was applied: see Download)
	Created []string  // directories Download created on the way to Rel, parents first
	// Sanitized is set when the file's recorded mode lost setuid, setgid
	// or write for others (see Sanitize).
	Sanitized bool
	// BadMtime is the object's MetaMtime when it was ignored: outside what
	// a timespec holds in nanoseconds (before 1678, after 2262). Mtime is
	// then the object's Last-Modified.
	BadMtime string
}

// Download writes an object version to job.Rel beneath job.Root, fetched
// and verified by Fetch (a large version in ranged parts in parallel;
// s3ferry's xxhash64, the full-object S3 checksum, or else a plain-MD5
// ETag, and the length). It is written to a temporary file beside Rel
// created 0600 (no other user reads it while it is written), given the
// owner the object recorded (MetaUID, MetaGID: only when run as root),
// then the mode (MetaMode less what Sanitize removes, unless
// KeepSpecialBits; without it DefaultMode) and the mtime (MetaMtime),
// synced (alone, or with a Placer's batch), and only then renamed in the
// same directory fd, and the directory synced, so Rel never holds a
// partial, unverified, wider-open or not yet durable file: a crash at any
// moment leaves at most the temporary file. Missing directories are
// created 0700; giving them their mode is the caller's (once it has
// written every file into them).
func Download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	res, err := download(ctx, b, job)
	if err != nil {
		// res.Created stays: the caller gives those directories their mode.
		return DownloadResult{Created: res.Created}, fmt.Errorf("download %s: %w", job.Key, err)
	}
	return res, nil
}

func download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	res, s, err := stage(ctx, b, job)
	if err != nil {
		return res, err
	}
	if job.Placer != nil {
		s.res, s.placed = res, job.Placed
		return res, job.Placer.add(ctx, s)
	}
	defer s.discard()
	if err := s.place(); err != nil {
		return res, err
	}
	return res, s.dir.Sync()
}

// stage fetches job into a temporary file beside Rel and gives it its
// owner, mode and mtime: everything but placing it. Without a Placer the
// file is synced here; with one, the Placer syncs it with its batch.
func stage(ctx context.Context, b Bucket, job DownloadJob) (res DownloadResult, _ *staged, err error) {
	name := path.Base(job.Rel)
	if !job.Overwrite {
		if _, err := job.Root.Stat(job.Rel); err == nil {
			return DownloadResult{}, nil, fmt.Errorf("%s: %w", job.Root.Join(job.Rel), fs.ErrExist)
		} else if errors.Is(err, beneath.ErrSymlink) {
			return DownloadResult{}, nil, err
		}
	}
	// The directories and the temporary file are made when the first
	// byte arrives (a key gone since the listing leaves nothing behind),
	// or once an empty object is fetched whole.
	lf := &lazyFile{root: job.Root, dir: path.Dir(job.Rel)}
	defer func() {
		if err != nil {
			lf.discard()
		}
	}()
	fetched, err := Fetch(ctx, b, job.fetch(), lf)
	if err == nil {
		_, err = lf.file() // an empty object: nothing was written
	} else if lf.failed() != nil {
		err = lf.failed() // what failed is making the file, not the fetch
	}
	if err != nil {
		return DownloadResult{Created: lf.created}, nil, err
	}
	f, dir, tmp, created := lf.f, lf.d, lf.tmp, lf.created
	st := &staged{dir: dir, tmp: tmp, name: name, overwrite: job.Overwrite}
	defer func() {
		if err != nil && st.hold != nil {
			st.hold.Close()
		}
	}()
	defer f.Close() // a second close after the one below: ignored
	obj := fetched.Object
	res = DownloadResult{
		Size: fetched.Size, Hash: fetched.Hash, Checked: fetched.Checked, Parts: fetched.Parts,
		Perm: ParseMetaPerm(obj.Metadata), Created: created,
	}
	mode := job.DefaultMode
	if mode == 0 {
		mode = 0o666 &^ Umask()
	}
	if res.Perm.HasMode {
		mode = res.Perm.Mode
		if !job.KeepSpecialBits {
			mode, res.Sanitized = Sanitize(mode, false)
		}
	}
	if err := applyPerm(f, res.Perm, mode); err != nil {
		return res, nil, err
	}
	if job.Placer == nil {
		if err := f.Sync(); err != nil {
			return res, nil, err
		}
	}
	// CreateTemp's lock on the file outlives f, until the file is placed
	// or discarded: another restore's RemoveLeftovers leaves it alone.
	if st.hold, err = dupFile(f); err != nil {
		return res, nil, err
	}
	if err := f.Close(); err != nil {
		return res, nil, err
	}
	res.Mtime = obj.LastModified
	if t, err := time.Parse(time.RFC3339Nano, obj.Metadata[MetaMtime]); err == nil {
		if inNanoRange(t) {
			res.Mtime = t
		} else {
			res.BadMtime = obj.Metadata[MetaMtime]
		}
	}
	if !res.Mtime.IsZero() {
		if err := dir.Chtimes(tmp, res.Mtime); err != nil {
			return res, nil, err
		}
	}
	return res, st, nil
}

// Temporary files of a download are named tempPrefix, tempRandom hex
// digits, tempSuffix (see RemoveLeftovers).
const (
	tempPrefix = ".s3ferry-"
	tempRandom = 16
	tempSuffix = ".tmp"
)

// IsTempName says whether name is exactly the name of a download's
// temporary file: never a file to back up.
func IsTempName(name string) bool {
	hex, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return false
	}
	if hex, ok = strings.CutSuffix(hex, tempSuffix); !ok || len(hex) != tempRandom {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}

// RemoveLeftovers removes, in the directory rel beneath root and below
// it, the temporary files of downloads that never ended (a process killed
// in the middle: kill -9, a power cut), and returns how many it removed.
// Only regular files whose name is exactly a download's temporary one
// are removed, each by its name in its directory's fd; directories are
// entered beneath root and never through a link (Root.WalkDirs), so a
// writer into the tree cannot make it remove anything elsewhere. The
// temporary file of a download still running, in this process or another
// (a second restore into the same directory), is left: its download holds
// a lock on it until it is placed or discarded (Dir.CreateTemp). A
// missing rel holds nothing.
func RemoveLeftovers(ctx context.Context, root beneath.Root, rel string) (int, error) {
	n := 0
	err := root.WalkDirs(ctx, rel, func(d *beneath.Dir, entries []fs.DirEntry) error {
		m, err := removeLeftoversIn(d, entries)
		n += m
		return err
	})
	if errors.Is(err, fs.ErrNotExist) && n == 0 {
		err = nil
	}
	return n, err
}

// RemoveLeftoversBeside is RemoveLeftovers in the directory of the file
// rel alone, not below it: where a download of rel (verify --repair's, in
// a source tree) left its temporary file.
func RemoveLeftoversBeside(root beneath.Root, rel string) (int, error) {
	d, err := root.OpenDir(path.Dir(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer d.Close()
	entries, err := d.ReadDir()
	if err != nil {
		return 0, err
	}
	return removeLeftoversIn(d, entries)
}

// removeLeftoversIn removes the stale temporary files among the entries
// of d.
func removeLeftoversIn(d *beneath.Dir, entries []fs.DirEntry) (int, error) {
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTempName(e.Name()) {
			continue
		}
		removed, err := d.RemoveStale(e.Name())
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// lazyFile is the temporary file of a download, beside its Rel, made with
// the directories missing on the way at the first write, so that a GET
// that fails before its first byte leaves nothing behind. Its writes come
// from several goroutines (a ranged fetch).
type lazyFile struct {
	root beneath.Root
	dir  string // the directory of Rel

	mu      sync.Mutex
	ready   atomic.Pointer[os.File] // set once made
	f       *os.File
	d       *beneath.Dir
	tmp     string
	created []string // directories made, parents first
	err     error    // making it failed
}

// file makes the directories and the file, once.
func (l *lazyFile) file() (*os.File, error) {
	if f := l.ready.Load(); f != nil {
		return f, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil || l.err != nil {
		return l.f, l.err
	}
	d, created, err := l.root.MkdirAll(l.dir)
	l.created = created
	if err != nil {
		l.err = err
		return nil, err
	}
	f, tmp, err := d.CreateTemp(tempPrefix, randomSuffix)
	if err != nil {
		d.Close()
		l.err = err
		return nil, err
	}
	l.f, l.d, l.tmp = f, d, tmp
	l.ready.Store(f)
	return f, nil
}

// failed is why making the file failed; nil: it did not.
func (l *lazyFile) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *lazyFile) Write(p []byte) (int, error) {
	f, err := l.file()
	if err != nil {
		return 0, err
	}
	return f.Write(p)
}

func (l *lazyFile) WriteAt(p []byte, off int64) (int, error) {
	f, err := l.file()
	if err != nil {
		return 0, err
	}
	return f.WriteAt(p, off)
}

// ReadAt reads what was written; before the first write there is nothing.
func (l *lazyFile) ReadAt(p []byte, off int64) (int, error) {
	f := l.ready.Load()
	if f == nil {
		return 0, io.EOF
	}
	return f.ReadAt(p, off)
}

// Fd is the file's descriptor (startWriteback), which only a write made:
// before it, one no call accepts.
func (l *lazyFile) Fd() uintptr {
	f := l.ready.Load()
	if f == nil {
		return ^uintptr(0)
	}
	return f.Fd()
}

// discard closes and removes the file, if it was made, and closes its
// directory; the directories made stay (the caller gives them their mode).
func (l *lazyFile) discard() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	l.f.Close()
	l.d.Remove(l.tmp)
	l.d.Close()
}

// staged is a finished file in its temporary name, tmp, in dir, to be
// placed at name.
type staged struct {
	dir       *beneath.Dir
	hold      *os.File // holds the temporary file's lock (Dir.CreateTemp) until discard
	tmp, name string
	overwrite bool
	res       DownloadResult
	placed    func(DownloadResult, error) // with a Placer: told how placing ended
}

// place moves the finished file to its name (see place).
func (s *staged) place() error { return place(s.dir, s.tmp, s.name, s.overwrite) }

// discard removes the temporary file, if it is still there (after a
// rename or link there is nothing left to remove), and closes dir.
func (s *staged) discard() {
	s.dir.Remove(s.tmp)
	if s.hold != nil {
		s.hold.Close()
	}
	s.dir.Close()
}

// dupFile is a second fd of f's open file, and so of its flock, which
// stays held until both are closed.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// applyPerm gives the file f the owner p records when run as root
// (first: chown clears setuid and setgid), then mode.
func applyPerm(f *os.File, p Perm, mode fs.FileMode) error {
	if p.HasOwner && os.Geteuid() == 0 {
		if err := f.Chown(int(p.UID), int(p.GID)); err != nil {
			return err
		}
	}
	return f.Chmod(mode)
}

// inNanoRange says whether t is within what int64 nanoseconds since 1970
// hold (1677-09-21 to 2262-04-11), which is how a timespec is set here:
// outside it, UnixNano wraps (2263 becomes 1678).
func inNanoRange(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

// Umask is the process's file mode creation mask, read from
// /proc/self/status (setting and restoring it would race other threads'
// creates); 0022 where the kernel does not say.
func Umask() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o022
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(m) & fs.ModePerm
			}
		}
	}
	return 0o022
}

// place moves the finished file tmp to name, both in dir. Without
// overwrite it links instead of renaming, which fails if name exists, even
// if it appeared during the download; on a file system without hard links
// it checks first, which leaves a moment for a race.
func place(dir *beneath.Dir, tmp, name string, overwrite bool) error {
	if overwrite {
		return dir.Rename(tmp, name)
	}
	err := dir.Link(tmp, name)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := dir.Lstat(name); serr == nil {
		return fmt.Errorf("%s: %w", dir.Join(name), fs.ErrExist)
	}
	return dir.Rename(tmp, name)
}

func randomSuffix() string {
	b := make([]byte, tempRandom/2)
	rand.Read(b) // never returns an error
	return hex.EncodeToString(b)
}
