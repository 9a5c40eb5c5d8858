package index

import (
	"runtime"
	"time"
	_ "unsafe" // go:linkname

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// The index's background work, handing its table pages back to the kernel
// (release.go) and Badger's compactions, runs while the index is used and
// sleeps while it is not, so that an idle daemon's index wakes nothing:
//
//	state    what runs                                        until
//	awake    the releaser's check every releaseInterval;      a second without a write (a
//	         Badger's compactors while a level is over its    flush may follow it), or two
//	         target (started and stopped here)                checks without a read, and no
//	                                                          compaction to run
//	asleep   nothing                                          the next index call
//
// Badger's compactors look for work every 50 ms each whether there is any
// or not (levels.go, runCompactor): two of them, with the releaser's check
// every 50 ms, were 60 of the ~300 wake-ups a second of an idle daemon
// (docs/benchmarks.md). Badger only lets them be stopped and started by
// Flatten and DropAll, through the two functions below; a Badger without
// them fails to link, not to run.
//
// With Options.CompactWhenQuiet as well (the daemon) they run once the
// index has gone a second without a write: after the start-up walk and
// its uploads, whose memory they would otherwise add to.
//
// With Options.DeferCompactions alone (one-shot commands) the compactions due
// are left to the next process that does not defer them (the daemon), and
// run in this one only once level 0 holds deferL0Tables tables, before
// Badger's write stall (NumLevelZeroTablesStall, 15 tables: writes wait
// for a compaction that would never start): during the run if its writes
// get it there, else by Close, after the run's own work and its memory
// are done. An incremental sync adds one small table to level 0 (its
// Close's flush), and a compaction of a 10M-record index, a cascade down
// its levels, takes more memory than the whole of such a sync
// (docs/benchmarks.md): one run in deferL0Tables pays for it where no
// daemon runs, none where one does. A run whose writes at least doubled
// the index (a first sync, or a backfill as large as all before it)
// compacts at Close too: the compaction costs what the run wrote, and
// left alone its level 0 tables, still holding every pending entry and
// its deletion, were 289 bytes a file at 100,000 files (169 compacted),
// each read by every lookup of the incremental syncs that follow until a
// daemon runs (a no-op 0.106 s, 0.087 s compacted).

//go:linkname stopCompactions github.com/dgraph-io/badger/v4.(*DB).stopCompactions
func stopCompactions(db *badger.DB)

//go:linkname startCompactions github.com/dgraph-io/badger/v4.(*DB).startCompactions
func startCompactions(db *badger.DB)

//go:linkname buildTableOptions github.com/dgraph-io/badger/v4.buildTableOptions
func buildTableOptions(db *badger.DB) table.Options

// Each of Badger's table builders (a memtable's flush, each split of a
// compaction) takes an allocator from the DB's pool, or makes one with a
// first buffer of twice BaseTableSize: 16 MiB, which Go zeroes, so every
// page of it is resident, for a table that may hold a few hundred KiB (an
// incremental sync's flush at Close). lendAllocators puts lentAllocators
// small ones in the pool before Badger builds tables; a builder that
// needs more grows its allocator a doubling at a time. Measured at 10M
// records, side by side (docs/benchmarks.md): an incremental sync of 500
// files peaked at ~68 MiB instead of ~80, and the round whose Close
// compacted level 0 at 168 MiB instead of 240. The pool drops one idle
// allocator every two seconds, and a full pool drops what is returned to
// it, so lending more than it holds costs a moment's garbage only.
const (
	lentAllocators    = 8
	lentAllocatorSize = 256 << 10
)

func lendAllocators(db *badger.DB) {
	pool := buildTableOptions(db).AllocPool
	for range lentAllocators {
		pool.Return(z.NewAllocator(lentAllocatorSize, "s3ferry"))
	}
}

// How many releaseIntervals without an index call the upkeep waits before
// it sleeps: a second after a write, whose memtable Badger may flush into
// a table a little later, and two checks after reads only (a daemon's
// summary reads the counts every minute).
const (
	writeQuietTicks = int(time.Second / releaseInterval)
	readQuietTicks  = 2
)

// deferL0Tables is the level-0 table count at which a run that defers its
// compactions starts them anyway: Badger would have at 5
// (NumLevelZeroTables), and stalls writes at 15. A run that writes little
// (an incremental sync adds one table, at Close) never gets there; a first
// sync of a million files does, and compacts as it would have.
const deferL0Tables = 8

// used records an index call, a write or not, waking the upkeep if it
// sleeps.
func (db *DB) used(write bool) {
	if write {
		db.writes.Add(1)
	}
	db.calls.Add(1)
	if db.asleep.Load() {
		select {
		case db.wake <- struct{}{}:
		default:
		}
	}
}

// upkeep runs the releaser (nil: none) and governs Badger's compactors
// until stop is closed; then, with DeferCompactions, it runs the
// compactions due before it returns. Badger starts its compactors at
// Open: they run until upkeep first finds nothing to do, unless they are
// deferred, when open stopped them at once.
func (db *DB) upkeep(stop <-chan struct{}, r *releaser) {
	c := compactors{running: !db.deferCompactions}
	t := time.NewTicker(releaseInterval)
	defer t.Stop()
	last, lastWrites, quiet, need := db.calls.Load(), db.writes.Load(), 0, writeQuietTicks
	writeless := 0 // checks since the last write
	for {
		select {
		case <-stop:
			db.finishCompactions(&c, t, r)
			return
		case <-t.C:
		}
		r = r.check()
		if w := db.writes.Load(); w != lastWrites {
			lastWrites, need, writeless = w, writeQuietTicks, 0
		} else {
			writeless++
		}
		quietNow := db.compactWhenQuiet && writeless >= writeQuietTicks
		db.govern(&c, db.deferCompactions && !db.settling.Load() && !quietNow)
		if n := db.calls.Load(); n != last {
			last, quiet = n, 0
			continue
		}
		if quiet++; quiet < need || c.busy() || db.active.Load() > 0 {
			continue
		}
		// Asleep. A call after the store of asleep sees it and wakes us;
		// one between the last look at calls and the store is seen here.
		t.Stop()
		db.asleep.Store(true)
		if db.calls.Load() == last {
			select {
			case <-stop:
				db.asleep.Store(false)
				db.finishCompactions(&c, t, r)
				return
			case <-db.wake:
			}
		}
		db.asleep.Store(false)
		last, quiet, need = db.calls.Load(), 0, readQuietTicks
		t.Reset(releaseInterval)
	}
}

// compactors is the state of Badger's compactors; only the upkeep's
// goroutine uses it.
type compactors struct {
	running  bool          // started, and not told to stop since
	stopping chan struct{} // closed once a stop has returned; nil: none under way
}

// busy says whether the compactors run or are being stopped.
func (c *compactors) busy() bool { return c.running || c.stopping != nil }

// govern starts Badger's compactors when a level needs compacting and
// stops them once none does. Deferred, they start only for a level 0 close
// to Badger's write stall. A stop waits for the compactions under way
// (seconds, at 10M records), in a goroutine of its own: the releaser's
// checks go on meanwhile, where waiting for it in the upkeep let a
// compaction's table pages pile up unreleased.
func (db *DB) govern(c *compactors, deferred bool) {
	if c.stopping != nil {
		select {
		case <-c.stopping:
			c.stopping = nil
		default:
			return
		}
	}
	over, l0 := db.overTarget()
	need := over && (c.running || !deferred || l0 >= deferL0Tables)
	switch {
	case need && !c.running:
		lendAllocators(db.db)
		startCompactions(db.db)
	case !need && c.running:
		c.stop(db.db)
	}
	c.running = need
}

// stop tells the compactors to stop, in a goroutine that closes
// c.stopping once they have.
func (c *compactors) stop(db *badger.DB) {
	stopping := make(chan struct{})
	go func() {
		defer close(stopping)
		stopCompactions(db)
	}()
	c.running, c.stopping = false, stopping
}

// finishCompactions, with DeferCompactions, runs the compactions due:
// those the run started, or all once level 0 holds deferL0Tables tables
// or the run doubled the index; others are left to the daemon. Then it
// stops the compactors. Throughout, the releaser goes on checking: a stop
// waits for the compactions under way, and Badger's Close, waiting for
// them with nothing releasing their table pages, peaked at 280 MiB of
// them at 10M records (docs/benchmarks.md).
func (db *DB) finishCompactions(c *compactors, t *time.Ticker, r *releaser) {
	t.Reset(releaseInterval)
	over, l0 := db.overTarget()
	if db.deferCompactions && !db.compactWhenQuiet && over && (c.running || l0 >= deferL0Tables || db.doubled()) {
		// What the run left is garbage now: collected first, its memory
		// is what the compactions' table builders take, not more.
		runtime.GC()
		for db.govern(c, false); c.running; db.govern(c, false) {
			<-t.C
			r = r.check()
		}
	}
	if c.running {
		c.stop(db.db)
	}
	for c.stopping != nil {
		select {
		case <-c.stopping:
			c.stopping = nil
		case <-t.C:
			r = r.check()
		}
	}
}

// doubled says whether this run wrote and its tables now hold at least
// twice the bytes they held at Open; only a one-shot run (DeferCompactions
// without CompactWhenQuiet) records those.
func (db *DB) doubled() bool {
	return db.writes.Load() > 0 && db.tablesSize() >= 2*db.openedSize
}

// tablesSize is the bytes of the index's tables, every level.
func (db *DB) tablesSize() int64 {
	var n int64
	for _, l := range db.db.Levels() {
		n += l.Size
	}
	return n
}

// overTarget says whether a level is over its target (Badger's
// compactors have work) and how many tables level 0 holds.
func (db *DB) overTarget() (over bool, l0 int) {
	for _, l := range db.db.Levels() {
		over = over || l.Score >= 1
		if l.Level == 0 {
			l0 = l.NumTables
		}
	}
	return over, l0
}
