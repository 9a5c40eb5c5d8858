package index_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/index"
)

// TestReleasesTablePages writes enough records for Badger to flush tables,
// reads them all back through the tables' memory maps, and checks that
// their pages leave the process's resident set with the releaser on, and
// stay without it (so the measure sees them at all).
func TestReleasesTablePages(t *testing.T) {
	dir := t.TempDir()
	const n = 120_000 // 8 MiB memtables hold ~40,000: three flushes
	writeTables(t, dir, n)

	readAll := func(opts index.Options) (*index.DB, int64) {
		t.Helper()
		db, err := index.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if err := db.Records("src", "", func(string, index.Record) error { got++; return nil }); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("read %d records, want %d", got, n)
		}
		return db, residentTables(t, dir)
	}

	db, kept := readAll(index.Options{MappedLimit: -1})
	time.Sleep(time.Second)
	if r := residentTables(t, dir); r < 4<<20 {
		t.Fatalf("with the releaser off, %d bytes of tables are resident after reading %d records (%d right after), want at least 4 MiB", r, n, kept)
	}
	closeDB(t, db)

	db, _ = readAll(index.Options{MappedLimit: 1 << 20})
	defer closeDB(t, db)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := residentTables(t, dir)
		if r < 2<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("with a limit of 1 MiB, %d bytes of tables are still resident 10 s after reading them, want under 2 MiB", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReleasesTablePagesDuringALongRead: a read that lasts (a verify's
// pass over every record, here slowed by its callback) keeps the releaser
// going: the upkeep does not fall asleep while an index call runs, so the
// pages of the tables read stay near the limit during the read, not only
// after it.
func TestReleasesTablePagesDuringALongRead(t *testing.T) {
	dir := t.TempDir()
	const n = 120_000
	writeTables(t, dir, n)
	db, err := index.Open(dir, index.Options{MappedLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	got, peak := 0, int64(0)
	if err := db.Records("src", "", func(string, index.Record) error {
		if got++; got%100 == 0 {
			time.Sleep(time.Millisecond) // 1,200 pauses: the read lasts over a second
		}
		if got%10_000 == 0 {
			peak = max(peak, residentTables(t, dir))
		}
		return nil
	}); err != nil || got != n {
		t.Fatalf("read %d records (%v), want %d", got, err, n)
	}
	if peak >= 4<<20 {
		t.Fatalf("with a limit of 1 MiB, %d bytes of tables were resident during a read of %d records that lasted over a second, want under 4 MiB", peak, n)
	}
}

// writeTables commits n records to a new index in dir, enough for Badger
// to flush tables from n = 40,000, and closes it.
func writeTables(t *testing.T, dir string, n int) {
	t.Helper()
	db, err := index.Open(dir, index.Options{MappedLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := db.Commit("src", fmt.Sprintf("2026-11-22/agent%02d/call-%07d.wav", i%20, i), testRecord(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	closeDB(t, db)
}

// residentTables sums the resident memory of the mappings of dir's tables
// (*.sst) in this process, from /proc/self/smaps.
func residentTables(t *testing.T, dir string) int64 {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	table := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			path := strings.Join(fields[5:], " ")
			table = strings.HasSuffix(path, ".sst") && filepath.Dir(path) == dir
		case table && len(fields) >= 2 && fields[0] == "Rss:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestOpenLeavesNoTablePagesResident: Open reads the whole index part of
// every table (Badger checks each against its checksum), which left those
// pages in the resident set of every run, 20 MiB at 10M records. With the
// compactions deferred (every command's index) they leave it once opened;
// without, they stay (so the measure sees them at all).
func TestOpenLeavesNoTablePagesResident(t *testing.T) {
	dir := t.TempDir()
	writeTables(t, dir, 20_000) // one table, flushed at Close
	t.Run("one process_madvise", func(t *testing.T) { openLeavesNoTablePagesResident(t, dir) })
	t.Run("a madvise a table, as on older kernels", func(t *testing.T) {
		index.AdviseEach.Store(true)
		defer index.AdviseEach.Store(false)
		openLeavesNoTablePagesResident(t, dir)
	})
}

func openLeavesNoTablePagesResident(t *testing.T, dir string) {
	db, err := index.Open(dir, index.Options{MappedLimit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	kept := residentTables(t, dir)
	closeDB(t, db)
	if kept == 0 {
		t.Fatal("with the compactions running, no page of the tables is resident after Open: the test sees nothing to hand back")
	}

	db, err = index.Open(dir, index.Options{MappedLimit: 1 << 30, DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB(t, db)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := residentTables(t, dir)
		if r == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the compactions deferred, %d bytes of tables are still resident 5 s after Open (%d without deferring), want none", r, kept)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec, ok, err := db.Get("src", "2026-11-22/agent07/call-0000007.wav"); err != nil || !ok || rec != testRecord(7) {
		t.Fatalf("after the pages left, Get = %+v, %v, %v; want record 7", rec, ok, err)
	}
}
