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
	got := map[string]index.Retry{}
	last := ""
	err := s.Retries(source, func(path string, r index.Retry) error {
		if len(got) > 0 && path <= last {
			tb.Errorf("Retries: %q after %q, want path order", path, last)
		}
		last = path
		got[path] = r
		return nil
	})
	if err != nil {
		tb.Fatalf("Retries(%q): %v", source, err)
	}
	n, err := s.CountRetries(source)
	if err != nil {
		tb.Fatalf("CountRetries(%q): %v", source, err)
	}
	if n != int64(len(got)) {
		tb.Fatalf("CountRetries(%q) = %d, Retries has %d", source, n, len(got))
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

	const nul = "a\x00b"
	calls := map[string]func() error{
		"AddRetry":     func() error { return s.AddRetry(nul, "p", index.Retry{}) },
		"RemoveRetry":  func() error { return s.RemoveRetry(nul, "p") },
		"Retries":      func() error { return s.Retries(nul, func(string, index.Retry) error { return nil }) },
		"CountRetries": func() error { _, err := s.CountRetries(nul); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with source %q: no error", name, nul)
		}
	}
}

// testRetryReopen checks that the retry set survives Close and Open.
func testRetryReopen(t *testing.T, f Factory) {
	if !f.Persistent {
		t.Skip("the Store does not persist")
	}
	dir := t.TempDir()
	s := f.Open(t, dir)
	want := map[string]index.Retry{
		"2020-01-01/a.wav": {Size: 3, MtimeNs: 4, SeenNs: 5},
		"2020-01-02":       {Dir: true},
	}
	for p, r := range want {
		addRetry(t, s, "src", p, r)
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
	if got := retries(t, s, "src"); !maps.Equal(got, want) {
		t.Fatalf("Retries after reopen = %v, want %v", got, want)
	}
}
