package indextest

import (
	"maps"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// gones reads source's gone set (see readSet).
func gones(tb testing.TB, s index.Store, source string) map[string]index.Gone {
	tb.Helper()
	return readSet(tb, "Gones", source, s.Gones, s.CountGones)
}

// testGoneSet checks the gone set: replace, remove, odd paths, persistence
// across reopen, no effect on records and other sources, NUL sources
// refused.
func testGoneSet(t *testing.T, f Factory) {
	dir := t.TempDir()
	s := f.Open(t, dir)
	if got := gones(t, s, "src"); len(got) != 0 {
		t.Fatalf("gone set of a new source = %v, want empty", got)
	}
	want := map[string]index.Gone{}
	for i, p := range oddPaths() {
		g := index.Gone{Reason: index.GoneReason(i%3 + 1), VersionID: "v" + p, SinceNs: -int64(i), MarkerID: p}
		if err := s.AddGone("src", p, g); err != nil {
			t.Fatal(err)
		}
		want[p] = g
	}
	p := oddPaths()[0]
	want[p] = index.Gone{Reason: index.GonePropagated, MarkerID: "m"}
	if err := s.AddGone("src", p, want[p]); err != nil {
		t.Fatal(err)
	}
	if got := gones(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Gones = %v, want %v", got, want)
	}
	for range 2 { // missing the second time: not an error
		if err := s.RemoveGone("src", p); err != nil {
			t.Fatal(err)
		}
	}
	delete(want, p)
	wantCount(t, s, "src", 0, 0)
	if got := gones(t, s, "sr"); len(got) != 0 {
		t.Fatalf("gone set of %q = %v, want empty", "sr", got)
	}
	if f.Persistent {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = f.Open(t, dir)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if got := gones(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Gones after remove (and reopen) = %v, want %v", got, want)
	}

	refusesNUL(t, map[string]func(string) error{
		"AddGone":    func(src string) error { return s.AddGone(src, "p", index.Gone{}) },
		"RemoveGone": func(src string) error { return s.RemoveGone(src, "p") },
		"Gones":      func(src string) error { return s.Gones(src, func(string, index.Gone) error { return nil }) },
		"CountGones": func(src string) error { _, err := s.CountGones(src); return err },
	})
}
