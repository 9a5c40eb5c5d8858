package indextest

import (
	"maps"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// retries reads source's retry set, checking that it comes in path order
// and that CountRetries agrees.
func retries(tb testing.TB, s index.Store, source string) map[string]index.Retry {
	tb.Helper()
	return readSet(tb, "Retries", source, s.Retries, s.CountRetries)
}

// readSet reads one of source's sets with each (Retries, Replicas, ...),
// checking that it comes in path order and that count agrees.
func readSet[T any](tb testing.TB, name, source string, each func(string, func(string, T) error) error, count func(string) (int64, error)) map[string]T {
	tb.Helper()
	got := map[string]T{}
	last := ""
	err := each(source, func(path string, v T) error {
		if len(got) > 0 && path <= last {
			tb.Errorf("%s: %q after %q, want path order", name, path, last)
		}
		last = path
		got[path] = v
		return nil
	})
	if err != nil {
		tb.Fatalf("%s(%q): %v", name, source, err)
	}
	n, err := count(source)
	if err != nil {
		tb.Fatalf("count of %s(%q): %v", name, source, err)
	}
	if n != int64(len(got)) {
		tb.Fatalf("count of %s(%q) = %d, it has %d", name, source, n, len(got))
	}
	return got
}

func addRetry(tb testing.TB, s index.Store, source, path string, r index.Retry) {
	tb.Helper()
	if err := s.AddRetry(source, path, r); err != nil {
		tb.Fatalf("AddRetry(%q): %v", path, err)
	}
}

func removeRetry(tb testing.TB, s index.Store, source, path string) {
	tb.Helper()
	if err := s.RemoveRetry(source, path); err != nil {
		tb.Fatalf("RemoveRetry(%q): %v", path, err)
	}
}

// testRetrySet checks the retry set: replace, remove, odd paths, no effect
// on records, pending and other sources, and NUL sources refused.
func testRetrySet(t *testing.T, f Factory) {
	s := open(t, f)
	if got := retries(t, s, "src"); len(got) != 0 {
		t.Fatalf("retry set of a new source = %v, want empty", got)
	}
	want := map[string]index.Retry{}
	for i, p := range oddPaths() {
		r := index.Retry{Size: int64(i), MtimeNs: 1_790_000_000_000_000_000 + int64(i), SeenNs: -int64(i), Dir: i%2 == 0}
		addRetry(t, s, "src", p, r)
		want[p] = r
	}
	if got := retries(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Retries = %v, want %v", got, want)
	}
	// Adding again replaces and does not count twice.
	p := oddPaths()[0]
	want[p] = index.Retry{Size: 99}
	addRetry(t, s, "src", p, want[p])
	if got := retries(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Retries after replacing %q = %v, want %v", p, got, want)
	}
	removeRetry(t, s, "src", p)
	removeRetry(t, s, "src", p) // missing: not an error
	delete(want, p)
	if got := retries(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Retries after removing %q = %v, want %v", p, got, want)
	}
	// The retry set is apart from records, pending and other sources.
	wantCount(t, s, "src", 0, 0)
	wantPending(t, s, "src")
	if got := retries(t, s, "sr"); len(got) != 0 {
		t.Fatalf("retry set of %q = %v, want empty", "sr", got)
	}
	q := queue(t, s, "src", "x.wav")
	commit(t, s, "src", "x.wav", record(1), q.Seq)
	if got := retries(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Retries after a commit of another path = %v, want %v", got, want)
	}
	for path := range want {
		removeRetry(t, s, "src", path)
	}
	if got := retries(t, s, "src"); len(got) != 0 {
		t.Fatalf("Retries after removing all = %v, want empty", got)
	}

	refusesNUL(t, map[string]func(string) error{
		"AddRetry":     func(src string) error { return s.AddRetry(src, "p", index.Retry{}) },
		"RemoveRetry":  func(src string) error { return s.RemoveRetry(src, "p") },
		"Retries":      func(src string) error { return s.Retries(src, func(string, index.Retry) error { return nil }) },
		"CountRetries": func(src string) error { _, err := s.CountRetries(src); return err },
	})
}

// testRetryReopen checks that the retry set survives Close and Open.
func testRetryReopen(t *testing.T, f Factory) {
	checkReopen(t, f, map[string]index.Retry{
		"2020-01-01/a.wav": {Size: 3, MtimeNs: 4, SeenNs: 5},
		"2020-01-02":       {Dir: true},
	}, index.Store.AddRetry, retries)
}

// checkReopen adds want to one of the sets of a new Store with add, closes
// and opens it again, and checks that read finds want.
func checkReopen[T comparable](t *testing.T, f Factory, want map[string]T, add func(index.Store, string, string, T) error, read func(testing.TB, index.Store, string) map[string]T) {
	if !f.Persistent {
		t.Skip("the Store does not persist")
	}
	dir := t.TempDir()
	s := f.Open(t, dir)
	for p, v := range want {
		if err := add(s, "src", p, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = f.Open(t, dir)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if got := read(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("after reopen = %v, want %v", got, want)
	}
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
