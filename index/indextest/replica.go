package indextest

import (
	"maps"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// replicas reads source's replica set (see readSet).
func replicas(tb testing.TB, s index.Store, source string) map[string]index.Replica {
	tb.Helper()
	return readSet(tb, "Replicas", source, s.Replicas, s.CountReplicas)
}

func addReplica(tb testing.TB, s index.Store, source, path string, r index.Replica) {
	tb.Helper()
	if err := s.AddReplica(source, path, r); err != nil {
		tb.Fatalf("AddReplica(%q): %v", path, err)
	}
}

func removeReplica(tb testing.TB, s index.Store, source, path, versionID string) {
	tb.Helper()
	if err := s.RemoveReplica(source, path, versionID); err != nil {
		tb.Fatalf("RemoveReplica(%q, %q): %v", path, versionID, err)
	}
}

// testReplicaSet checks the replica set: replace, remove only the version
// asked for, odd paths, no effect on records, pending, the retry set and
// other sources, and NUL sources refused.
func testReplicaSet(t *testing.T, f Factory) {
	s := open(t, f)
	if got := replicas(t, s, "src"); len(got) != 0 {
		t.Fatalf("replica set of a new source = %v, want empty", got)
	}
	want := map[string]index.Replica{}
	for i, p := range oddPaths() {
		r := index.Replica{VersionID: "v" + p, UploadedNs: 1_790_000_000_000_000_000 + int64(i), CheckNs: -int64(i), Checks: int64(i), Failed: i%2 == 0}
		addReplica(t, s, "src", p, r)
		want[p] = r
	}
	if got := replicas(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Replicas = %v, want %v", got, want)
	}
	// Adding again replaces and does not count twice; removing another
	// version leaves the newer one.
	p := oddPaths()[0]
	old := want[p].VersionID
	want[p] = index.Replica{VersionID: "newer", UploadedNs: 7}
	addReplica(t, s, "src", p, want[p])
	removeReplica(t, s, "src", p, old)
	if got := replicas(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Replicas after replacing %q and removing its older version = %v, want %v", p, got, want)
	}
	removeReplica(t, s, "src", p, "newer")
	removeReplica(t, s, "src", p, "newer") // missing: not an error
	delete(want, p)
	if got := replicas(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Replicas after removing %q = %v, want %v", p, got, want)
	}
	// The replica set is apart from records, pending, retries and other
	// sources.
	wantCount(t, s, "src", 0, 0)
	wantPending(t, s, "src")
	if got := retries(t, s, "src"); len(got) != 0 {
		t.Fatalf("retry set beside the replica set = %v, want empty", got)
	}
	if got := replicas(t, s, "sr"); len(got) != 0 {
		t.Fatalf("replica set of %q = %v, want empty", "sr", got)
	}
	q := queue(t, s, "src", "x.wav")
	commit(t, s, "src", "x.wav", record(1), q.Seq)
	if got := replicas(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Replicas after a commit of another path = %v, want %v", got, want)
	}
	for path := range want {
		removeReplica(t, s, "src", path, "")
	}
	if got := replicas(t, s, "src"); len(got) != 0 {
		t.Fatalf("Replicas after removing all = %v, want empty", got)
	}

	refusesNUL(t, map[string]func(string) error{
		"AddReplica":    func(src string) error { return s.AddReplica(src, "p", index.Replica{}) },
		"RemoveReplica": func(src string) error { return s.RemoveReplica(src, "p", "") },
		"Replicas":      func(src string) error { return s.Replicas(src, func(string, index.Replica) error { return nil }) },
		"CountReplicas": func(src string) error { _, err := s.CountReplicas(src); return err },
	})
}

// testReplicaReopen checks that the replica set survives Close and Open.
func testReplicaReopen(t *testing.T, f Factory) {
	checkReopen(t, f, map[string]index.Replica{
		"2020-01-01/a.wav": {VersionID: "v1", UploadedNs: 3, CheckNs: 4, Checks: 5},
		"2020-01-02/b.wav": {VersionID: "v2", Failed: true},
	}, index.Store.AddReplica, replicas)
}
