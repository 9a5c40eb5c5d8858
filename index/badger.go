package index

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Key layout. A NUL byte ends the source (sources never contain one), so
// source "a" never sees the keys of source "ab", and the keys of one source
// sort in path order. Paths are any bytes.
//
//	key                           value
//	'r' source 0x00 path          Record
//	's' source                    SourceState
//	't' source 0x00 path          Retry
//	'u' source                    retry count
//	'v' source 0x00 path          Replica
//	'w' source                    replica count
//	'x' source 0x00 path          Gone (the removed set)
//	'y' source                    removed count
//	'l' source 0x00 path          Lock (the lock set; older binaries never read it)
//	'm' source                    lock count
//	'g' source 0x00 guard         Guard (the guard set; older binaries never read it)
//	'h' source                    guard count
//	'{' source                    counts: records, pending
//	'|'                           the badger.Sequence behind Pending.Seq
//	'}' source 0x00 path          Pending
//	'c' source                    countsMoved, for binaries before the move below
//
// What every upload writes besides its record, the counts, the sequence
// and its pending entry, sorts after every record, so that the table an
// incremental sync's writes make (today's records, and those) spans the
// end of the key space only, and its compaction merges it with the few
// tables there. Until 2026-12-07 those kinds were 'c', 'n' and 'p', before
// the records: every such table spanned all of them, and the compaction
// Badger runs once level 0 holds enough of them rewrote the whole level
// below (181 MiB at 10M records, docs/benchmarks.md). Open moves them
// (moveBookkeeping).
const (
	kindRecord  = 'r'
	kindPending = '}'
	kindState   = 's'
	kindCounts  = '{'

	kindRetry      = 't'
	kindRetryCount = 'u'

	kindReplica      = 'v'
	kindReplicaCount = 'w'

	kindRemoved      = 'x'
	kindRemovedCount = 'y'

	kindLock      = 'l'
	kindLockCount = 'm'

	kindGuard      = 'g'
	kindGuardCount = 'h'
)

const seqKey = "|"

// Where binaries before 2026-12-07 kept the counts, the sequence and the
// pending entries.
const (
	oldKindCounts  = 'c'
	oldKindPending = 'p'
	oldSeqKey      = "n"
)

// countsMoved is the value Open leaves at every source's old counts key
// ('c' source): binaries before the move decode it as counts of an
// unknown format version, and fail there, where without it they would
// take the counts for zero and not see the pending entries, a queued
// file among them left behind.
var countsMoved = []byte{formatVersion + 1}

// seqBandwidth is how many sequence numbers are leased per write of the
// sequence key. Numbers leased but not handed out before a crash are
// skipped, which keeps Seq unique and increasing across restarts.
const seqBandwidth = 1000

// Options tunes Open. The zero value is the default.
type Options struct {
	// SyncWrites fsyncs the write-ahead log in every transaction. Without
	// it a write survives the process being killed (kill -9, OOM, panic):
	// it is in the page cache, which the kernel writes out. A power loss or
	// kernel crash can lose the last seconds of writes, which costs nothing
	// but work: a lost record makes the next walk upload the file again (a
	// new version of an identical object), a lost pending entry is found
	// again by the walk. With it, every write waits for the disk.
	SyncWrites bool

	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger

	// MinFree is the free space (bytes) below which the index refuses to
	// open or write, with a *DiskFullError; 0: DefaultMinFree.
	MinFree uint64

	// MappedLimit is how much the pages of the index's tables may add to
	// the process's resident memory before the kernel is asked to take
	// them back (release.go); 0: DefaultMappedLimit, negative: never.
	MappedLimit int64

	// VerifyAll reads every table whole at open to verify its checksums,
	// not only those not verified before (damage.go). Check sets it.
	VerifyAll bool

	// MemTableSize is the size of Badger's memtables (at most two, each an
	// arena in the Go heap and a write-ahead log of twice its size mapped);
	// 0: DefaultMemTableSize. A run that writes little needs less, but at
	// least 512 KiB: a value up to ValueThreshold must fit 15% of it.
	MemTableSize int64

	// DeferCompactions keeps Badger's compactions out of the run, for a
	// one-shot command whose memory peak they would make: they are left
	// to the next process that does not defer them (the daemon), and run
	// here only when level 0 comes close to Badger's write stall, during
	// the run or by Close (upkeep.go).
	DeferCompactions bool

	// CompactWhenQuiet, with DeferCompactions, runs the compactions
	// due once the index has gone a second without a write, for the
	// daemon: after its start-up walk and uploads, not beside them, and
	// nothing is left to Close.
	CompactWhenQuiet bool

	// Admin is the path of the admin socket of the process opening the
	// index (the daemon), recorded in the lock file beside its PID so that
	// `s3ferry status` and `sync` find it from the index directory
	// (ReadHolder, LockedError.Admin); "": the process serves none.
	Admin string

	// Command is the s3ferry command opening the index ("sync", "run"),
	// recorded in the lock file so that a second process refused the index
	// can say who holds it (LockedError); "": unnamed.
	Command string
}

