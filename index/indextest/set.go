package indextest

import (
	"maps"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// setSuite is the conformance suite of one of a Store's sets (index.Set);
// Run runs it for each.
type setSuite[T comparable] struct {
	name string // the Store's method: "Retries"
	set  func(index.Store) index.Set[T]
	// entry returns the i-th of distinct entries, for path.
	entry func(i int, path string) T
}

// The suites of a Store's sets, with the entries they write.

func retrySuite() setSuite[index.Retry] {
	return setSuite[index.Retry]{"Retries", index.Store.Retries, func(i int, _ string) index.Retry {
		return index.Retry{Size: int64(i), MtimeNs: 1_790_000_000_000_000_000 + int64(i), SeenNs: -int64(i), Dir: i%2 == 0}
	}}
}

func replicaSuite() setSuite[index.Replica] {
	return setSuite[index.Replica]{"Replicas", index.Store.Replicas, func(i int, path string) index.Replica {
		return index.Replica{VersionID: "v" + path, UploadedNs: 1_790_000_000_000_000_000 + int64(i), CheckNs: -int64(i), Checks: int64(i), Failed: i%2 == 0}
	}}
}

func removedSuite() setSuite[index.Gone] {
	return setSuite[index.Gone]{"Removed", index.Store.Removed, func(i int, path string) index.Gone {
		return index.Gone{Reason: index.GoneReason(i%3 + 1), VersionID: "v" + path, SinceNs: -int64(i), MarkerID: path}
	}}
}

func lockSuite() setSuite[index.Lock] {
	return setSuite[index.Lock]{"Locks", index.Store.Locks, func(i int, path string) index.Lock {
		return index.Lock{VersionID: "v" + path, Mode: "COMPLIANCE", RetainUntilNs: 1_790_000_000_000_000_000 + int64(i), Via: "headers", Hold: i%2 == 0}
	}}
}

func guardSuite() setSuite[index.Guard] {
	return setSuite[index.Guard]{"Guards", index.Store.Guards, func(i int, path string) index.Guard {
		return index.Guard{Reason: path, Deletes: int64(i), Records: -int64(i), SinceNs: 1_790_000_000_000_000_000 + int64(i), Confirmed: int64(i % 2), Dev: uint64(i)}
	}}
}

// counter is what a set's neighbours are checked with.
type counter interface {
	Count(source string) (int64, error)
}

// otherSets returns the sets of s other than the one named.
func otherSets(s index.Store, name string) map[string]counter {
	sets := map[string]counter{
		retrySuite().name:   s.Retries(),
		replicaSuite().name: s.Replicas(),
		removedSuite().name: s.Removed(),
		lockSuite().name:    s.Locks(),
		guardSuite().name:   s.Guards(),
	}
	delete(sets, name)
	return sets
}

func (ss setSuite[T]) run(t *testing.T, f Factory) {
	t.Run("Set", func(t *testing.T) { ss.testSet(t, f) })
	t.Run("Reopen", func(t *testing.T) { ss.testReopen(t, f) })
}

// read reads source's set, checking that it comes in path order and that
// Count agrees.
func (ss setSuite[T]) read(tb testing.TB, s index.Store, source string) map[string]T {
	tb.Helper()
	got := map[string]T{}
	last := ""
	err := ss.set(s).Each(source, func(path string, v T) error {
		if len(got) > 0 && path <= last {
			tb.Errorf("%s: %q after %q, want path order", ss.name, path, last)
		}
		last = path
		got[path] = v
		return nil
	})
	if err != nil {
		tb.Fatalf("%s().Each(%q): %v", ss.name, source, err)
	}
	n, err := ss.set(s).Count(source)
	if err != nil {
		tb.Fatalf("%s().Count(%q): %v", ss.name, source, err)
	}
	if n != int64(len(got)) {
		tb.Fatalf("%s().Count(%q) = %d, it has %d", ss.name, source, n, len(got))
	}
	return got
}

// want fails tb unless source's set is want.
func (ss setSuite[T]) want(tb testing.TB, s index.Store, source string, want map[string]T, after string) {
	tb.Helper()
	if got := ss.read(tb, s, source); !maps.Equal(got, want) {
		tb.Fatalf("%s of %q after %s = %v, want %v", ss.name, source, after, got, want)
	}
}

func (ss setSuite[T]) add(tb testing.TB, s index.Store, source, path string, v T) {
	tb.Helper()
	if err := ss.set(s).Add(source, path, v); err != nil {
		tb.Fatalf("%s().Add(%q): %v", ss.name, path, err)
	}
}

func (ss setSuite[T]) remove(tb testing.TB, s index.Store, source, path string) {
	tb.Helper()
	if err := ss.set(s).Remove(source, path); err != nil {
		tb.Fatalf("%s().Remove(%q): %v", ss.name, path, err)
	}
}

func (ss setSuite[T]) removeIf(tb testing.TB, s index.Store, source, path string, match func(T) bool) {
	tb.Helper()
	if err := ss.set(s).RemoveIf(source, path, match); err != nil {
		tb.Fatalf("%s().RemoveIf(%q): %v", ss.name, path, err)
	}
}

// is matches the entry v.
func is[T comparable](v T) func(T) bool { return func(e T) bool { return e == v } }

// testSet checks a set: replace, remove and remove if, odd paths, no
// effect on records, pending, the other sets and other sources, and NUL
// sources refused.
func (ss setSuite[T]) testSet(t *testing.T, f Factory) {
	s := open(t, f)
	ss.want(t, s, "src", map[string]T{}, "nothing")
	want := map[string]T{}
	paths := oddPaths()
	for i, p := range paths {
		want[p] = ss.entry(i, p)
		ss.add(t, s, "src", p, want[p])
	}
	ss.want(t, s, "src", want, "adding")

	// Adding again replaces and does not count twice; RemoveIf matches
	// the entry there is, so the one it replaced is not removed.
	p := paths[0]
	old := want[p]
	want[p] = ss.entry(len(paths), "replacement")
	ss.add(t, s, "src", p, want[p])
	ss.removeIf(t, s, "src", p, is(old))
	ss.want(t, s, "src", want, "replacing an entry and removing the one replaced")
	ss.removeIf(t, s, "src", p, is(want[p]))
	delete(want, p)
	ss.want(t, s, "src", want, "removing the entry matched")
	// Missing: not an error, and nothing to match.
	ss.removeIf(t, s, "src", p, func(T) bool {
		t.Errorf("%s().RemoveIf(%q) matched a missing entry", ss.name, p)
		return true
	})
	ss.remove(t, s, "src", p)
	ss.want(t, s, "src", want, "removing a missing entry")

	// A set is apart from records, pending, the other sets and other
	// sources.
	wantCount(t, s, "src", 0, 0)
	wantPending(t, s, "src")
	for name, other := range otherSets(s, ss.name) {
		if n, err := other.Count("src"); err != nil || n != 0 {
			t.Fatalf("%s beside %s: count %d, %v; want empty", name, ss.name, n, err)
		}
	}
	ss.want(t, s, "sr", map[string]T{}, `adding to "src"`)
	q := queue(t, s, "src", "x.wav")
	commit(t, s, "src", "x.wav", record(1), q.Seq)
	ss.want(t, s, "src", want, "a commit of another path")

	i := 0
	for path := range want {
		if i++; i%2 == 0 {
			ss.remove(t, s, "src", path)
		} else {
			ss.removeIf(t, s, "src", path, func(T) bool { return true })
		}
	}
	ss.want(t, s, "src", map[string]T{}, "removing all")

	refusesNUL(t, map[string]func(string) error{
		"Add":      func(src string) error { var v T; return ss.set(s).Add(src, "p", v) },
		"Remove":   func(src string) error { return ss.set(s).Remove(src, "p") },
		"RemoveIf": func(src string) error { return ss.set(s).RemoveIf(src, "p", func(T) bool { return true }) },
		"Each":     func(src string) error { return ss.set(s).Each(src, func(string, T) error { return nil }) },
		"Count":    func(src string) error { _, err := ss.set(s).Count(src); return err },
	})
}

// testReopen checks that a set, replaced and removed entries included,
// survives Close and Open.
func (ss setSuite[T]) testReopen(t *testing.T, f Factory) {
	if !f.Persistent {
		t.Skip("the Store does not persist")
	}
	dir := t.TempDir()
	s := f.Open(t, dir)
	want := map[string]T{}
	paths := oddPaths()
	for i, p := range paths {
		want[p] = ss.entry(i, p)
		ss.add(t, s, "src", p, want[p])
	}
	want[paths[0]] = ss.entry(len(paths), "replacement")
	ss.add(t, s, "src", paths[0], want[paths[0]])
	ss.remove(t, s, "src", paths[1])
	delete(want, paths[1])
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = f.Open(t, dir)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ss.want(t, s, "src", want, "reopening")
}

// testReplicaOf checks RemoveIf with index.ReplicaOf: removing a version
// leaves the entry of a newer one, and "" removes any.
func testReplicaOf(t *testing.T, f Factory) {
	s := open(t, f)
	rs := replicaSuite()
	const p = "2020-01-01/a.wav"
	rs.add(t, s, "src", p, index.Replica{VersionID: "older", UploadedNs: 3})
	newer := index.Replica{VersionID: "newer", UploadedNs: 7}
	rs.add(t, s, "src", p, newer)
	rs.removeIf(t, s, "src", p, index.ReplicaOf("older"))
	rs.want(t, s, "src", map[string]index.Replica{p: newer}, "removing the older version")
	rs.removeIf(t, s, "src", p, index.ReplicaOf("newer"))
	rs.want(t, s, "src", map[string]index.Replica{}, "removing the newer version")
	rs.removeIf(t, s, "src", p, index.ReplicaOf("newer")) // missing: not an error
	rs.add(t, s, "src", p, newer)
	rs.removeIf(t, s, "src", p, index.ReplicaOf(""))
	rs.want(t, s, "src", map[string]index.Replica{}, `removing version ""`)
}

// refusesNUL checks that each call, given a source with a NUL byte, fails.
func refusesNUL(t *testing.T, calls map[string]func(source string) error) {
	t.Helper()
	const nul = "a\x00b"
	for name, call := range calls {
		if err := call(nul); err == nil {
			t.Errorf("%s with source %q: no error", name, nul)
		}
	}
}
