// Package indextest is the conformance suite of index.Store: every
// implementation runs it from its own tests, so they all keep the contract
// written on the interface.
package indextest

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// Factory opens the Store under test.
type Factory struct {
	// Open opens the index kept in dir, an empty directory the first time,
	// and fails tb if it cannot.
	Open func(tb testing.TB, dir string) index.Store

	// Persistent says that after Close, Open of the same dir sees all that
	// was written before. The reopen tests are skipped without it.
	Persistent bool
}

// Run runs the suite against the Stores f opens, each test on a new one.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"Get", testGet},
		{"GetMany", testGetMany},
		{"QueueCommit", testQueueCommit},
		{"StaleSeq", testStaleSeq},
		{"SeqZero", testSeqZero},
		{"SeqIncreases", testSeqIncreases},
		{"Touch", testTouch},
		{"Unqueue", testUnqueue},
		{"Delete", testDelete},
		{"GC", testGC},
		{"PendingOrder", testPendingOrder},
		{"SourcePrefixes", testSourcePrefixes},
		{"Records", testRecords},
		{"StopIteration", testStopIteration},
		{"Paths", testPaths},
		{"State", testState},
		{"Sources", testSources},
		{"NULSource", testNULSource},
		{"Concurrent", testConcurrent},
		{"Reopen", testReopen},
		{"Upload", testUpload},
		{retrySuite().name, retrySuite().run},
		{replicaSuite().name, replicaSuite().run},
		{removedSuite().name, removedSuite().run},
		{lockSuite().name, lockSuite().run},
		{guardSuite().name, guardSuite().run},
		{"ReplicaOf", testReplicaOf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, f) })
	}
}