// DefaultMemTableSize is the size of Badger's memtables when
// Options.MemTableSize is 0 (badgerOptions).
const DefaultMemTableSize = 8 << 20

// DB is the Store kept in a Badger database directory. One process at a time
// may open a directory.
type DB struct {
	dir   string
	db    *badger.DB
	seqMu sync.Mutex
	seq   *badger.Sequence // nil until the first Queue
	lock  *os.File         // flock on dir, held until Close
	disk  *diskGuard
	// marked is set once the marker file (markerName) is known to exist.
	marked atomic.Bool

	// mu serializes read-write transactions. Nearly every write changes
	// its source's counts, so concurrent writers would conflict on that key
	// anyway; with Badger's conflict detection and retries instead, 8
	// writers took 6.7 tries per transaction and ran 2.5 times slower.
	// Our flock makes this process the only writer.
	mu sync.Mutex

	// The sets of Store.Retries, Store.Replicas and Store.Removed.
	retries  dbSet[Retry]
	replicas dbSet[Replica]
	removed  dbSet[Gone]
	locks    dbSet[Lock]
	guards   dbSet[Guard]

	// The upkeep (upkeep.go): stopUpkeep ends it, upkept is closed once it
	// has, both nil once it did; calls counts the index calls and writes
	// those that write, asleep says
	// whether it waits for the next one, wake wakes it.
	stopUpkeep, upkept chan struct{}
	deferCompactions   bool
	compactWhenQuiet   bool
	settling           atomic.Bool // Settle runs: compactions are not deferred
	openedSize         int64       // the tables' bytes at Open, for a one-shot run's doubled
	calls, writes      atomic.Uint64
	active             atomic.Int64 // calls under way (call)
	asleep             atomic.Bool
	wake               chan struct{}
}

var _ Store = (*DB)(nil)

// Open opens the index in dir, creating dir and an empty index if needed.
// If another process (or another Open in this one) holds dir, it returns a
// *LockedError, which matches ErrLocked. An index Badger cannot read, or
// one that held records and opens empty, gives a *DamagedError (ErrDamaged);
// a file system with less than Options.MinFree free, a *DiskFullError
// (ErrDiskFull).
func Open(dir string, opts Options) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	lock, err := lockDir(dir, Holder{Admin: opts.Admin, Command: opts.Command})
	if err != nil {
		return nil, err
	}
	db, err := open(dir, opts, lock)
	if err != nil {
		_ = unlockDir(lock)
		return nil, err
	}
	return db, nil
}

func open(dir string, opts Options, lock *os.File) (*DB, error) {
	disk := &diskGuard{dir: dir, min: cmp.Or(opts.MinFree, DefaultMinFree)}
	if err := disk.check(); err != nil {
		return nil, err
	}
	bopts := badgerOptions(dir, opts)
	if err := checkFiles(dir, bopts, opts.VerifyAll); err != nil {
		return nil, err
	}
	var bdb *badger.DB
	err := guard(dir, func() error {
		var err error
		bdb, err = badger.Open(bopts)
		return err
	})
	if err != nil {
		return nil, openError(dir, err)
	}
	if opts.DeferCompactions {
		// Badger started its compactors: an index left over its
		// targets would compact from here on, the run's own writes or
		// not (upkeep.go). Each waits up to a second before it looks.
		stopCompactions(bdb)
	}
	db := &DB{dir: dir, db: bdb, lock: lock, disk: disk, deferCompactions: opts.DeferCompactions, compactWhenQuiet: opts.DeferCompactions && opts.CompactWhenQuiet}
	if db.deferCompactions && !db.compactWhenQuiet {
		db.openedSize = db.tablesSize() // for doubled, at Close
	}
	db.initSets()
	empty, err := db.empty()
	if err == nil {
		switch {
		case empty && hasMarker(dir):
			err = &DamagedError{Dir: dir, Cause: "it held records and opens empty"}
		case !empty:
			err = db.mark()
			if err == nil {
				err = db.moveBookkeeping()
			}
		}
	}
	if err != nil {
		bdb.Close()
		return nil, err
	}
	db.startUpkeep(opts)
	return db, nil
}

