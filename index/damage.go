package index

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"golang.org/x/sys/unix"
)

// ErrDamaged matches a *DamagedError: the index cannot be trusted and must
// be rebuilt from the bucket.
var ErrDamaged = errors.New("index is damaged")

// DamagedError says which index directory is damaged, how, and what to do.
type DamagedError struct {
	Dir   string
	Cause string // what was found wrong, one line
	// Rebuild is the command line that rebuilds this index, as the user
	// would type it; "" when the caller does not know their command line.
	Rebuild string
}

func (e *DamagedError) Error() string {
	if e.Rebuild != "" {
		return fmt.Sprintf("index %s is damaged (%s): rebuild it from the bucket with '%s' (it moves the directory aside and uploads nothing)",
			e.Dir, e.Cause, e.Rebuild)
	}
	return fmt.Sprintf("index %s is damaged (%s): rebuild it from the bucket with 's3ferry index rebuild' and this command's --config or SRC DEST and --index-dir (it moves the directory aside and uploads nothing)",
		e.Dir, e.Cause)
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// ErrDiskFull matches a *DiskFullError.
var ErrDiskFull = errors.New("index disk full")

// DiskFullError says that the file system under the index has too little
// space left for Badger to write safely. Badger writes its memtables and
// tables through memory maps of sparse files: on a full disk a write
// through such a map is not an error but a SIGBUS that kills the process.
// So the index refuses to write (and to open) below a margin of free
// space, and says so.
type DiskFullError struct {
	Dir       string
	Free, Min uint64 // bytes
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("index disk full: free space on %s (%d MiB free, the index needs %d MiB) or move --index-dir", e.Dir, e.Free>>20, e.Min>>20)
}

func (e *DiskFullError) Unwrap() error { return ErrDiskFull }

// DefaultMinFree is the free space the index keeps in reserve when
// Options.MinFree is zero: two memtables being flushed (16 MiB) and a
// compaction's output (13 tables of 1 MiB), with room to spare.
const DefaultMinFree = 64 << 20

// diskCheckInterval is how often a writer asks the file system for its
// free space: statfs costs a microsecond or two, and a writer fills far
// less than the margin in this time.
const diskCheckInterval = 200 * time.Millisecond

// diskGuard refuses writes while the index's file system has less than
// min bytes free.
type diskGuard struct {
	dir    string
	min    uint64
	lastNs atomic.Int64 // when free space was last found sufficient
}

// check returns a *DiskFullError when the file system is short of space;
// it asks at most once per diskCheckInterval while there is enough.
func (g *diskGuard) check() error {
	now := time.Now().UnixNano()
	if now-g.lastNs.Load() < int64(diskCheckInterval) {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		return nil // a file system that will not say: Badger's own errors will
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < g.min {
		return &DiskFullError{Dir: g.dir, Free: free, Min: g.min}
	}
	g.lastNs.Store(now)
	return nil
}

// guard runs fn, a call into Badger, so that its failures end as errors:
// a panic (Badger panics on some corruption it finds while reading) and
// a fault on a memory-mapped table (SIGBUS on a file truncated or on a
// failing disk, which SetPanicOnFault turns into a panic of this
// goroutine) become a *DamagedError. Badger's own goroutines (compaction)
// cannot be guarded: checksums verified when a table is opened
// (badgerOptions) keep damage from reaching them.
func guard(dir string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Dir: dir, Cause: oneLine(fmt.Sprint(r))}
		}
	}()
	return fn()
}

// openError classifies an error of badger.Open: what is not about
// permissions or space means the files are not a database Badger can read.
func openError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, ErrDamaged), errors.Is(err, ErrDiskFull):
		return err
	case errors.Is(err, syscall.ENOSPC):
		return &DiskFullError{Dir: dir}
	}
	return &DamagedError{Dir: dir, Cause: oneLine(err.Error())}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// markerName is a file s3ferry keeps beside Badger's: it exists once the
// index has held a record. Badger opens a directory whose MANIFEST lost
// its entries as an empty database (and deletes the tables it no longer
// knows), which would make every file look new; an index that held
// records and opens empty is damaged, not new.
const markerName = "s3ferry.nonempty"

const manifestName = "MANIFEST"

// checkFiles looks at the directory before Badger opens it, so that
// damage Badger would paper over is reported with the tables still there.
func checkFiles(dir string, opt badger.Options, all bool) error {
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		return nil
	}
	info, err := os.Stat(filepath.Join(dir, manifestName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &DamagedError{Dir: dir, Cause: fmt.Sprintf("%d tables and no %s", len(tables), manifestName)}
	case err != nil:
		return fmt.Errorf("open index %s: %w", dir, err)
	case info.Size() <= manifestHeaderSize:
		return &DamagedError{Dir: dir, Cause: fmt.Sprintf("%d tables and a %s that lists none", len(tables), manifestName)}
	}
	return verifyTables(dir, opt, all)
}