// open opens a Store in a new directory and closes it when the test ends.
func open(tb testing.TB, f Factory) index.Store {
	tb.Helper()
	s := f.Open(tb, tb.TempDir())
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// record returns a Record whose every field depends on i.
func record(i int) index.Record {
	return index.Record{
		Size:       int64(i) * 1000,
		MtimeNs:    1_790_000_000_000_000_000 + int64(i),
		Inode:      uint64(1000 + i),
		Hash:       math.MaxUint64 - uint64(i),
		ETag:       fmt.Sprintf("%032x", i),
		VersionID:  fmt.Sprintf("v.%d_xyz", i),
		Checksum:   fmt.Sprintf("CRC32C:%d==", i),
		UploadedNs: 1_790_000_001_000_000_000 + int64(i),
	}
}

func get(tb testing.TB, s index.Store, source, path string) (index.Record, bool) {
	tb.Helper()
	r, ok, err := s.Get(source, path)
	if err != nil {
		tb.Fatalf("Get(%q, %q): %v", source, path, err)
	}
	return r, ok
}

func wantRecord(tb testing.TB, s index.Store, source, path string, want index.Record) {
	tb.Helper()
	got, ok := get(tb, s, source, path)
	if !ok {
		tb.Fatalf("Get(%q, %q): no record, want %+v", source, path, want)
	}
	if got != want {
		tb.Fatalf("Get(%q, %q) = %+v, want %+v", source, path, got, want)
	}
}

func wantNoRecord(tb testing.TB, s index.Store, source, path string) {
	tb.Helper()
	if got, ok := get(tb, s, source, path); ok {
		tb.Fatalf("Get(%q, %q) = %+v, want none", source, path, got)
	}
}

func queue(tb testing.TB, s index.Store, source, path string) index.Pending {
	tb.Helper()
	p, err := s.Queue(source, path)
	if err != nil {
		tb.Fatalf("Queue(%q, %q): %v", source, path, err)
	}
	if p.Seq == 0 {
		tb.Fatalf("Queue(%q, %q) = Seq 0, want a non-zero Seq", source, path)
	}
	return p
}

func commit(tb testing.TB, s index.Store, source, path string, r index.Record, seq uint64) {
	tb.Helper()
	if err := s.Commit(source, path, r, seq); err != nil {
		tb.Fatalf("Commit(%q, %q, %d): %v", source, path, seq, err)
	}
}

func touch(tb testing.TB, s index.Store, source, path string, r index.Record, seq uint64) {
	tb.Helper()
	if err := s.Touch(source, path, r, seq); err != nil {
		tb.Fatalf("Touch(%q, %q, %d): %v", source, path, seq, err)
	}
}

func unqueue(tb testing.TB, s index.Store, source, path string, seq uint64) {
	tb.Helper()
	if err := s.Unqueue(source, path, seq); err != nil {
		tb.Fatalf("Unqueue(%q, %q, %d): %v", source, path, seq, err)
	}
}

func del(tb testing.TB, s index.Store, source, path string) {
	tb.Helper()
	if err := s.Delete(source, path); err != nil {
		tb.Fatalf("Delete(%q, %q): %v", source, path, err)
	}
}

// pending returns the pending entries of source, path by path, and checks
// they come in path order and that Count agrees with them.
func pending(tb testing.TB, s index.Store, source string) map[string]index.Pending {
	tb.Helper()
	got := make(map[string]index.Pending)
	var paths []string
	err := s.Pending(source, func(path string, p index.Pending) error {
		paths = append(paths, path)
		got[path] = p
		return nil
	})
	if err != nil {
		tb.Fatalf("Pending(%q): %v", source, err)
	}
	if !slices.IsSorted(paths) {
		tb.Errorf("Pending(%q) paths %q not in path order", source, paths)
	}
	if len(got) != len(paths) {
		tb.Errorf("Pending(%q) paths %q: a path came twice", source, paths)
	}
	_, n := count(tb, s, source)
	if n != int64(len(paths)) {
		tb.Errorf("Count(%q) pending = %d, but Pending calls fn %d times", source, n, len(paths))
	}
	return got
}

// wantPending checks that the pending entries of source are at paths, and
// returns them.
func wantPending(tb testing.TB, s index.Store, source string, paths ...string) map[string]index.Pending {
	tb.Helper()
	got := pending(tb, s, source)
	if gotPaths := slices.Sorted(maps.Keys(got)); !slices.Equal(gotPaths, slices.Sorted(slices.Values(paths))) {
		tb.Fatalf("Pending(%q) paths = %q, want %q", source, gotPaths, paths)
	}
	return got
}

// records returns the paths Records calls fn with, and checks that they
// come in path order, that each record is the one Get returns, and, for
// an empty prefix, that Count agrees with them.
func records(tb testing.TB, s index.Store, source, prefix string) []string {
	tb.Helper()
	var paths []string
	var rs []index.Record
	err := s.Records(source, prefix, func(path string, r index.Record) error {
		paths = append(paths, path)
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		tb.Fatalf("Records(%q, %q): %v", source, prefix, err)
	}
	if !slices.IsSorted(paths) {
		tb.Errorf("Records(%q, %q) paths %q not in path order", source, prefix, paths)
	}
	for i, path := range paths {
		if !strings.HasPrefix(path, prefix) {
			tb.Errorf("Records(%q, %q) gave path %q", source, prefix, path)
		}
		wantRecord(tb, s, source, path, rs[i])
	}
	if prefix == "" {
		if n, _ := count(tb, s, source); n != int64(len(paths)) {
			tb.Errorf("Count(%q) records = %d, but Records calls fn %d times", source, n, len(paths))
		}
	}
	return paths
}

func count(tb testing.TB, s index.Store, source string) (records, pending int64) {
	tb.Helper()
	records, pending, err := s.Count(source)
	if err != nil {
		tb.Fatalf("Count(%q): %v", source, err)
	}
	return records, pending
}

func wantCount(tb testing.TB, s index.Store, source string, records, pending int64) {
	tb.Helper()
	gotRecords, gotPending := count(tb, s, source)
	if gotRecords != records || gotPending != pending {
		tb.Fatalf("Count(%q) = %d records, %d pending; want %d, %d", source, gotRecords, gotPending, records, pending)
	}
}

func testGet(t *testing.T, f Factory) {
	s := open(t, f)
	wantNoRecord(t, s, "src", "a.wav")
	wantCount(t, s, "src", 0, 0)

	extremes := index.Record{
		Size:       math.MaxInt64,
		MtimeNs:    math.MinInt64,
		Inode:      math.MaxUint64,
		Hash:       math.MaxUint64,
		ETag:       strings.Repeat("e", 300),
		VersionID:  "null",
		Checksum:   "CRC32C:AAAAAA==",
		UploadedNs: -1,
	}
	for path, r := range map[string]index.Record{
		"a.wav":    record(1),
		"b.wav":    record(2),
		"zero.wav": {},
		"max.wav":  extremes,
	} {
		commit(t, s, "src", path, r, 0)
		wantRecord(t, s, "src", path, r)
	}
	wantNoRecord(t, s, "src", "c.wav")
	wantNoRecord(t, s, "other", "a.wav")
	wantCount(t, s, "src", 4, 0)

	// Commit replaces a record and counts it once.
	commit(t, s, "src", "a.wav", record(3), 0)
	wantRecord(t, s, "src", "a.wav", record(3))
	wantCount(t, s, "src", 4, 0)
}

// testGetMany asks for records in the orders a walk and others may: a
// directory's files sorted, with absent ones, records of subdirectories and
// long runs of other records in between; unsorted; repeated.
func testGetMany(t *testing.T, f Factory) {
	s := open(t, f)
	var stored []string
	for i := range 40 {
		stored = append(stored, fmt.Sprintf("d/f%02d.wav", i))
	}
	stored = append(stored, "d/f05.wav.part", "d/f05/inner.wav", "d/sub/x.wav", "e/a.wav", "c/z.wav")
	stored = append(stored, oddPaths()...)
	for i, p := range stored {
		commit(t, s, "src", p, record(i), 0)
	}
	commit(t, s, "other", "d/f07.wav", record(99), 0)
	want := func(p string) (index.Record, bool) {
		i := slices.Index(stored, p)
		if i < 0 {
			return index.Record{}, false
		}
		return record(i), true
	}
	for name, paths := range map[string][]string{
		"a directory":        {"d/f00.wav", "d/f01.wav", "d/f02.wav", "d/f03.wav"},
		"with gaps":          {"d/a.wav", "d/f00.wav", "d/f00b.wav", "d/f05.wav", "d/f30.wav", "d/f39.wav", "d/zz.wav"},
		"subdirectory next":  {"d/f05", "d/f05.wav", "d/f05/inner.wav", "d/f06.wav", "d/sub/x.wav"},
		"across directories": {"c/z.wav", "d/f10.wav", "e/a.wav", "f/none.wav"},
		"unsorted":           {"d/f20.wav", "d/f03.wav", "e/a.wav", "c/z.wav", "d/f03.wav", "d/f04.wav"},
		"none there":         {"a", "b", "zzz"},
		"odd names":          oddPaths(),
		"one":                {"d/f07.wav"},
	} {
		var got []string
		err := s.GetMany("src", paths, func(i int, r index.Record, ok bool) error {
			got = append(got, paths[i])
			wr, wok := want(paths[i])
			if ok != wok || r != wr {
				t.Errorf("%s: GetMany(%q) = %+v, %v; want %+v, %v", name, paths[i], r, ok, wr, wok)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: GetMany: %v", name, err)
		}
		if !slices.Equal(got, paths) {
			t.Errorf("%s: GetMany called fn for %q, want %q in that order", name, got, paths)
		}
	}
	if err := s.GetMany("src", nil, func(int, index.Record, bool) error {
		t.Error("GetMany of no paths called fn")
		return nil
	}); err != nil {
		t.Errorf("GetMany of no paths: %v", err)
	}
}

func testQueueCommit(t *testing.T, f Factory) {
	s := open(t, f)
	p := queue(t, s, "src", "a.wav")
	if p.QueuedNs == 0 {
		t.Errorf("Queue: QueuedNs = 0, want the time of queuing")
	}
	got := wantPending(t, s, "src", "a.wav")
	if got["a.wav"] != p {
		t.Fatalf("Pending entry = %+v, want %+v as Queue returned", got["a.wav"], p)
	}
	wantNoRecord(t, s, "src", "a.wav")
	wantCount(t, s, "src", 0, 1)

	commit(t, s, "src", "a.wav", record(1), p.Seq)
	wantRecord(t, s, "src", "a.wav", record(1))
	wantPending(t, s, "src")
	wantCount(t, s, "src", 1, 0)

	// The same Seq again is stale: the file is queued anew.
	p2 := queue(t, s, "src", "a.wav")
	commit(t, s, "src", "a.wav", record(2), p.Seq)
	wantPending(t, s, "src", "a.wav")
	commit(t, s, "src", "a.wav", record(3), p2.Seq)
	wantPending(t, s, "src")
	wantRecord(t, s, "src", "a.wav", record(3))
	wantCount(t, s, "src", 1, 0)
}

// testStaleSeq is a file re-queued while its upload ran: the commit of the
// first upload must leave the new entry pending.
func testStaleSeq(t *testing.T, f Factory) {
	s := open(t, f)
	p1 := queue(t, s, "src", "a.wav")
	p2 := queue(t, s, "src", "a.wav")
	if p2.Seq == p1.Seq {
		t.Fatalf("Queue twice: both Seq %d, want different", p1.Seq)
	}
	if got := wantPending(t, s, "src", "a.wav")["a.wav"]; got != p2 {
		t.Fatalf("pending after re-queue = %+v, want the latest %+v", got, p2)
	}
	wantCount(t, s, "src", 0, 1)

	commit(t, s, "src", "a.wav", record(1), p1.Seq)
	wantRecord(t, s, "src", "a.wav", record(1))
	if got := wantPending(t, s, "src", "a.wav")["a.wav"]; got != p2 {
		t.Fatalf("pending after stale commit = %+v, want %+v", got, p2)
	}
	wantCount(t, s, "src", 1, 1)

	commit(t, s, "src", "a.wav", record(2), p2.Seq)
	wantPending(t, s, "src")
	wantCount(t, s, "src", 1, 0)
}

func testSeqZero(t *testing.T, f Factory) {
	s := open(t, f)
	queue(t, s, "src", "a.wav")
	commit(t, s, "src", "a.wav", record(1), 0)
	touch(t, s, "src", "a.wav", record(2), 0)
	unqueue(t, s, "src", "a.wav", 0)
	wantPending(t, s, "src", "a.wav")
	wantRecord(t, s, "src", "a.wav", record(2))
	wantCount(t, s, "src", 1, 1)
}

func testSeqIncreases(t *testing.T, f Factory) {
	s := open(t, f)
	var last uint64
	for i := range 2500 { // past a lease of sequence numbers, if any
		p := queue(t, s, fmt.Sprintf("src%d", i%3), fmt.Sprintf("f%d", i%7))
		if p.Seq <= last {
			t.Fatalf("Queue #%d: Seq %d after %d, want increasing", i, p.Seq, last)
		}
		last = p.Seq
	}
	wantCount(t, s, "src0", 0, 7)
}

func testTouch(t *testing.T, f Factory) {
	s := open(t, f)
	// Touch of a path without a record writes one.
	p := queue(t, s, "src", "a.wav")
	touch(t, s, "src", "a.wav", record(1), p.Seq)
	wantRecord(t, s, "src", "a.wav", record(1))
	wantPending(t, s, "src")
	wantCount(t, s, "src", 1, 0)

	// Touch replaces the record; a stale Seq keeps the entry.
	p1 := queue(t, s, "src", "a.wav")
	p2 := queue(t, s, "src", "a.wav")
	touch(t, s, "src", "a.wav", record(2), p1.Seq)
	wantRecord(t, s, "src", "a.wav", record(2))
	wantPending(t, s, "src", "a.wav")
	wantCount(t, s, "src", 1, 1)
	touch(t, s, "src", "a.wav", record(3), p2.Seq)
	wantRecord(t, s, "src", "a.wav", record(3))
	wantPending(t, s, "src")
	wantCount(t, s, "src", 1, 0)
}

func testUnqueue(t *testing.T, f Factory) {
	s := open(t, f)
	// Missing entries are not an error.
	unqueue(t, s, "src", "never.wav", 1)
	unqueue(t, s, "nosource", "never.wav", 1)
	wantCount(t, s, "src", 0, 0)

	pa := queue(t, s, "src", "a.wav")
	pb1 := queue(t, s, "src", "b.wav")
	pb2 := queue(t, s, "src", "b.wav")
	wantCount(t, s, "src", 0, 2)

	unqueue(t, s, "src", "b.wav", pb1.Seq)
	wantPending(t, s, "src", "a.wav", "b.wav")
	unqueue(t, s, "src", "b.wav", pb2.Seq)
	wantPending(t, s, "src", "a.wav")
	unqueue(t, s, "src", "b.wav", pb2.Seq)
	unqueue(t, s, "src", "a.wav", pb2.Seq)
	wantPending(t, s, "src", "a.wav")
	wantCount(t, s, "src", 0, 1)

	// Unqueue leaves the record alone.
	commit(t, s, "src", "a.wav", record(1), 0)
	unqueue(t, s, "src", "a.wav", pa.Seq)
	wantPending(t, s, "src")
	wantRecord(t, s, "src", "a.wav", record(1))
	wantCount(t, s, "src", 1, 0)
}

// testGC: garbage collection after overwrites and deletes keeps what the
// index holds.
func testGC(t *testing.T, f Factory) {
	s := open(t, f)
	for i := range 100 {
		commit(t, s, "src", fmt.Sprintf("f%03d", i), record(i), 0)
	}
	for i := range 100 {
		if i%2 == 0 {
			del(t, s, "src", fmt.Sprintf("f%03d", i))
		} else {
			commit(t, s, "src", fmt.Sprintf("f%03d", i), record(i+1000), 0)
		}
	}
	queue(t, s, "src", "queued.wav")
	if err := s.GC(); err != nil {
		t.Fatalf("GC: %v", err)
	}
	wantCount(t, s, "src", 50, 1)
	for i := 1; i < 100; i += 2 {
		wantRecord(t, s, "src", fmt.Sprintf("f%03d", i), record(i+1000))
	}
	wantPending(t, s, "src", "queued.wav")
}

func testDelete(t *testing.T, f Factory) {
	s := open(t, f)
	del(t, s, "src", "never.wav")
	wantCount(t, s, "src", 0, 0)

	commit(t, s, "src", "rec.wav", record(1), 0)
	queue(t, s, "src", "queued.wav")
	commit(t, s, "src", "both.wav", record(2), 0)
	queue(t, s, "src", "both.wav")
	commit(t, s, "other", "rec.wav", record(3), 0)
	queue(t, s, "other", "rec.wav")
	wantCount(t, s, "src", 2, 2)

	del(t, s, "src", "rec.wav")
	wantNoRecord(t, s, "src", "rec.wav")
	wantCount(t, s, "src", 1, 2)
	del(t, s, "src", "queued.wav")
	wantPending(t, s, "src", "both.wav")
	wantCount(t, s, "src", 1, 1)
	del(t, s, "src", "both.wav")
	wantNoRecord(t, s, "src", "both.wav")
	wantPending(t, s, "src")
	wantCount(t, s, "src", 0, 0)
	del(t, s, "src", "both.wav")
	wantCount(t, s, "src", 0, 0)

	// Other sources keep their own.
	wantRecord(t, s, "other", "rec.wav", record(3))
	wantPending(t, s, "other", "rec.wav")
	wantCount(t, s, "other", 1, 1)

	// A deleted path can come back.
	p := queue(t, s, "src", "rec.wav")
	commit(t, s, "src", "rec.wav", record(4), p.Seq)
	wantRecord(t, s, "src", "rec.wav", record(4))
	wantCount(t, s, "src", 1, 0)
}

func testPendingOrder(t *testing.T, f Factory) {
	s := open(t, f)
	paths := []string{"b/2", "a", "b/10", "b", "a/b", "ä", "B", "b/1"}
	for _, p := range paths {
		queue(t, s, "src", p)
	}
	// pending checks the order; wantPending the set.
	wantPending(t, s, "src", paths...)
	wantPending(t, s, "other")
}

// testSourcePrefixes checks that sources are told apart even when one is a
// prefix of another, or of another's source and path run together.
func testSourcePrefixes(t *testing.T, f Factory) {
	s := open(t, f)
	for i, src := range []string{"a", "ab", "", "a/b", "a b"} {
		queue(t, s, src, "b")
		queue(t, s, src, "x/"+src)
		commit(t, s, src, "b", record(i), 0)
		commit(t, s, src, "r/"+src, record(i), 0)
	}
	for i, src := range []string{"a", "ab", "", "a/b", "a b"} {
		wantPending(t, s, src, "b", "x/"+src)
		if got, want := records(t, s, src, ""), []string{"b", "r/" + src}; !slices.Equal(got, want) {
			t.Errorf("Records(%q, \"\") = %q, want %q", src, got, want)
		}
		if got, want := records(t, s, src, "b"), []string{"b"}; !slices.Equal(got, want) {
			t.Errorf("Records(%q, \"b\") = %q, want %q", src, got, want)
		}
		wantRecord(t, s, src, "b", record(i))
		wantCount(t, s, src, 2, 2)
	}
	wantNoRecord(t, s, "a", "b/x")
	wantCount(t, s, "abc", 0, 0)
}

func testRecords(t *testing.T, f Factory) {
	s := open(t, f)
	paths := []string{
		"2026-11-21/a.wav",
		"2026-11-22/b.wav",
		"2026-11-22/a.wav",
		"2026-11-22/sub/c.wav",
		"2026-11-220/x.wav",
		"2026-11-23/a.wav",
		"2026-11-2",
	}
	for i, p := range paths {
		commit(t, s, "src", p, record(i), 0)
	}
	queue(t, s, "src", "2026-11-22/pending-only.wav")
	commit(t, s, "other", "2026-11-22/other.wav", record(99), 0)

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", slices.Sorted(slices.Values(paths))},
		{"2026-11-22/", []string{"2026-11-22/a.wav", "2026-11-22/b.wav", "2026-11-22/sub/c.wav"}},
		{"2026-11-22", []string{"2026-11-22/a.wav", "2026-11-22/b.wav", "2026-11-22/sub/c.wav", "2026-11-220/x.wav"}},
		{"2026-11-2", []string{"2026-11-2", "2026-11-21/a.wav", "2026-11-22/a.wav", "2026-11-22/b.wav", "2026-11-22/sub/c.wav", "2026-11-220/x.wav", "2026-11-23/a.wav"}},
		{"2026-11-22/b.wav", []string{"2026-11-22/b.wav"}},
		{"2026-11-22/b.wav2", nil},
		{"2027", nil},
		{"1", nil},
	}
	for _, tt := range tests {
		if got := records(t, s, "src", tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("Records(%q, %q) = %q, want %q", "src", tt.prefix, got, tt.want)
		}
	}
	if got := records(t, s, "none", ""); got != nil {
		t.Errorf("Records of an unknown source = %q, want none", got)
	}
}

func testStopIteration(t *testing.T, f Factory) {
	s := open(t, f)
	for _, p := range []string{"a", "b", "c"} {
		queue(t, s, "src", p)
		commit(t, s, "src", p, record(1), 0)
	}
	errStop := errors.New("stop")

	var calls int
	err := s.Pending("src", func(string, index.Pending) error {
		calls++
		return errStop
	})
	if !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("Pending with fn failing: %d calls, error %v; want 1 call, %v", calls, err, errStop)
	}

	// failSecond fails on its 2nd call; wantStopped checks that it stopped.
	failSecond := func() error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	}
	wantStopped := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, errStop) || calls != 2 {
			t.Errorf("%s with fn failing on the 2nd: %d calls, error %v; want 2 calls, %v", name, calls, err, errStop)
		}
		calls = 0
	}
	calls = 0
	wantStopped("Records", s.Records("src", "", func(string, index.Record) error { return failSecond() }))
	wantStopped("GetMany", s.GetMany("src", []string{"a", "b", "c"}, func(int, index.Record, bool) error { return failSecond() }))
}