// moveBookkeeping moves the counts, the sequence and the pending entries
// an index written before 2026-12-07 keeps before the records to their
// places after them (see the key layout), moveBatch keys a transaction,
// each key's move in one, so that a move cut short is taken up by the next
// Open. Each source's old counts key is left holding countsMoved.
func (db *DB) moveBookkeeping() error {
	for {
		moves, err := db.oldBookkeeping()
		if err == nil && len(moves) > 0 {
			err = db.update(func(txn *badger.Txn) error {
				for _, m := range moves {
					if err := moveKey(txn, m.key, m.value); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("index %s: move its counts and pending entries after its records: %w", db.dir, err)
		}
		if len(moves) < moveBatch {
			return nil
		}
	}
}

// moveBatch is how many keys moveBookkeeping moves in a transaction.
const moveBatch = 1000

type keyValue struct{ key, value []byte }

// oldBookkeeping returns up to moveBatch keys, and their values, that are
// left to move.
func (db *DB) oldBookkeeping() ([]keyValue, error) {
	var moves []keyValue
	err := db.view(func(txn *badger.Txn) error {
		for _, prefix := range []string{string(oldKindCounts), string(oldKindPending), oldSeqKey} {
			err := eachKey(txn, []byte(prefix), func(item *badger.Item) (bool, error) {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return false, err
				}
				if item.Key()[0] != oldKindCounts || !bytes.Equal(v, countsMoved) {
					moves = append(moves, keyValue{item.KeyCopy(nil), v})
				}
				return len(moves) < moveBatch, nil
			})
			if err != nil || len(moves) >= moveBatch {
				return err
			}
		}
		return nil
	})
	return moves, err
}

// eachKey calls fn with the newest version of each live key under
// prefix, in order, while fn returns true. A key rewritten at every
// commit (a source's counts) keeps a version per commit until a
// compaction drops them, and Badger's iterator steps over all of them to
// find the next key, even to prefetch it at a Seek: an index moved from
// the old layout with a first sync still in level 0 (100,000 versions of
// its old counts key) spent ~10 ms of CPU of every open there. So it
// reads every version, and seeks past each key's older ones.
func eachKey(txn *badger.Txn, prefix []byte, fn func(item *badger.Item) (bool, error)) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, AllVersions: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		item := it.Item()
		next := append(item.KeyCopy(nil), 0)
		if !item.IsDeletedOrExpired() {
			if more, err := fn(item); err != nil || !more {
				return err
			}
		}
		it.Seek(next)
	}
	return nil
}

// moveKey writes value at the new place of the old key from, and removes
// from, or leaves countsMoved there for an old counts key.
func moveKey(txn *badger.Txn, from, value []byte) error {
	to := slices.Concat([]byte{movedKind[from[0]]}, from[1:])
	if string(from) == oldSeqKey {
		// An older binary run since leased from the old key: the
		// sequence goes on from the higher of the two.
		cur, ok, err := get(txn, to, func(b []byte) ([]byte, error) { return slices.Clone(b), nil })
		if err != nil {
			return err
		}
		if ok && bytes.Compare(cur, value) > 0 {
			value = cur
		}
	}
	if err := txn.Set(to, value); err != nil {
		return err
	}
	if from[0] == oldKindCounts {
		return txn.Set(from, countsMoved)
	}
	return txn.Delete(from)
}

// movedKind is where moveBookkeeping moves each old kind.
var movedKind = map[byte]byte{oldKindCounts: kindCounts, oldKindPending: kindPending, oldSeqKey[0]: seqKey[0]}

// startUpkeep starts the upkeep (upkeep.go), with the releaser of table
// pages unless opts turn it off or there is no /proc for it to read.
// With the compactions deferred, the upkeep's goroutine first takes the
// pages Open read out of the resident set (dropOpenedTables: nothing
// unmaps a table before it starts the compactors), beside the run's first
// reads rather than before them, and the releaser counts from there.
func (db *DB) startUpkeep(opts Options) {
	limit := cmp.Or(opts.MappedLimit, DefaultMappedLimit)
	logf := func(string, ...any) {}
	if opts.Logger != nil {
		logf = func(format string, args ...any) { opts.Logger.Warn(fmt.Sprintf(format, args...)) }
	}
	db.stopUpkeep, db.upkept, db.wake = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	go func() {
		defer close(db.upkept)
		mapped, err := mappedDir(db.dir) // as /proc/self/maps names the tables
		if err == nil && db.deferCompactions {
			dropOpenedTables(mapped)
		}
		var r *releaser
		if err == nil && limit >= 0 {
			r, _ = newReleaser(mapped, limit, logf)
		}
		db.upkeep(db.stopUpkeep, r)
	}()
}

// empty says whether the database holds no key at all, deleted or not.
// Its iterator sees every version, delete markers too: one that skipped
// them walked every key deleted since the last compaction before it found
// a live one (the pending entries of every upload: 26 ms of a 108 ms no-op
// sync at 100k files).
func (db *DB) empty() (bool, error) {
	var empty bool
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	return empty, err
}

// mark writes the marker file once the index holds something.
func (db *DB) mark() error {
	if db.marked.Load() {
		return nil
	}
	if !hasMarker(db.dir) {
		if err := writeMarker(db.dir); err != nil {
			return err
		}
	}
	db.marked.Store(true)
	return nil
}

// sequence leases the Seq sequence on first use: a run that queues nothing
// writes nothing, so its Close has no memtable to flush.
func (db *DB) sequence() (*badger.Sequence, error) {
	db.seqMu.Lock()
	defer db.seqMu.Unlock()
	if db.seq == nil {
		seq, err := db.db.GetSequence([]byte(seqKey), seqBandwidth)
		if err != nil {
			return nil, fmt.Errorf("index %s: sequence: %w", db.dir, err)
		}
		db.seq = seq
	}
	return db.seq, nil
}