// verifyTables reads every table the MANIFEST lists and verifies its
// checksums, in this goroutine, before Badger opens them. Badger does the
// same in goroutines of its own, where a damaged table either panics (out
// of our reach: the process dies) or is dropped with a log line, its
// records lost, which would make their files look new. Tables the
// MANIFEST does not list (one cut short by a crash while it was written)
// are Badger's to delete.
//
// A table is never written again once Badger has synced it and listed it
// in the MANIFEST, so each is read whole once: verifiedName keeps the
// identity (size, inode, mtime and ctime) of every table verified, and a
// table whose identity is unchanged is not read again unless all is set.
// Anything that writes to a table changes its ctime, which no program can
// set back; damage that does not pass through the file system (the disk's
// own) is found when the damaged block is read (OnBlockRead). At 10M
// records the tables are 1.3 GB: reading them at every open would cost a
// one-shot run seconds and evict the page cache of the files it uploads.
func verifyTables(dir string, opt badger.Options, all bool) error {
	fp, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		return fmt.Errorf("open index %s: %w", dir, err)
	}
	defer fp.Close()
	var m badger.Manifest
	err = guard(dir, func() error {
		var err error
		m, _, err = badger.ReplayManifestFile(fp, opt.ExternalMagicVersion, opt)
		return err
	})
	if err != nil {
		return openError(dir, fmt.Errorf("%s: %w", manifestName, err))
	}
	known := map[uint64]tableStamp{}
	if !all {
		known = readVerified(dir)
	}
	verified := make(map[uint64]tableStamp, len(m.Tables))
	for id := range m.Tables {
		name := table.NewFilename(id, dir)
		stamp, err := stampOf(name)
		if err != nil {
			return openError(dir, fmt.Errorf("%s: %w", filepath.Base(name), err))
		}
		if old, ok := known[id]; !ok || old != stamp {
			err = guard(dir, func() error { return verifyTable(name) })
		}
		var damaged *DamagedError
		if errors.As(err, &damaged) {
			return &DamagedError{Dir: dir, Cause: filepath.Base(name) + ": " + damaged.Cause}
		} else if err != nil {
			return openError(dir, fmt.Errorf("%s: %w", filepath.Base(name), err))
		}
		verified[id] = stamp
	}
	if !maps.Equal(known, verified) {
		writeVerified(dir, verified)
	}
	return nil
}

// verifiedName is the file in which verifyTables keeps what it verified:
// a line "id size inode mtime-ns ctime-ns" per table.
const verifiedName = "s3ferry.verified"

// tableStamp is what identifies the content of a table file that has not
// been written since: any write changes its ctime.
type tableStamp struct {
	size           int64
	ino            uint64
	mtimeNs, ctime int64
}

func stampOf(name string) (tableStamp, error) {
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); err != nil {
		return tableStamp{}, err
	}
	return tableStamp{size: st.Size, ino: st.Ino, mtimeNs: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// readVerified reads verifiedName; a missing or unreadable file is an
// empty one: every table is verified again, and the file rewritten.
func readVerified(dir string) map[uint64]tableStamp {
	out := map[uint64]tableStamp{}
	data, err := os.ReadFile(filepath.Join(dir, verifiedName))
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		var id uint64
		var s tableStamp
		if n, _ := fmt.Sscanf(line, "%d %d %d %d %d", &id, &s.size, &s.ino, &s.mtimeNs, &s.ctime); n == 5 {
			out[id] = s
		}
	}
	return out
}

// writeVerified replaces verifiedName. It is a cache: when it cannot be
// written, the next open verifies those tables again.
func writeVerified(dir string, verified map[uint64]tableStamp) {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(verified)) {
		s := verified[id]
		fmt.Fprintf(&b, "%d %d %d %d %d\n", id, s.size, s.ino, s.mtimeNs, s.ctime)
	}
	tmp := filepath.Join(dir, verifiedName+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, verifiedName)); err != nil {
		os.Remove(tmp)
	}
}

func verifyTable(name string) error {
	mf, err := z.OpenMmapFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	t, err := table.OpenTable(mf, table.Options{ChkMode: options.OnTableRead})
	if err != nil {
		mf.Close(-1)
		return err
	}
	return t.MmapFile.Close(-1)
}

// manifestHeaderSize is the size of a MANIFEST that holds only Badger's
// header (magic text and versions), no change.
const manifestHeaderSize = 8

func hasMarker(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, markerName))
	return err == nil
}

func writeMarker(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte("this index has held records; if it opens empty, it is damaged\n"), 0o640); err != nil {
		return fmt.Errorf("index %s: write %s: %w", dir, markerName, err)
	}
	return nil
}
