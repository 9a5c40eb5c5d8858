package watch

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/s3ferry/s3ferry/agent/agenttest"
)

// TestCheckRootsMovedAwayAndBack: inotify tells of the root moved away
// (an event on the root itself), CheckRoots finds it missing, then present
// again once it is back, and watches it anew: a directory made in it
// afterwards is seen (the root's own watch went with IN_MOVE_SELF).
func TestCheckRootsMovedAwayAndBack(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	agenttest.WriteFile(t, root, "cams/old.wav", "old")
	src := agenttest.NewSource(t, root, "")
	w, err := New(nil, time.UTC, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.sources = append(w.sources, src)
	now := time.Now()
	w.WatchSources(now)
	if got := w.CheckRoots(now, nil); len(got) != 0 {
		t.Fatalf("CheckRoots of a root that is there = %v, want no change", got)
	}

	if err := os.Rename(root, root+".away"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, w, "an event on the root", func(ev fsnotify.Event) bool { return w.IsRoot(ev.Name) })
	if got := w.CheckRoots(now, nil); len(got) != 1 || got[0].State != RootMissing {
		t.Fatalf("CheckRoots after the root moved away = %v, want it missing", got)
	}

	if err := os.Rename(root+".away", root); err != nil {
		t.Fatal(err)
	}
	if got := w.CheckRoots(now, nil); len(got) != 1 || got[0].State != RootPresent {
		t.Fatalf("CheckRoots after the root is back = %v, want it present", got)
	}
	agenttest.WriteFile(t, root, "today/new.wav", "new")
	want := filepath.Join(root, "today")
	waitEvent(t, w, "an event on "+want, func(ev fsnotify.Event) bool { return ev.Name == want })
}

// waitEvent reads w's events until one satisfies ok, for at most 10 s.
func waitEvent(tb testing.TB, w *Watcher, what string, ok func(fsnotify.Event) bool) {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ok(ev) {
				return
			}
		case err := <-w.Errs():
			tb.Fatalf("waiting for %s: %v", what, err)
		case <-timeout:
			tb.Fatalf("gave up after 10 s waiting for %s", what)
		}
	}
}

// TestCheckRootsMissingAtStart: a root missing when watching began is
// reported at the first check, and watched once it appears.
func TestCheckRootsMissingAtStart(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	src := agenttest.NewSource(t, root, "")
	w, err := New(nil, time.UTC, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.sources = append(w.sources, src)
	now := time.Now()
	w.WatchSources(now)
	if got := w.CheckRoots(now, nil); len(got) != 1 || got[0].State != RootMissing {
		t.Fatalf("CheckRoots of a root that is not there = %v, want it missing", got)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := w.CheckRoots(now, nil); len(got) != 1 || got[0].State != RootPresent {
		t.Fatalf("CheckRoots once the root is made = %v, want it present", got)
	}
	agenttest.WriteFile(t, root, "today/new.wav", "new")
	want := filepath.Join(root, "today")
	waitEvent(t, w, "an event on "+want, func(ev fsnotify.Event) bool { return ev.Name == want })
}