// oddPaths returns file names a file system may hold: any bytes but NUL.
func oddPaths() []string {
	return []string{
		"plain.wav",
		"with space/and  two.wav",
		" leading and trailing ",
		"ünïcödé/日本語/🎧.wav",
		"latin1-\xe9t\xe9.wav",  // invalid UTF-8
		"\xff\xfe\xfd",          // invalid UTF-8, sorts last
		"\x01\x02\x03\x7f\x80",  // control and high bytes
		"back\\slash/new\nline", // a newline is valid in a file name
		"%2F/%00/..",
		strings.Repeat("long/", 800) + "end.wav", // longer than PATH_MAX
	}
}

func testPaths(t *testing.T, f Factory) {
	s := open(t, f)
	paths := oddPaths()
	seqs := make(map[string]uint64)
	for _, p := range paths {
		seqs[p] = queue(t, s, "src", p).Seq
	}
	wantPending(t, s, "src", paths...)
	wantCount(t, s, "src", 0, int64(len(paths)))

	for i, p := range paths {
		if i%2 == 0 {
			commit(t, s, "src", p, record(i), seqs[p])
		} else {
			touch(t, s, "src", p, record(i), seqs[p])
		}
	}
	for i, p := range paths {
		wantRecord(t, s, "src", p, record(i))
	}
	if got, want := records(t, s, "src", ""), slices.Sorted(slices.Values(paths)); !slices.Equal(got, want) {
		t.Fatalf("Records = %q, want %q", got, want)
	}
	for _, p := range paths {
		if got := records(t, s, "src", p); !slices.Contains(got, p) {
			t.Errorf("Records(%q, %q) = %q, want it to contain the path itself", "src", p, got)
		}
	}
	wantPending(t, s, "src")
	wantCount(t, s, "src", int64(len(paths)), 0)

	for _, p := range paths[:3] {
		del(t, s, "src", p)
	}
	wantCount(t, s, "src", int64(len(paths)-3), 0)
}

