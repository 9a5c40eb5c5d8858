package index

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestUpkeepSleepsWhileIdle: once the index has not been used for a while
// its upkeep sleeps, with Badger's compactors stopped, and the next call
// wakes it.
func TestUpkeepSleepsWhileIdle(t *testing.T) {
	t.Parallel()
	db, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Commit("src", "a", Record{Size: 1}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upkeep to sleep", func() bool { return db.asleep.Load() })
	if _, _, err := db.Get("src", "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a call to wake the upkeep", func() bool { return !db.asleep.Load() })
}

// TestDeferCompactions writes twenty memtables' worth of records with the
// compactions deferred: level 0 goes over its target without compactions
// (a run's memory is its own), writes never stall at Badger's limit (the
// guard starts them before), and Close leaves no level over its target
// but for the table its own flush adds.
func TestDeferCompactions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{DeferCompactions: true, MemTableSize: 512 << 10}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	write := func(from, to int) { t.Helper(); commitCalls(t, db, from, to) }
	n := fillLevel0(t, db, 0, 6)
	time.Sleep(2 * time.Second) // compactors, had they started, would have taken level 0
	if over, l0 := db.overTarget(); !over || l0 < 6 {
		t.Fatalf("with compactions deferred, level 0 went from 6 tables to %d (over target: %v)", l0, over)
	}
	write(n, 20*n/6) // ~20 memtables: stalls forever at 15 without the guard
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Close compacts, then flushes its memtable: level 0 may hold one
	// table more than Badger's 4, no other level may be over its target.
	for _, l := range db.db.Levels() {
		if l.Level == 0 && l.NumTables > 5 || l.Level > 0 && l.Score >= 1 {
			t.Fatalf("after Close, level %d is over its target (%d tables): %+v", l.Level, l.NumTables, db.db.Levels())
		}
	}
}

// TestDeferCompactionsLeftToTheDaemon: a one-shot run whose level 0 is
// over its target but short of the guard, and which wrote less than the
// index held, leaves the compactions to the next process that does not
// defer them, which runs them.
func TestDeferCompactionsLeftToTheDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// An index of about 20 tables' worth of records, compacted.
	db, err := Open(dir, Options{MemTableSize: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	perTable := fillLevel0(t, db, 0, 1)
	commitCalls(t, db, perTable, 20*perTable)
	waitFor(t, "the first run's compactions", func() bool { over, _ := db.overTarget(); return !over })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, Options{DeferCompactions: true, MemTableSize: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fillLevel0(t, db, 20*perTable, deferL0Tables-2)
	if db.doubled() {
		t.Fatalf("the run doubled the index (%d bytes of tables, %d at Open): the test wrote too much", db.tablesSize(), db.openedSize)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, Options{DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	if over, l0 := db.overTarget(); !over || l0 < deferL0Tables-2 {
		t.Fatalf("a one-shot Close compacted level 0 short of the guard: %d tables left (over target: %v)", l0, over)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Get("src", "2026-12-07/agent00/call-0000000.wav"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon's compactions", func() bool { over, _ := db.overTarget(); return !over })
}

// TestDeferredFirstRunCompactsAtClose: a one-shot run into an empty
// index (a first sync) that leaves level 0 over its target, short of the
// guard, compacts at Close: it doubled the index, so the compaction costs
// what it wrote, and the next runs find its records compacted.
func TestDeferredFirstRunCompactsAtClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir, Options{DeferCompactions: true, MemTableSize: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fillLevel0(t, db, 0, deferL0Tables-2)
	if over, l0 := db.overTarget(); !over || l0 >= deferL0Tables {
		t.Fatalf("before Close: level 0 holds %d tables (over target: %v), want over its target, short of the guard", l0, over)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Close compacts, then flushes its memtable: one table at most.
	if got := level0Tables(t, dir); got > 1 {
		t.Fatalf("after a first run's Close, level 0 holds %d tables, want its compactions run (1 at most: the last flush)", got)
	}
}

// TestCloseFlushTakesLittleMemory: the flush of an incremental run's few
// hundred records at Close builds its table in an allocator lent to Badger
// (lendAllocators), not in the 16 MiB one Badger makes, zeroed, for every
// builder. Not parallel: it counts the bytes the process allocates.
func TestCloseFlushTakesLittleMemory(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	commitCalls(t, db, 0, 5000)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	commitCalls(t, db, 5000, 5500)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := level0Tables(t, dir); n != 2 {
		t.Fatalf("level 0 holds %d tables, want 2 (one flush per run)", n)
	}
	// 5 MiB measured: the lent allocators (2 MiB), the table, Close's
	// own; 19 with a builder's allocator of 2 × BaseTableSize.
	if got := after.TotalAlloc - before.TotalAlloc; got > 10<<20 {
		t.Errorf("Close, flushing 500 records, allocated %.1f MiB, want under 10 (a builder's own allocator is 16)", float64(got)/(1<<20))
	}
}

// commitCalls commits records of the calls from to to (exclusive).
func commitCalls(tb testing.TB, db *DB, from, to int) {
	tb.Helper()
	for i := from; i < to; i++ {
		if err := db.Commit("src", fmt.Sprintf("2026-12-07/agent%02d/call-%07d.wav", i%20, i), Record{Size: int64(i), ETag: "0123456789abcdef0123456789abcdef", VersionID: "v"}, 0); err != nil {
			tb.Fatal(err)
		}
	}
}

// fillLevel0 commits calls from from on, 500 at a time, until level 0
// holds tables tables, and returns the next call.
func fillLevel0(tb testing.TB, db *DB, from, tables int) int {
	tb.Helper()
	n := from
	for _, l0 := db.overTarget(); l0 < tables; _, l0 = db.overTarget() {
		if n-from > 200_000 {
			tb.Fatalf("level 0 holds %d tables after %d records", l0, n-from)
		}
		commitCalls(tb, db, n, n+500)
		n += 500
	}
	return n
}

// waitFor waits up to 10 s for cond, failing tb with what it waited for.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestDeferredRunWithoutWritesLeavesCompactions: with the compactions
// deferred, a run that finds a level over its target (left by an earlier
// run) neither compacts during its reads nor at Close when it wrote
// nothing: a no-op sync pays nothing for work it did not make (the
// daemon does it: TestDeferCompactionsLeftToTheDaemon).
func TestDeferredRunWithoutWritesLeavesCompactions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{DeferCompactions: true, MemTableSize: 512 << 10}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	fillLevel0(t, db, 0, 5)
	db.writes.Store(0) // this run's Close leaves level 0 over its target, as a run that wrote nothing would
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := level0Tables(t, dir)
	if before < 5 {
		t.Fatalf("level 0 holds %d tables after the writing run, want at least 5 (over its target)", before)
	}

	db, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, ok, err := db.Get("src", fmt.Sprintf("2026-12-07/agent%02d/call-%07d.wav", i%20, i)); err != nil || !ok {
			t.Fatalf("get record %d: found %v, %v", i, ok, err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // Badger's compactors look within a second of Open
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := level0Tables(t, dir); got != before {
		t.Fatalf("a run without writes took level 0 from %d tables to %d", before, got)
	}
}

// level0Tables counts the tables the MANIFEST of the closed index in dir
// puts at level 0.
func level0Tables(tb testing.TB, dir string) int {
	tb.Helper()
	fp, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		tb.Fatal(err)
	}
	defer fp.Close()
	bopts := badgerOptions(dir, Options{})
	m, _, err := badger.ReplayManifestFile(fp, bopts.ExternalMagicVersion, bopts)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, tm := range m.Tables {
		if tm.Level == 0 {
			n++
		}
	}
	return n
}
