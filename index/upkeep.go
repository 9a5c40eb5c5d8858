package index

import (
	"runtime"
	"time"
	_ "unsafe" // go:linkname

	"github.com/dgraph-io/badger/v4"
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
// With Options.DeferCompactions (one-shot commands) the compactors are
// stopped at Open, even with a level over its target, and start during
// the run only once level 0 holds deferL0Tables tables, before Badger's
// write stall (NumLevelZeroTablesStall, 15 tables: writes wait for a
// compaction that would never start); the compactions due are run by
// Close, after the run's own work and its memory are done, and only when
// the run wrote: a run that wrote nothing (a no-op sync) made no work for
// them, and leaves it to the next run that writes, or to the daemon.

//go:linkname stopCompactions github.com/dgraph-io/badger/v4.(*DB).stopCompactions
func stopCompactions(db *badger.DB)

//go:linkname startCompactions github.com/dgraph-io/badger/v4.(*DB).startCompactions
func startCompactions(db *badger.DB)

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
// Open: compacting is true until upkeep first finds nothing to do, or
// at once with DeferCompactions (they wait up to a second before their
// first look: nothing has run yet).
func (db *DB) upkeep(stop <-chan struct{}, r *releaser) {
	compacting := true
	if db.deferCompactions {
		stopCompactions(db.db)
		compacting = false
	}
	t := time.NewTicker(releaseInterval)
	defer t.Stop()
	last, lastWrites, quiet, need := db.calls.Load(), db.writes.Load(), 0, writeQuietTicks
	for {
		select {
		case <-stop:
			db.finishCompactions(compacting, t, r)
			return
		case <-t.C:
		}
		r = r.check()
		compacting = db.govern(compacting, db.deferCompactions && !db.settling.Load())
		if w := db.writes.Load(); w != lastWrites {
			lastWrites, need = w, writeQuietTicks
		}
		if n := db.calls.Load(); n != last {
			last, quiet = n, 0
			continue
		}
		if quiet++; quiet < need || compacting {
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
				db.finishCompactions(compacting, t, r)
				return
			case <-db.wake:
			}
		}
		db.asleep.Store(false)
		last, quiet, need = db.calls.Load(), 0, readQuietTicks
		t.Reset(releaseInterval)
	}
}

// govern starts Badger's compactors when a level needs compacting and stops
// them once none does, and says whether they run. Deferred, they start only
// for a level 0 close to Badger's write stall.
func (db *DB) govern(compacting, deferred bool) bool {
	over, l0 := db.overTarget()
	need := over && (compacting || !deferred || l0 >= deferL0Tables)
	switch {
	case need && !compacting:
		startCompactions(db.db)
	case !need && compacting:
		stopCompactions(db.db)
	}
	return need
}

// finishCompactions, with DeferCompactions, runs the compactions due
// (checking the releaser meanwhile), then stops the compactors; after a
// run that wrote nothing, it leaves them to a later run.
func (db *DB) finishCompactions(compacting bool, t *time.Ticker, r *releaser) {
	if !db.deferCompactions || db.writes.Load() == 0 && !compacting {
		return
	}
	if over, _ := db.overTarget(); !over {
		return
	}
	// What the run left is garbage now: collected first, its memory is
	// what the compactions' table builders take, not more.
	runtime.GC()
	t.Reset(releaseInterval)
	for {
		if compacting = db.govern(compacting, false); !compacting {
			return
		}
		<-t.C
		r = r.check()
	}
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