func testState(t *testing.T, f Factory) {
	s := open(t, f)
	state := func(source string) index.SourceState {
		t.Helper()
		st, err := s.State(source)
		if err != nil {
			t.Fatalf("State(%q): %v", source, err)
		}
		return st
	}
	if got := state("src"); got != (index.SourceState{}) {
		t.Fatalf("State of a new source = %+v, want zero", got)
	}
	for _, want := range []index.SourceState{{FullWalkNs: 1_790_000_000_123_456_789}, {FullWalkNs: -5}, {}} {
		if err := s.SetState("src", want); err != nil {
			t.Fatalf("SetState: %v", err)
		}
		if got := state("src"); got != want {
			t.Fatalf("State = %+v, want %+v", got, want)
		}
	}
	if err := s.SetState("a", index.SourceState{FullWalkNs: 7}); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	if got := state("ab"); got != (index.SourceState{}) {
		t.Fatalf("State(%q) = %+v after SetState(%q), want zero", "ab", got, "a")
	}
	wantCount(t, s, "a", 0, 0)
}

// testSources: Sources lists, sorted, the sources with records, pending
// entries or a state, and no other.
func testSources(t *testing.T, f Factory) {
	s := open(t, f)
	list := func() []string {
		t.Helper()
		got, err := s.Sources()
		if err != nil {
			t.Fatalf("Sources: %v", err)
		}
		return got
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("Sources of an empty index = %q, want none", got)
	}
	commit(t, s, "b", "x", record(1), 0)
	queue(t, s, "c", "y")
	if err := s.SetState("a", index.SourceState{FullWalkNs: 1, Root: "/r", Destination: "s3://b/p/"}); err != nil {
		t.Fatal(err)
	}
	wantCount(t, s, "d", 0, 0) // reading a source does not make it known
	if got, want := list(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("Sources = %q, want %q", got, want)
	}
	if st, err := s.State("a"); err != nil || st.Root != "/r" || st.Destination != "s3://b/p/" {
		t.Errorf("State(a) = %+v, %v; want Root and Destination kept", st, err)
	}
}

