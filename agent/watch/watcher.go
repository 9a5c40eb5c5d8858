package watch

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

	"github.com/s3ferry/s3ferry/agent/local"
)

// Watcher keeps an inotify watch (through fsnotify, which has no recursive
// mode) on every directory of the sources that can still receive new files:
// with a partition layout, the levels above the partitions and the
// partitions inside the look-back window; without one, every directory.
// Old partitions are sealed and need no watch; a late write into one is
// found by the slow full walk.
//
// A new directory is watched first and listed second, so a file created
// between the two is seen by one or the other. The Watcher is owned by the
// daemon's loop goroutine, which reads its events and errors and calls its
// methods; nothing else touches it.
type Watcher struct {
	fsw     *fsnotify.Watcher
	sources []*local.Source
	loc     *time.Location
	log     *slog.Logger
	dirs    map[string]FileKey    // absolute path → source and relative path
	perSrc  map[*local.Source]int // len(dirs) by source
	// full is set once adding a watch failed for lack of inotify watches;
	// the daemon then relies on rescans and says so.
	full bool
	// roots is what CheckRoots knows of each source's root.
	roots map[*local.Source]*rootWatch
}

func New(sources []*local.Source, loc *time.Location, log *slog.Logger) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start inotify: %w (raise fs.inotify.max_user_instances)", err)
	}
	return &Watcher{fsw: fsw, sources: sources, loc: loc, log: log, dirs: map[string]FileKey{}, perSrc: map[*local.Source]int{},
		roots: map[*local.Source]*rootWatch{}}, nil
}

func (w *Watcher) Close() error { return w.fsw.Close() }

// Events is inotify's stream of changes, for handle; it is closed by close.
func (w *Watcher) Events() <-chan fsnotify.Event { return w.fsw.Events }

// Errs is inotify's stream of errors (fsnotify.ErrEventOverflow: events
// were lost); it is closed by close.
func (w *Watcher) Errs() <-chan error { return w.fsw.Errors }

// Counts is how much a Watcher watches, for status and metrics.
type Counts struct {
	Dirs      int
	PerSource map[*local.Source]int
	// limitReached: a watch could not be added for lack of inotify watches.
	LimitReached bool
}

func (w *Watcher) Counts() Counts {
	c := Counts{Dirs: len(w.dirs), PerSource: make(map[*local.Source]int, len(w.perSrc)), LimitReached: w.full}
	for src, n := range w.perSrc {
		c.PerSource[src] = n
	}
	return c
}

// Dirs is the number of directories watched: Counts().Dirs, without the
// copy of the per-source counts.
func (w *Watcher) Dirs() int { return len(w.dirs) }

// WatchSources adds watches below every source root.
func (w *Watcher) WatchSources(now time.Time) {
	for _, src := range w.sources {
		w.addTree(FileKey{Src: src}, now, nil)
	}
}

// wanted reports whether the directory k should be watched at now.
func (w *Watcher) wanted(k FileKey, now time.Time) bool {
	return k.Src.Watched(k.Rel, now, w.loc)
}

// addTree watches the directory k and the wanted directories below it, then
// lists them; every file found is passed to onFile, unless it is nil.
func (w *Watcher) addTree(k FileKey, now time.Time, onFile func(FileKey)) {
	abs := filepath.Join(k.Src.Root, filepath.FromSlash(k.Rel))
	if _, ok := w.dirs[abs]; !ok {
		if !w.wanted(k, now) {
			return
		}
		if err := w.fsw.Add(abs); err != nil {
			w.addFailed(k, err)
			if !errors.Is(err, syscall.ENOSPC) {
				return
			}
			// Out of watches: keep listing, so files in the new directory
			// are still found now; later ones wait for a rescan.
		} else {
			w.dirs[abs] = k
			w.perSrc[k.Src]++
		}
	}
	dir, err := k.Src.Tree().OpenDir(k.Rel) // not through a link swapped in for it
	if err != nil {
		return // removed meanwhile, or unreadable: the walks report that
	}
	entries, err := dir.ReadDir()
	dir.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		child := FileKey{Src: k.Src, Rel: path.Join(k.Rel, e.Name())}
		switch {
		case e.IsDir():
			w.addTree(child, now, onFile)
		case onFile != nil && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 && k.Src.FollowSymlinks):
			onFile(child)
		}
	}
}

func (w *Watcher) addFailed(k FileKey, err error) {
	if errors.Is(err, syscall.ENOSPC) {
		if !w.full {
			w.full = true
			w.log.Warn("out of inotify watches: new files are found by rescans only, with delay; raise the limit with sysctl -w fs.inotify.max_user_watches=1048576 (and in /etc/sysctl.d)", "source", k.Src.Root, "path", k.Rel, "watched", len(w.dirs))
		}
		return
	}
	if !errors.Is(err, fs.ErrNotExist) {
		w.log.Warn("cannot watch directory; its files are found by rescans", "source", k.Src.Root, "path", k.Rel, "err", err)
	}
}

// locate maps an absolute path from an event to its source and relative path.
func (w *Watcher) locate(abs string) (FileKey, bool) {
	for _, src := range w.sources {
		if rel, err := filepath.Rel(src.Root, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return FileKey{Src: src, Rel: filepath.ToSlash(rel)}, true
		}
	}
	return FileKey{}, false
}

// Handle applies one event: new directories are watched and listed, file
// changes (and the files of a new directory) go to touch, removals to
// forget.
func (w *Watcher) Handle(ev fsnotify.Event, now time.Time, touch, forget func(FileKey)) {
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
	info, err := k.Src.Stat(k.Rel) // beneath the root, as every read of the file
	if err != nil {
		return
	}
	switch {
	case info.IsDir():
		if ev.Has(fsnotify.Create) {
			w.addTree(k, now, touch)
		}
	case info.Mode().IsRegular():
		if k.Src.Filter.File(k.Rel) {
			touch(k)
		}
	}
}

// forgetTree drops the bookkeeping of abs and every directory below it.
func (w *Watcher) forgetTree(abs string) {
	prefix := abs + string(filepath.Separator)
	for d, k := range w.dirs {
		if d == abs || strings.HasPrefix(d, prefix) {
			w.drop(d, k)
		}
	}
}

// Prune removes the watches of partitions that left the look-back window.
func (w *Watcher) Prune(now time.Time) {
	for abs, k := range w.dirs {
		if !w.wanted(k, now) {
			_ = w.fsw.Remove(abs)
			w.drop(abs, k)
		}
	}
}

func (w *Watcher) drop(abs string, k FileKey) {
	delete(w.dirs, abs)
	w.perSrc[k.Src]--
}