// badgerOptions tunes Badger for this workload: millions of records of about
// 100 bytes, keyed by path, on a small file server where the index must not
// compete for memory with the files being uploaded. The aim is memory that
// stays bounded as the index grows, with the OS page cache (shared, and
// reclaimable) doing the caching. The numbers measured with these options
// are in docs/benchmarks.md.
func badgerOptions(dir string, o Options) badger.Options {
	opt := badger.DefaultOptions(dir)

	// Values are ~100 bytes: keep every one in the LSM tree next to its
	// key, so a Get is one lookup and the value log stays empty (memtables
	// have their own write-ahead log). At most 15% of MemTableSize.
	opt.ValueThreshold = 64 << 10

	// A memtable is an arena allocated whole: 64 MiB by default, five of
	// them. 8 MiB holds ~40,000 files (a Queue and a Commit each); one
	// filling and one being flushed are enough for a writer that waits on
	// S3 between writes.
	opt.MemTableSize = cmp.Or(o.MemTableSize, DefaultMemTableSize)
	opt.NumMemtables = 2

	// Tables of 8 MiB at every level (default: 2 MiB, doubling per level).
	// Opening the index opens every table (a mapping, and what it reads of
	// each: see BlockSize below) and Close releases each: with 1 MiB tables
	// (and 4 KiB blocks with bloom filters), 10M
	// records made 2,329 tables, 0.15-0.2 s to open and 0.14 s to close,
	// and 104 MiB of their pages resident right after Open. 8 MiB tables:
	// 21 tables at 1M records, open 10 ms instead of 20-35, close 5 ms
	// instead of 30-80, 7 MiB resident instead of 17; writing 1M records
	// peaked at the same memory (85 MiB anonymous under the soft limit
	// the commands set, cmd/s3ferry/memory.go). Without that limit
	// smaller tables had been needed to keep compactions' garbage down.
	opt.BaseTableSize = 8 << 20
	opt.TableSizeMultiplier = 1

	// What opening a table reads and keeps mapped is its block index (the
	// first key of every block) and its bloom filter, plus its last block
	// (Badger reads the biggest key): at 10M records, with 4 KiB blocks
	// and 1% bloom filters, 48 MiB of a sync's resident memory before it
	// had done anything. Blocks of 16 KiB make the block index a quarter
	// (7.5 MiB at 10M), and there are no bloom filters: a walk reads a
	// directory's records with an iterator, which never asks one, and a
	// Get of a file that is not indexed (the daemon's new files) reads one
	// block more per level instead. Measured at 10M records (s3ferry-bench
	// -index-scale): the tables' resident pages in a sync ~48 → 18 MiB
	// (239 tables; most of it is the kernel's fault-around, which maps 64
	// KiB around each page touched), a no-op sync's peak RSS 86 → 49 MiB
	// and its time 0.095 → 0.073 s; on 200,000 records
	// (BenchmarkGet, BenchmarkGetMany, BenchmarkQueueCommit) a Get 14 →
	// 20 µs, a path of GetMany 0.93 → 1.19 µs, a Queue and Commit 29 → 38
	// µs: ~1% of a first sync's time per file. Tables written before keep
	// their blocks and filters until a compaction rewrites them.
	opt.BlockSize = 16 << 10
	opt.BloomFalsePositive = 0

	// No compression: it would save a quarter of the disk (measured: 120
	// instead of 160 bytes per record) but doubles the memory compactions
	// take and needs a block cache for decompressed blocks. Uncompressed
	// tables are read straight from their mmap, so the page cache caches
	// them and Badger needs neither cache (the index cache is only used for
	// encrypted tables).
	opt.Compression = options.None
	opt.BlockCacheSize = 0
	opt.IndexCacheSize = 0

	// Only the latest version of a key is ever read.
	opt.NumVersionsToKeep = 1

	// Two cores: two compactors, the fewest Badger allows (besides none).
	opt.NumCompactors = 2

	// Value log files are preallocated (sparse) at twice this size and
	// mapped; each open starts one and Close msyncs the whole mapping,
	// which for 64 MiB files took 17 ms of a 50 ms no-op sync (strace) to
	// sync nothing: values live in the LSM tree. 1 MiB is Badger's least.
	opt.ValueLogFileSize = 1 << 20

	// Badger's metrics are process-wide expvars; the agent reports its own.
	opt.MetricsEnabled = false

	// DB.mu serializes writes, so transactions never conflict and Badger
	// need not track what each one read (which it keeps for as long as any
	// older read transaction, such as a long Records, is open).
	opt.DetectConflicts = false

	// Every table's checksums are verified before Badger opens it
	// (verifyTables: Badger's own check at open drops a damaged table, or
	// panics where we cannot recover), and each block's when it is read,
	// so damage found later is an error, not records silently missing.
	// The cost, measured on 100,000 records, is in docs/benchmarks.md. Values live in
	// the LSM tree, so VerifyValueChecksum costs nothing and guards the
	// value log should one ever be written.
	opt.ChecksumVerificationMode = options.OnBlockRead
	opt.VerifyValueChecksum = true

	opt.SyncWrites = o.SyncWrites
	opt.Logger = nil
	if o.Logger != nil {
		opt.Logger = badgerLogger{o.Logger}
	}
	return opt
}

