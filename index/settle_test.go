package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestSettle leaves level 0 over its target (records written with
// compactions off, as a process that exits right after a burst of writes
// leaves it), and checks that Settle returns only once no level is.
func TestSettle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bopts := badgerOptions(dir, Options{})
	bopts.NumCompactors = 0
	bdb, err := badger.Open(bopts)
	if err != nil {
		t.Fatal(err)
	}
	wb := bdb.NewWriteBatch()
	for i := range 300_000 {
		key := fileKey(kindRecord, "src", fmt.Sprintf("2026-11-22/agent%02d/call-%07d.wav", i%20, i))
		if err := wb.Set(key, appendRecord(nil, Record{Size: int64(i), ETag: "0123456789abcdef0123456789abcdef", VersionID: "v"})); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	over := false
	for _, l := range db.db.Levels() {
		over = over || l.Score >= 1
	}
	if !over {
		t.Fatalf("no level over its target after writing with compactions off: %+v", db.db.Levels())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range db.db.Levels() {
		if l.Score >= 1 {
			t.Errorf("after Settle, level %d (%d tables, %d bytes) is over its target: score %.2f", l.Level, l.NumTables, l.Size, l.Score)
		}
	}
}