// testNULSource checks that every method refuses a source with a NUL byte,
// which would be ambiguous with the path.
func testNULSource(t *testing.T, f Factory) {
	s := open(t, f)
	const src = "a\x00b"
	noop := func(string, index.Pending) error { return nil }
	noopR := func(string, index.Record) error { return nil }
	calls := map[string]func() error{
		"Get":     func() error { _, _, err := s.Get(src, "p"); return err },
		"Queue":   func() error { _, err := s.Queue(src, "p"); return err },
		"Commit":  func() error { return s.Commit(src, "p", record(1), 1) },
		"Touch":   func() error { return s.Touch(src, "p", record(1), 1) },
		"Unqueue": func() error { return s.Unqueue(src, "p", 1) },
		"Delete":  func() error { return s.Delete(src, "p") },
		"Pending": func() error { return s.Pending(src, noop) },
		"Records": func() error { return s.Records(src, "", noopR) },
		"GetMany": func() error {
			return s.GetMany(src, []string{"p"}, func(int, index.Record, bool) error { return nil })
		},
		"Count":    func() error { _, _, err := s.Count(src); return err },
		"State":    func() error { _, err := s.State(src); return err },
		"SetState": func() error { return s.SetState(src, index.SourceState{FullWalkNs: 1}) },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with source %q: no error", name, src)
		}
	}
	wantCount(t, s, "a", 0, 0)
	wantPending(t, s, "a")
}

