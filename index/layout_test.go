package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/y"
)

// TestIncrementalTableSpansTheEnd: the table an incremental run's writes
// make (today's records, their pending entries and deletions, the counts,
// the sequence) starts at today's first record: its compaction meets the
// tables at the end of the key space, not every table of the level below.
func TestIncrementalTableSpansTheEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir, Options{DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	commitCalls(t, db, 0, 5000) // 2026-12-07/agentNN/…: the days before
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, Options{DeferCompactions: true})
	if err != nil {
		t.Fatal(err)
	}
	today := make([]string, 500)
	for i := range today {
		today[i] = fmt.Sprintf("2026-12-08/agent%02d/call-%07d.wav", i%20, i)
		p, err := db.Queue("src", today[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Commit("src", today[i], Record{Size: 1}, p.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // flushes the run's writes into a table
		t.Fatal(err)
	}
	bdb, err := badger.Open(badgerOptions(dir, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	tables := bdb.Tables()
	if len(tables) != 2 || tables[0].Level != 0 || tables[1].Level != 0 {
		t.Fatalf("two runs made %+v, want two tables in level 0", tables)
	}
	last := slices.MaxFunc(tables, func(a, b badger.TableInfo) int { return cmp.Compare(a.ID, b.ID) })
	first := fileKey(kindRecord, "src", slices.Min(today))
	if left := y.ParseKey(last.Left); bytes.Compare(left, first) < 0 {
		t.Errorf("the second run's table starts at %q, before its first record %q: it spans the records of every day before", left, first)
	}
}

// TestOpenMovesBookkeeping: an index written before the counts, the
// sequence and the pending entries moved after the records opens with them
// moved, loses none (a pending entry's upload, the next Seq), passes
// Check, and leaves at the old counts key a value older binaries refuse.
func TestOpenMovesBookkeeping(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitCalls(t, db, 0, 3000)
	seqs := make([]uint64, 2500) // more than a transaction of the move
	for i := range seqs {
		p, err := db.Queue("src", fmt.Sprintf("2026-12-08/queued-%05d", i))
		if err != nil {
			t.Fatal(err)
		}
		seqs[i] = p.Seq
	}
	last := seqs[len(seqs)-1]
	up := &Upload{ID: "upload-1", Key: "rec/2026-12-08/queued-00007", PartSize: 8 << 20}
	if err := db.SetUpload("src", "2026-12-08/queued-00007", seqs[7], up); err != nil {
		t.Fatal(err)
	}
	if err := db.seq.Release(); err != nil { // as Close would, so the old key holds the next Seq
		t.Fatal(err)
	}
	db.seq = nil
	// Back to the old layout, as a binary before the move wrote it.
	toOld := map[byte]byte{kindCounts: oldKindCounts, kindPending: oldKindPending, seqKey[0]: oldSeqKey[0]}
	rekey(t, db, toOld)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, dir, []byte{oldKindPending}); n != 2500 {
		t.Fatalf("the old layout holds %d pending entries, want 2500", n)
	}

	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	records, pending, err := db.Count("src")
	if err != nil || records != 3000 || pending != 2500 {
		t.Fatalf("after the move: %d records, %d pending (%v), want 3000 and 2500", records, pending, err)
	}
	n := 0
	if err := db.Pending("src", func(string, Pending) error { n++; return nil }); err != nil || n != 2500 {
		t.Fatalf("after the move, Pending lists %d entries (%v), want 2500", n, err)
	}
	p, ok, err := db.GetPending("src", "2026-12-08/queued-00007")
	if err != nil || !ok || p.Upload == nil || p.Upload.ID != up.ID {
		t.Fatalf("after the move, the pending entry's upload is %+v (found %v, %v), want %+v", p.Upload, ok, err, up)
	}
	next, err := db.Queue("src", "2026-12-08/after")
	if err != nil {
		t.Fatal(err)
	}
	if next.Seq <= last {
		t.Errorf("after the move, Queue handed out Seq %d, not after the last before it, %d", next.Seq, last)
	}
	if problems, err := db.Check(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("Check after the move: %v %v", problems, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range [][]byte{{oldKindPending}, []byte(oldSeqKey)} {
		if n := countPrefix(t, dir, prefix); n != 0 {
			t.Errorf("after the move, %d keys are left under %q", n, prefix)
		}
	}
	db, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	err = db.view(func(txn *badger.Txn) error {
		item, err := txn.Get(sourceKey(oldKindCounts, "src"))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if _, err := decodeCounts(v); err == nil {
				t.Errorf("the old counts key holds %x, which a binary before the move decodes as counts", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("the old counts key: %v", err)
	}
	if _, pending, err := db.Count("src"); err != nil || pending != 2501 {
		t.Errorf("opened again: %d pending (%v), want 2501", pending, err)
	}

	// An older binary run since leased numbers from the old sequence key
	// (and failed at the counts): the sequence goes on after the higher.
	for _, old := range []uint64{1, next.Seq + 5000} {
		before, err := db.Queue("src", fmt.Sprintf("2026-12-08/before-%d", old))
		if err != nil {
			t.Fatal(err)
		}
		err = db.db.Update(func(txn *badger.Txn) error {
			return txn.Set([]byte(oldSeqKey), binary.BigEndian.AppendUint64(nil, old))
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if db, err = Open(dir, Options{}); err != nil {
			t.Fatal(err)
		}
		after, err := db.Queue("src", fmt.Sprintf("2026-12-08/after-%d", old))
		if err != nil {
			t.Fatal(err)
		}
		if after.Seq <= max(before.Seq, old) {
			t.Errorf("with %d at the old sequence key, Queue handed out Seq %d after %d", old, after.Seq, before.Seq)
		}
	}
}

// rekey moves every key whose kind is in kinds to the kind it maps to.
func rekey(tb testing.TB, db *DB, kinds map[byte]byte) {
	tb.Helper()
	err := db.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		var keys, values [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			if _, ok := kinds[it.Item().Key()[0]]; ok {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				keys, values = append(keys, it.Item().KeyCopy(nil)), append(values, v)
			}
		}
		it.Close()
		for i, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
			if err := txn.Set(slices.Concat([]byte{kinds[k[0]]}, k[1:]), values[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// countPrefix opens the index at dir in Badger alone and counts the keys
// under prefix.
func countPrefix(tb testing.TB, dir string, prefix []byte) int {
	tb.Helper()
	bdb, err := badger.Open(badgerOptions(dir, Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	defer bdb.Close()
	n := 0
	err = bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
