package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher keeps an inotify watch (through fsnotify, which has no recursive
// mode) on every directory of the sources that can still receive new files:
// with a partition layout, the levels above the partitions and the
// partitions inside the look-back window; without one, every directory.
// Old partitions are sealed and need no watch; a late write into one is
// found by the slow full walk.
//
// A new directory is watched first and listed second, so a file created
// between the two is seen by one or the other. The watcher is owned by the
// daemon's loop goroutine, which reads its events and errors and calls its
// methods; nothing else touches it.
type watcher struct {
	fsw     *fsnotify.Watcher
	sources []*Source
	loc     *time.Location
	log     *slog.Logger
	dirs    map[string]fileKey // absolute path → source and relative path
	perSrc  map[*Source]int    // len(dirs) by source
	// full is set once adding a watch failed for lack of inotify watches;
	// the daemon then relies on rescans and says so.
	full bool
}

func newWatcher(sources []*Source, loc *time.Location, log *slog.Logger) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start inotify: %w (raise fs.inotify.max_user_instances)", err)
	}
	return &watcher{fsw: fsw, sources: sources, loc: loc, log: log, dirs: map[string]fileKey{}, perSrc: map[*Source]int{}}, nil
}

func (w *watcher) close() error { return w.fsw.Close() }

// events is inotify's stream of changes, for handle; it is closed by close.
func (w *watcher) events() <-chan fsnotify.Event { return w.fsw.Events }

// errs is inotify's stream of errors (fsnotify.ErrEventOverflow: events
// were lost); it is closed by close.
func (w *watcher) errs() <-chan error { return w.fsw.Errors }

// watchCounts is how much a watcher watches, for status and metrics.
type watchCounts struct {
	dirs      int
	perSource map[*Source]int
	// limitReached: a watch could not be added for lack of inotify watches.
	limitReached bool
}

func (w *watcher) counts() watchCounts {
	c := watchCounts{dirs: len(w.dirs), perSource: make(map[*Source]int, len(w.perSrc)), limitReached: w.full}
	for src, n := range w.perSrc {
		c.perSource[src] = n
	}
	return c
}

// watchSources adds watches below every source root.
func (w *watcher) watchSources(now time.Time) {
	for _, src := range w.sources {
		w.addTree(fileKey{src: src}, now, nil)
	}
}

// wanted reports whether the directory k should be watched at now.
func (w *watcher) wanted(k fileKey, now time.Time) bool {
	return k.src.Watched(k.rel, now, w.loc)
}

// Watched reports whether run watches the directory rel at now: the root,
// and the directories the filter takes that are inside the look-back
// window of the layout (partition names read in loc).
func (s *Source) Watched(rel string, now time.Time, loc *time.Location) bool {
	if rel == "" {
		return true
	}
	if !s.Filter.Dir(rel) {
		return false
	}
	if s.Layout.IsZero() {
		return true
	}
	from := now.Add(-s.lookback())
	dated := ""
	for i, name := range strings.Split(rel, "/") {
		if i >= s.Layout.Depth() {
			break
		}
		if !s.Layout.levels[i].wildcard {
			dated = path.Join(dated, name)
		}
		if _, inside, ok := s.Layout.match(i, dated, from, loc); !ok || !inside {
			return false
		}
	}
	return true
}

// addTree watches the directory k and the wanted directories below it, then
// lists them; every file found is passed to onFile, unless it is nil.
func (w *watcher) addTree(k fileKey, now time.Time, onFile func(fileKey)) {
	abs := filepath.Join(k.src.Root, filepath.FromSlash(k.rel))
	if _, ok := w.dirs[abs]; !ok {
		if !w.wanted(k, now) {
			return
		}
		if err := w.fsw.Add(abs); err != nil {
			w.addFailed(abs, err)
			if !errors.Is(err, syscall.ENOSPC) {
				return
			}
			// Out of watches: keep listing, so files in the new directory
			// are still found now; later ones wait for a rescan.
		} else {
			w.dirs[abs] = k
			w.perSrc[k.src]++
		}
	}
	dir, err := k.src.root().OpenDir(k.rel) // not through a link swapped in for it
	if err != nil {
		return // removed meanwhile, or unreadable: the walks report that
	}
	entries, err := dir.ReadDir()
	dir.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		child := fileKey{src: k.src, rel: path.Join(k.rel, e.Name())}
		switch {
		case e.IsDir():
			w.addTree(child, now, onFile)
		case onFile != nil && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 && k.src.FollowSymlinks):
			onFile(child)
		}
	}
}

func (w *watcher) addFailed(abs string, err error) {
	if errors.Is(err, syscall.ENOSPC) {
		if !w.full {
			w.full = true
			w.log.Warn("out of inotify watches: new files are found by rescans only, with delay; raise the limit with sysctl -w fs.inotify.max_user_watches=1048576 (and in /etc/sysctl.d)", "dir", abs, "watched", len(w.dirs))
		}
		return
	}
	if !errors.Is(err, fs.ErrNotExist) {
		w.log.Warn("cannot watch directory; its files are found by rescans", "dir", abs, "err", err)
	}
}

// locate maps an absolute path from an event to its source and relative path.
func (w *watcher) locate(abs string) (fileKey, bool) {
	for _, src := range w.sources {
		if rel, err := filepath.Rel(src.Root, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return fileKey{src: src, rel: filepath.ToSlash(rel)}, true
		}
	}
	return fileKey{}, false
}

// handle applies one event: new directories are watched and listed, file
// changes (and the files of a new directory) go to touch, removals to
// forget.
func (w *watcher) handle(ev fsnotify.Event, now time.Time, touch, forget func(fileKey)) {
	k, ok := w.locate(ev.Name)
	if !ok {
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if _, watched := w.dirs[ev.Name]; watched {
			// A renamed directory keeps its inotify watch under a name we no
			// longer know; drop it, the new name arrives as a Create.
			_ = w.fsw.Remove(ev.Name)
			w.forgetTree(ev.Name)
		}
		forget(k)
		return
	}
	info, err := k.src.stat(k.rel) // beneath the root, as every read of the file
	if err != nil {
		return
	}
	switch {
	case info.IsDir():
		if ev.Has(fsnotify.Create) {
			w.addTree(k, now, touch)
		}
	case info.Mode().IsRegular():
		if k.src.Filter.File(k.rel) {
			touch(k)
		}
	}
}

// forgetTree drops the bookkeeping of abs and every directory below it.
func (w *watcher) forgetTree(abs string) {
	prefix := abs + string(filepath.Separator)
	for d, k := range w.dirs {
		if d == abs || strings.HasPrefix(d, prefix) {
			w.drop(d, k)
		}
	}
}

// prune removes the watches of partitions that left the look-back window.
func (w *watcher) prune(now time.Time) {
	for abs, k := range w.dirs {
		if !w.wanted(k, now) {
			_ = w.fsw.Remove(abs)
			w.drop(abs, k)
		}
	}
}

func (w *watcher) drop(abs string, k fileKey) {
	delete(w.dirs, abs)
	w.perSrc[k.src]--
}