// testConcurrent runs the upload pool's pattern from 8 goroutines: queue,
// then commit with the Seq queued, partly on paths every goroutine shares.
// For every path the last Queue is followed by a Commit with its Seq, so
// nothing may stay pending, and the counts must be exact.
func testConcurrent(t *testing.T, f Factory) {
	s := open(t, f)
	const (
		workers = 8
		files   = 60
	)
	var (
		mu   sync.Mutex
		seqs = make(map[uint64]bool)
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range files {
				for _, path := range []string{fmt.Sprintf("w%d/%03d", w, i), fmt.Sprintf("shared/%03d", i)} {
					p, err := s.Queue("src", path)
					if err != nil {
						t.Errorf("Queue(%q): %v", path, err)
						return
					}
					mu.Lock()
					if seqs[p.Seq] {
						t.Errorf("Queue(%q): Seq %d handed out twice", path, p.Seq)
					}
					seqs[p.Seq] = true
					mu.Unlock()
					if err := s.Commit("src", path, record(i), p.Seq); err != nil {
						t.Errorf("Commit(%q): %v", path, err)
						return
					}
				}
				if i%10 == 0 {
					path := fmt.Sprintf("w%d/%03d", w, i)
					if err := s.Delete("src", path); err != nil {
						t.Errorf("Delete(%q): %v", path, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	wantPending(t, s, "src")
	deleted := workers * files / 10
	wantCount(t, s, "src", workers*files+files-int64(deleted), 0)
	records(t, s, "src", "")
}

func testReopen(t *testing.T, f Factory) {
	if !f.Persistent {
		t.Skip("the Store does not persist")
	}
	paths := oddPaths()
	dir := t.TempDir()
	s := f.Open(t, dir)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	for i, p := range paths {
		q := queue(t, s, "src", p)
		if i%3 != 0 {
			commit(t, s, "src", p, record(i), q.Seq)
		}
	}
	maxSeq := queue(t, s, "src2", "a.wav").Seq // the last handed out
	commit(t, s, "src2", "b.wav", record(1), 0)
	state := index.SourceState{FullWalkNs: 1_790_000_000_000_000_001}
	if err := s.SetState("src", state); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	wantPendingBefore := pending(t, s, "src")
	wantRecordsBefore := records(t, s, "src", "")
	recordsBefore, pendingBefore := count(t, s, "src")

	for round := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = f.Open(t, dir)

		if got := pending(t, s, "src"); !maps.Equal(got, wantPendingBefore) {
			t.Fatalf("round %d: Pending after reopen = %v, want %v", round, got, wantPendingBefore)
		}
		if got := records(t, s, "src", ""); !slices.Equal(got, wantRecordsBefore) {
			t.Fatalf("round %d: Records after reopen = %q, want %q", round, got, wantRecordsBefore)
		}
		for i, p := range paths {
			if i%3 != 0 {
				wantRecord(t, s, "src", p, record(i))
			}
		}
		wantCount(t, s, "src", recordsBefore, pendingBefore)
		wantPending(t, s, "src2", "a.wav")
		wantRecord(t, s, "src2", "b.wav", record(1))
		wantCount(t, s, "src2", 1, 1)
		if got, err := s.State("src"); err != nil || got != state {
			t.Fatalf("round %d: State after reopen = %+v, %v; want %+v", round, got, err, state)
		}

		p := queue(t, s, "src", fmt.Sprintf("after-reopen-%d", round))
		if p.Seq <= maxSeq {
			t.Fatalf("round %d: Queue after reopen: Seq %d, want above %d", round, p.Seq, maxSeq)
		}
		maxSeq = p.Seq
		unqueue(t, s, "src", fmt.Sprintf("after-reopen-%d", round), p.Seq)
	}
}

// testUpload is the multipart upload a pending entry carries: kept by a
// re-queue, changed only for the entry's Seq, dropped with the entry, and
// (for a persistent Store) still there after a reopen.
func testUpload(t *testing.T, f Factory) {
	dir := t.TempDir()
	s := f.Open(t, dir)
	getPending := func(s index.Store) (index.Pending, bool) {
		t.Helper()
		p, ok, err := s.GetPending("src", "big.mp4")
		if err != nil {
			t.Fatalf("GetPending: %v", err)
		}
		return p, ok
	}
	if _, ok := getPending(s); ok {
		t.Fatalf("GetPending of a file never queued: ok")
	}
	if err := s.SetUpload("src", "big.mp4", 1, &index.Upload{ID: "x"}); err != nil {
		t.Fatalf("SetUpload without a pending entry: %v", err)
	}
	if _, ok := getPending(s); ok {
		t.Fatalf("SetUpload without a pending entry made one")
	}
	p := queue(t, s, "src", "big.mp4")
	u := &index.Upload{
		ID: "upload-1", Key: "cam/big.mp4", PartSize: 8 << 20,
		Size: 100 << 20, MtimeNs: 1_795_000_000_123_456_789, Inode: 77, Hash: math.MaxUint64,
		Parts: []index.UploadedPart{
			{Number: 1, Size: 8 << 20, Checksum: "yZRlqg==", ETag: "9b2cf535f27731c974343645a3985328"},
			{Number: 3, Size: 8 << 20, Checksum: "", ETag: "e"},
		},
		Refused: 1,
	}
	if err := s.SetUpload("src", "big.mp4", p.Seq, u); err != nil {
		t.Fatalf("SetUpload: %v", err)
	}
	if got, _ := getPending(s); !reflect.DeepEqual(got.Upload, u) || got.Seq != p.Seq {
		t.Fatalf("GetPending after SetUpload = %+v, want Seq %d and upload %+v", got, p.Seq, u)
	}
	if got := wantPending(t, s, "src", "big.mp4")["big.mp4"]; !reflect.DeepEqual(got.Upload, u) {
		t.Fatalf("Pending: upload %+v, want %+v", got.Upload, u)
	}
	if err := s.SetUpload("src", "big.mp4", p.Seq+1000, nil); err != nil {
		t.Fatalf("SetUpload of another Seq: %v", err)
	}
	if got, _ := getPending(s); !reflect.DeepEqual(got.Upload, u) {
		t.Fatalf("SetUpload of another Seq changed the upload to %+v", got.Upload)
	}
	p2 := queue(t, s, "src", "big.mp4")
	if got, _ := getPending(s); got.Seq != p2.Seq || !reflect.DeepEqual(got.Upload, u) {
		t.Fatalf("after a re-queue: %+v, want Seq %d and the upload kept", got, p2.Seq)
	}
	wantCount(t, s, "src", 0, 1)
	if f.Persistent {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = f.Open(t, dir)
		if got, _ := getPending(s); !reflect.DeepEqual(got.Upload, u) {
			t.Fatalf("after reopen: upload %+v, want %+v", got.Upload, u)
		}
	}
	if err := s.SetUpload("src", "big.mp4", p2.Seq, nil); err != nil {
		t.Fatalf("SetUpload nil: %v", err)
	}
	if got, _ := getPending(s); got.Upload != nil {
		t.Fatalf("after SetUpload nil: upload %+v", got.Upload)
	}
	if err := s.SetUpload("src", "big.mp4", p2.Seq, u); err != nil {
		t.Fatalf("SetUpload: %v", err)
	}
	commit(t, s, "src", "big.mp4", record(1), p2.Seq)
	if _, ok := getPending(s); ok {
		t.Fatalf("a committed file is still pending")
	}
	if queue(t, s, "src", "big.mp4").Upload != nil {
		t.Fatalf("Queue after Commit brought the upload back")
	}
	wantCount(t, s, "src", 1, 1)
}