// badgerLogger passes Badger's warnings and errors to slog and drops the
// rest, which is chatter about tables opened and compactions run.
type badgerLogger struct{ l *slog.Logger }

func (l badgerLogger) Errorf(format string, args ...any) {
	l.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
}

func (l badgerLogger) Warningf(format string, args ...any) {
	l.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// Settle waits until Badger has no compaction left to do (no level over its
// target), polling every 100 ms, or until ctx ends. A process that wrote
// many records at once leaves compactions that otherwise run in whatever
// process opens the index next, with their memory and CPU; an index built
// over months, one file at a time, is settled. It runs the compactions even
// when the index defers them.
func (db *DB) Settle(ctx context.Context) error {
	db.settling.Store(true)
	defer db.settling.Store(false)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		db.used(true) // the upkeep starts the compactors
		if over, _ := db.overTarget(); !over {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("settle index %s: %w", db.dir, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Close runs the compactions a run deferred (Options.DeferCompactions) if
// level 0 nears Badger's write stall or the run at least doubled the
// index (a first sync), flushes the index and releases the directory.
func (db *DB) Close() error {
	if db.stopUpkeep != nil {
		close(db.stopUpkeep)
		<-db.upkept
		db.stopUpkeep = nil
	}
	var errSeq error
	if db.seq != nil {
		errSeq = db.seq.Release()
	}
	lendAllocators(db.db) // for the flush of the memtable
	err := errors.Join(errSeq, db.db.Close(), unlockDir(db.lock))
	if err != nil {
		return fmt.Errorf("close index %s: %w", db.dir, err)
	}
	return nil
}

// GC rewrites value log files until none has garbage left to reclaim. With
// values kept in the LSM tree there is rarely anything to do; a daemon calls
// it on a timer so that stays true. Only one GC may run at a time.
func (db *DB) GC() error {
	for {
		err := db.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gc index %s: %w", db.dir, err)
		}
	}
}

func (db *DB) Get(source, path string) (Record, bool, error) {
	if err := checkSource(source); err != nil {
		return Record{}, false, err
	}
	var r Record
	var ok bool
	err := db.view(func(txn *badger.Txn) error {
		var err error
		r, ok, err = get(txn, fileKey(kindRecord, source, path), decodeRecord)
		return err
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("get %q in %q: %w", path, source, err)
	}
	return r, ok, nil
}

// nextSteps is how many keys GetMany steps over before it seeks instead:
// a step costs about a tenth of a seek, and a directory's files are
// usually the very next keys, with a subdirectory's records in between at
// worst.
const nextSteps = 8

func (db *DB) GetMany(source string, paths []string, fn func(i int, r Record, ok bool) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	if len(paths) == 0 {
		return nil
	}
	base := fileKey(kindRecord, source, "")
	// Badger only opens the tables that may hold keys with this prefix.
	prefix := append(slices.Clip(base), commonPrefix(slices.Min(paths), slices.Max(paths))...)
	var fnErr error
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		key := slices.Clone(base)
		for i, path := range paths {
			key = append(key[:len(base)], path...)
			if i == 0 || path < paths[i-1] {
				it.Seek(key)
			}
			for steps := 0; it.Valid() && bytes.Compare(it.Item().Key(), key) < 0; steps++ {
				if steps == nextSteps {
					it.Seek(key)
					break
				}
				it.Next()
			}
			var r Record
			ok := it.Valid() && bytes.Equal(it.Item().Key(), key)
			if ok {
				err := it.Item().Value(func(v []byte) error {
					var err error
					r, err = decodeRecord(v)
					return err
				})
				if err != nil {
					return fmt.Errorf("%q: %w", path, err)
				}
			}
			if fnErr = fn(i, r, ok); fnErr != nil {
				return fnErr
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("get %d paths in %q: %w", len(paths), source, err)
	}
	return nil
}

// commonPrefix is the longest prefix a and b share.
func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return a[:i]
		}
	}
	return a[:n]
}

func (db *DB) Queue(source, path string) (Pending, error) {
	if err := checkSource(source); err != nil {
		return Pending{}, err
	}
	seq, err := db.sequence()
	if err != nil {
		return Pending{}, err
	}
	var p Pending
	key := fileKey(kindPending, source, path)
	err = db.update(func(txn *badger.Txn) error {
		// Taken inside the transaction, so a later write has a higher Seq.
		n, err := seq.Next()
		if err != nil {
			return err
		}
		// Badger's sequence starts at 0, which Commit reserves for "none".
		p = Pending{Seq: n + 1, QueuedNs: now()}
		prev, found, err := get(txn, key, decodePending)
		if err != nil {
			return err
		}
		p.Upload = prev.Upload // see Store.SetUpload
		if err := txn.Set(key, appendPending(nil, p)); err != nil {
			return err
		}
		if found {
			return nil
		}
		return addCounts(txn, source, counts{pending: 1})
	})
	if err != nil {
		return Pending{}, fmt.Errorf("queue %q in %q: %w", path, source, err)
	}
	return p, nil
}

func (db *DB) Commit(source, path string, r Record, seq uint64) error {
	if err := db.put(source, path, r, seq); err != nil {
		return fmt.Errorf("commit %q in %q: %w", path, source, err)
	}
	return nil
}

func (db *DB) Touch(source, path string, r Record, seq uint64) error {
	if err := db.put(source, path, r, seq); err != nil {
		return fmt.Errorf("touch %q in %q: %w", path, source, err)
	}
	return nil
}

// put writes r and removes the pending entry of path if its Seq is seq.
func (db *DB) put(source, path string, r Record, seq uint64) error {
	if err := checkSource(source); err != nil {
		return err
	}
	rkey := fileKey(kindRecord, source, path)
	pkey := fileKey(kindPending, source, path)
	val := appendRecord(nil, r)
	return db.update(func(txn *badger.Txn) error {
		var d counts
		found, err := exists(txn, rkey)
		if err != nil {
			return err
		}
		if !found {
			d.records = 1
		}
		if err := txn.Set(rkey, val); err != nil {
			return err
		}
		removed, err := unqueue(txn, pkey, seq)
		if err != nil {
			return err
		}
		if removed {
			d.pending = -1
		}
		return addCounts(txn, source, d)
	})
}

func (db *DB) Unqueue(source, path string, seq uint64) error {
	if err := checkSource(source); err != nil {
		return err
	}
	key := fileKey(kindPending, source, path)
	err := db.update(func(txn *badger.Txn) error {
		removed, err := unqueue(txn, key, seq)
		if err != nil || !removed {
			return err
		}
		return addCounts(txn, source, counts{pending: -1})
	})
	if err != nil {
		return fmt.Errorf("unqueue %q in %q: %w", path, source, err)
	}
	return nil
}

func (db *DB) Delete(source, path string) error {
	if err := checkSource(source); err != nil {
		return err
	}
	err := db.update(func(txn *badger.Txn) error {
		var d counts
		removed, err := remove(txn, fileKey(kindRecord, source, path))
		if err != nil {
			return err
		}
		if removed {
			d.records = -1
		}
		removed, err = remove(txn, fileKey(kindPending, source, path))
		if err != nil {
			return err
		}
		if removed {
			d.pending = -1
		}
		return addCounts(txn, source, d)
	})
	if err != nil {
		return fmt.Errorf("delete %q in %q: %w", path, source, err)
	}
	return nil
}

func (db *DB) Pending(source string, fn func(path string, p Pending) error) error {
	// Every upload writes a pending entry and deletes it, and an iterator
	// steps over the deletions until compaction drops them: after a million
	// uploads, scanning an empty pending set took 40 ms of every run. The
	// count (O(1)) says when there is nothing to scan.
	if _, n, err := db.Count(source); err != nil || n == 0 {
		return err
	}
	var fnErr error
	err := db.iterate(fileKey(kindPending, source, ""), nil, func(path string, v []byte) error {
		p, err := decodePending(v)
		if err != nil {
			return fmt.Errorf("%q: %w", path, err)
		}
		fnErr = fn(path, p)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("pending of %q: %w", source, err)
	}
	return nil
}

func (db *DB) Records(source, prefix string, fn func(path string, r Record) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	return each(db, fileKey(kindRecord, source, ""), []byte(prefix), decodeRecord, fn, func() string {
		return fmt.Sprintf("records of %q under %q", source, prefix)
	})
}

// each calls fn with the path and decoded value of every key that starts
// with base followed by prefix, in key order. fn's error is returned as it
// is, any other wrapped with what().
func each[T any](db *DB, base, prefix []byte, decode func([]byte) (T, error), fn func(path string, v T) error, what func() string) error {
	var fnErr error
	err := db.iterate(base, prefix, func(path string, b []byte) error {
		v, err := decode(b)
		if err != nil {
			return fmt.Errorf("%q: %w", path, err)
		}
		fnErr = fn(path, v)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what(), err)
	}
	return nil
}

// iterate calls fn with the path and value of every key that starts with
// base followed by prefix, in key order. The path is the key less base.
func (db *DB) iterate(base, prefix []byte, fn func(path string, v []byte) error) error {
	start := append(base, prefix...)
	return db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: start})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			path := string(item.Key()[len(base):])
			if err := item.Value(func(v []byte) error { return fn(path, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (db *DB) Count(source string) (records, pending int64, err error) {
	if err := checkSource(source); err != nil {
		return 0, 0, err
	}
	var c counts
	err = db.view(func(txn *badger.Txn) error {
		var err error
		c, err = getCounts(txn, source)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count %q: %w", source, err)
	}
	return c.records, c.pending, nil
}

func (db *DB) State(source string) (SourceState, error) {
	if err := checkSource(source); err != nil {
		return SourceState{}, err
	}
	var s SourceState
	err := db.view(func(txn *badger.Txn) error {
		var err error
		s, _, err = get(txn, sourceKey(kindState, source), decodeState)
		return err
	})
	if err != nil {
		return SourceState{}, fmt.Errorf("state of %q: %w", source, err)
	}
	return s, nil
}

func (db *DB) SetState(source string, s SourceState) error {
	if err := checkSource(source); err != nil {
		return err
	}
	err := db.update(func(txn *badger.Txn) error {
		return txn.Set(sourceKey(kindState, source), appendState(nil, s))
	})
	if err != nil {
		return fmt.Errorf("set state of %q: %w", source, err)
	}
	return nil
}

func (db *DB) Retries() Set[Retry]    { return &db.retries }
func (db *DB) Replicas() Set[Replica] { return &db.replicas }
func (db *DB) Removed() Set[Gone]     { return &db.removed }
func (db *DB) Locks() Set[Lock]       { return &db.locks }
func (db *DB) Guards() Set[Guard]     { return &db.guards }

// initSets lays out the sets of db (see the key layout).
func (db *DB) initSets() {
	db.retries = dbSet[Retry]{db: db, name: "retry set", kind: kindRetry, countKind: kindRetryCount, encode: appendRetry, decode: decodeRetry}
	db.replicas = dbSet[Replica]{db: db, name: "replica set", kind: kindReplica, countKind: kindReplicaCount, encode: appendReplica, decode: decodeReplica}
	db.removed = dbSet[Gone]{db: db, name: "removed set", kind: kindRemoved, countKind: kindRemovedCount, encode: appendGone, decode: decodeGone}
	db.locks = dbSet[Lock]{db: db, name: "lock set", kind: kindLock, countKind: kindLockCount, encode: appendLock, decode: decodeLock}
	db.guards = dbSet[Guard]{db: db, name: "guard set", kind: kindGuard, countKind: kindGuardCount, encode: appendGuard, decode: decodeGuard}
}

// dbSet is a Set in a DB: an entry per path under kind, and the entry
// count of each source under countKind.
type dbSet[T any] struct {
	db              *DB
	name            string // for errors: "retry set"
	kind, countKind byte
	encode          func([]byte, T) []byte
	decode          func([]byte) (T, error)
}

func (s *dbSet[T]) Add(source, path string, v T) error {
	if err := s.add(source, path, v); err != nil {
		return fmt.Errorf("add %q in %q to the %s: %w", path, source, s.name, err)
	}
	return nil
}

func (s *dbSet[T]) add(source, path string, v T) error {
	if err := checkSource(source); err != nil {
		return err
	}
	key := fileKey(s.kind, source, path)
	value := s.encode(nil, v)
	return s.db.update(func(txn *badger.Txn) error {
		found, err := exists(txn, key)
		if err != nil {
			return err
		}
		if err := txn.Set(key, value); err != nil {
			return err
		}
		if found {
			return nil
		}
		return addSetCount(txn, sourceKey(s.countKind, source), 1)
	})
}

func (s *dbSet[T]) Remove(source, path string) error {
	return s.RemoveIf(source, path, nil)
}

// RemoveIf with a nil match removes path's entry whatever it is, without
// reading it.
func (s *dbSet[T]) RemoveIf(source, path string, match func(T) bool) error {
	if err := s.remove(source, path, match); err != nil {
		return fmt.Errorf("remove %q in %q from the %s: %w", path, source, s.name, err)
	}
	return nil
}

func (s *dbSet[T]) remove(source, path string, match func(T) bool) error {
	if err := checkSource(source); err != nil {
		return err
	}
	key := fileKey(s.kind, source, path)
	return s.db.update(func(txn *badger.Txn) error {
		if match != nil {
			v, found, err := get(txn, key, s.decode)
			if err != nil || !found || !match(v) {
				return err
			}
		}
		removed, err := remove(txn, key)
		if err != nil || !removed {
			return err
		}
		return addSetCount(txn, sourceKey(s.countKind, source), -1)
	})
}

func (s *dbSet[T]) Each(source string, fn func(path string, v T) error) error {
	// As Pending: the count says when there is nothing to scan.
	if n, err := s.Count(source); err != nil || n == 0 {
		return err
	}
	return each(s.db, fileKey(s.kind, source, ""), nil, s.decode, fn, func() string {
		return fmt.Sprintf("%s of %q", s.name, source)
	})
}

func (s *dbSet[T]) Count(source string) (int64, error) {
	n, err := s.count(source)
	if err != nil {
		return 0, fmt.Errorf("count the %s of %q: %w", s.name, source, err)
	}
	return n, nil
}

func (s *dbSet[T]) count(source string) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.view(func(txn *badger.Txn) error {
		var err error
		n, _, err = get(txn, sourceKey(s.countKind, source), decodeSetCount)
		return err
	})
	return n, err
}

// addSetCount adds d to the entry count at key.
func addSetCount(txn *badger.Txn, key []byte, d int64) error {
	n, _, err := get(txn, key, decodeSetCount)
	if err != nil {
		return err
	}
	return txn.Set(key, appendSetCount(nil, n+d))
}

func (db *DB) Sources() ([]string, error) {
	seen := map[string]bool{}
	err := db.view(func(txn *badger.Txn) error {
		for _, kind := range []byte{kindCounts, kindState, kindRetryCount} {
			err := eachKey(txn, []byte{kind}, func(item *badger.Item) (bool, error) {
				seen[string(item.Key()[1:])] = true
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// update runs fn in a read-write transaction, one at a time (see DB.mu),
// unless the disk is short of space (DiskFullError). See guard for what a
// panic in Badger becomes.
func (db *DB) update(fn func(txn *badger.Txn) error) error {
	if err := db.disk.check(); err != nil {
		return err
	}
	defer db.call(true)()
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := guard(db.dir, func() error { return db.db.Update(fn) }); err != nil {
		return err
	}
	return db.mark()
}

// view runs fn in a read-only transaction; see guard.
func (db *DB) view(fn func(txn *badger.Txn) error) error {
	defer db.call(false)()
	return guard(db.dir, func() error { return db.db.View(fn) })
}

// call records an index call as it starts and, by the function it
// returns, as it ends. The upkeep does not fall asleep while a call runs:
// a long read (a verify's pass over every record) maps the pages of every
// table, which its releaser must go on giving back during the read, not
// only after it.
func (db *DB) call(write bool) (end func()) {
	db.active.Add(1)
	db.used(write)
	return func() {
		db.active.Add(-1)
		db.used(write)
	}
}

// unqueue deletes the pending entry at key if its Seq is seq and says
// whether it did.
func unqueue(txn *badger.Txn, key []byte, seq uint64) (bool, error) {
	if seq == 0 {
		return false, nil
	}
	p, ok, err := get(txn, key, decodePending)
	if err != nil || !ok || p.Seq != seq {
		return false, err
	}
	return true, txn.Delete(key)
}

// remove deletes the value at key, if any, and says whether there was one.
func remove(txn *badger.Txn, key []byte) (bool, error) {
	found, err := exists(txn, key)
	if err != nil || !found {
		return false, err
	}
	return true, txn.Delete(key)
}

// addCounts adds d to the counts of source; a zero d writes nothing.
func addCounts(txn *badger.Txn, source string, d counts) error {
	if d == (counts{}) {
		return nil
	}
	c, ok, err := get(txn, sourceKey(kindCounts, source), decodeCounts)
	if err != nil {
		return err
	}
	if !ok {
		// A new source: what binaries before the move would read.
		if err := txn.Set(sourceKey(oldKindCounts, source), countsMoved); err != nil {
			return err
		}
	}
	c.records += d.records
	c.pending += d.pending
	return txn.Set(sourceKey(kindCounts, source), appendCounts(nil, c))
}

func getCounts(txn *badger.Txn, source string) (counts, error) {
	c, _, err := get(txn, sourceKey(kindCounts, source), decodeCounts)
	return c, err
}

// get reads and decodes the value at key; ok is false when there is none.
func get[T any](txn *badger.Txn, key []byte, decode func([]byte) (T, error)) (v T, ok bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return v, false, nil
	} else if err != nil {
		return v, false, err
	}
	err = item.Value(func(b []byte) error {
		v, err = decode(b)
		return err
	})
	return v, err == nil, err
}

// exists says whether there is a value at key, without reading it.
func exists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func now() int64 { return time.Now().UnixNano() }

// fileKey returns kind, source, a NUL byte and path.
func fileKey(kind byte, source, path string) []byte {
	k := make([]byte, 0, 2+len(source)+len(path))
	k = append(k, kind)
	k = append(k, source...)
	k = append(k, 0)
	return append(k, path...)
}

func sourceKey(kind byte, source string) []byte {
	return append([]byte{kind}, source...)
}

// Resumable multipart uploads (Store.GetPending, Store.SetUpload).

func (db *DB) GetPending(source, path string) (Pending, bool, error) {
	if err := checkSource(source); err != nil {
		return Pending{}, false, err
	}
	var p Pending
	var ok bool
	err := db.view(func(txn *badger.Txn) error {
		var err error
		p, ok, err = get(txn, fileKey(kindPending, source, path), decodePending)
		return err
	})
	if err != nil {
		return Pending{}, false, fmt.Errorf("get pending %q in %q: %w", path, source, err)
	}
	return p, ok, nil
}

func (db *DB) SetUpload(source, path string, seq uint64, u *Upload) error {
	if err := checkSource(source); err != nil {
		return err
	}
	key := fileKey(kindPending, source, path)
	err := db.update(func(txn *badger.Txn) error {
		p, ok, err := get(txn, key, decodePending)
		if err != nil || !ok || p.Seq != seq {
			return err
		}
		p.Upload = u
		return txn.Set(key, appendPending(nil, p))
	})
	if err != nil {
		return fmt.Errorf("record upload of %q in %q: %w", path, source, err)
	}
	return nil
}
