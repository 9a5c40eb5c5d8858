package index

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultMappedLimit is how much the index's tables may add to the
// process's resident memory before their pages are handed back.
const DefaultMappedLimit = 16 << 20

// releaseInterval is how often the releaser reads the process's resident
// file-backed memory (one read of /proc/self/status, about 20 µs: 0.04% of
// a core) while the index is in use (upkeep.go: asleep while it is not). A
// compaction writes tens of MiB a second; writing 1M records, the
// file-backed peak was 64 MiB checking every 250 ms, 44 every 50 ms.
const releaseInterval = 50 * time.Millisecond

// Badger reads and writes its tables through shared memory maps, so every
// page of a table this process wrote or read stays in its resident set
// (RssFile) until the kernel wants the memory back: after a first sync of
// 1M files the whole index, 150 MiB, and at 10M files 1.3 GiB, in top's
// RES of a process whose own memory is under 100 MiB. The pages are clean
// page cache once Badger has synced the table, and the kernel would drop
// them under pressure; the releaser does it sooner, so that what the
// operator sees is what the agent holds.
//
// Once RssFile is more than Options.MappedLimit above what it was at Open
// or right after the last release, the releaser finds the index's tables
// and logs in /proc/self/maps and asks the kernel to reclaim their pages
// (madvise MADV_PAGEOUT, Linux 5.4): dirty pages are written first,
// nothing is lost, and a page read again comes from the disk. A mapping may go away between reading
// the map and the call (a compaction deleted its table); the call then
// fails, or reaches memory that replaced it, for which reclaiming is only
// ever a cost, never a change of content (anonymous pages are swapped out,
// or left where there is no swap). MADV_DONTNEED would be faster and is
// not safe here: on memory that replaced a table it would zero it.
type releaser struct {
	dir      string // the index directory, as /proc/self/maps names it
	limit    int64
	floor    int64 // RssFile at open
	baseline int64 // floor, or less than it right after a release
	logf     func(string, ...any)
}

// newReleaser returns the releaser of the tables in dir, named as
// mappedDir names it.
func newReleaser(dir string, limit int64, logf func(string, ...any)) (*releaser, error) {
	base, err := residentFile()
	if err != nil {
		return nil, err
	}
	return &releaser{dir: dir, limit: limit, floor: base, baseline: base, logf: logf}, nil
}

// mappedDir is dir as /proc/self/maps names the files in it.
func mappedDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// dropOpenedTables takes out of the process's resident set the pages
// Badger's Open read of every table: it checks each table's whole index
// (block offsets and Bloom filter) against its checksum, so all of every
// index stays resident, 20 MiB of the 55 a no-op sync held at 10M
// records, and then under the floor the releaser counts from.
// MADV_DONTNEED unmaps the pages from this process only: the page cache
// keeps them, a lookup that needs one again takes a minor fault, and the
// dirty pages of a table being written are the file's (a shared mapping).
// It is not safe where a table can be unmapped meanwhile (see releaser):
// the upkeep calls it before it may start Badger's compactors, which Open
// stopped, the only thing that unmaps a table before Close, which waits
// for the upkeep. A memtable's log (*.mem) can go at any time and is left.
// dir is named as mappedDir names it.
func dropOpenedTables(dir string) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	tables := slices.DeleteFunc(tableMappings(maps, dir), func(m mapping) bool { return m.log })
	advise(tables, unix.MADV_DONTNEED)
}

// advise gives advice to every mapping of ms: all in one
// process_madvise(2) on a kernel that takes PIDFD_SELF and the advice there
// (6.18 here), else a madvise each. Each madvise costs a TLB shootdown:
// together 25 ms of CPU for the 240 tables of 10M records on the 2-core VM
// of make bench, at every release. It returns the first error of a
// madvise but ENOMEM (the mapping went since /proc/self/maps was read).
func advise(ms []mapping, advice int) error {
	iovs := make([]iovec, len(ms))
	for i, m := range ms {
		iovs[i] = iovec{m.start, m.end - m.start}
	}
	for len(iovs) > 0 {
		batch := iovs[:min(len(iovs), maxIovecs)]
		iovs = iovs[len(batch):]
		if !adviseEach.Load() {
			_, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, selfPidfd, uintptr(unsafe.Pointer(&batch[0])), uintptr(len(batch)), uintptr(advice), 0, 0)
			switch errno {
			case 0:
				continue
			case unix.ENOSYS, unix.EBADF, unix.EINVAL, unix.EPERM:
				adviseEach.Store(true) // not for this process, or not this advice
			}
			// ENOMEM: a mapping went meanwhile; the others, each alone.
		}
		for _, v := range batch {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, v.base, v.len, uintptr(advice)); errno != 0 && errno != unix.ENOMEM {
				return errno
			}
		}
	}
	return nil
}

// adviseEach is set once the kernel refused process_madvise: from then
// on advise gives its advice a mapping at a time.
var adviseEach atomic.Bool

// iovec is the kernel's struct iovec, its base an address of a mapping
// the garbage collector does not manage.
type iovec struct{ base, len uintptr }

// maxIovecs is how many ranges one process_madvise takes (IOV_MAX).
const maxIovecs = 1024

// selfPidfd is PIDFD_SELF_PROCESS, as a system call's argument.
var selfPidfd = func() uintptr { fd := unix.PIDFD_SELF_PROCESS; return uintptr(fd) }()

// check releases the table pages once they are over the limit, and
// returns the releaser to check next time: nil once it cannot release
// (a kernel without MADV_PAGEOUT), as for a nil r.
func (r *releaser) check() *releaser {
	if r == nil {
		return nil
	}
	rss, err := residentFile()
	if err != nil || rss-r.baseline <= r.limit {
		return r
	}
	if err := r.release(); err != nil {
		r.logf("index: stop releasing table pages: %v", err)
		return nil
	}
	// What is left under the floor is not the index's to give back (the
	// binary, other files): count from there, or a lower level would
	// leave up to that much unreleased. What is left above it is pages
	// in use or not yet written back (a compaction's new tables): the
	// next check releases them again: counting from there instead let
	// them ratchet the baseline up a limit at a time. Should the rest of
	// the process's files grow by the limit, every check releases.
	if rss, err := residentFile(); err == nil {
		r.baseline = min(rss, r.floor)
	}
	return r
}

// release asks the kernel to reclaim the pages of every table of the
// index mapped in this process. It fails only when the kernel does not
// know MADV_PAGEOUT, which will not change.
func (r *releaser) release() error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil // /proc not mounted: nothing to do, try again later
	}
	if err := advise(tableMappings(maps, r.dir), unix.MADV_PAGEOUT); errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("madvise(MADV_PAGEOUT) needs Linux 5.4: %w", err)
	}
	return nil
}

type mapping struct {
	start, end uintptr
	log        bool // a memtable's log, not a table
}

// tableMappings returns the mappings of /proc/self/maps whose file is a
// table (*.sst) or a memtable's write-ahead log (*.mem: appended to, never
// read back but at open, each up to 2 × MemTableSize) directly in dir. A line is
// "start-end perms offset dev inode path", the path taking the rest of
// the line, " (deleted)" appended once its file was removed.
func tableMappings(maps []byte, dir string) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		path := strings.Join(f[5:], " ")
		ext := filepath.Ext(path)
		if ext != ".sst" && ext != ".mem" || filepath.Dir(path) != dir {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end), ext == ".mem"})
	}
	return out
}

// residentFile reads the process's resident file-backed memory (RssFile
// of /proc/self/status), in bytes.
func residentFile() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read RssFile: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("read RssFile: not in /proc/self/status")
}
