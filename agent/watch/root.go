package watch

import (
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
)

// RootState is what a source's root is, as CheckRoots finds it.
type RootState int

const (
	// RootPresent: the root is a directory, the one watched or one put
	// back in its place (then watched anew).
	RootPresent RootState = iota
	// RootMissing: nothing, or no directory, at the root's path: it was
	// removed or moved away.
	RootMissing
	// RootUnmounted: the root was a mount point when it was watched and
	// is now a directory of its parent's file system: its file system was
	// unmounted. (inotify says IN_UNMOUNT, which fsnotify drops.)
	RootUnmounted
)

func (s RootState) String() string {
	switch s {
	case RootMissing:
		return "missing"
	case RootUnmounted:
		return "unmounted"
	}
	return "present"
}

// RootChange is a root whose state CheckRoots found changed.
type RootChange struct {
	Src   *local.Source
	State RootState
}

// rootWatch is what the Watcher knows of a source's root.
type rootWatch struct {
	seen     bool // dev, ino and mount are known
	dev, ino uint64
	mount    bool // a mount point when seen: its device is not its parent's
	state    RootState
}

// IsRoot reports whether abs is a source's root: an event on it (inotify's
// IN_DELETE_SELF, IN_MOVE_SELF, as fsnotify's Remove and Rename) calls for
// CheckRoots.
func (w *Watcher) IsRoot(abs string) bool {
	for _, src := range w.sources {
		if filepath.Clean(src.Root) == abs {
			return true
		}
	}
	return false
}

// CheckRoots looks at every source's root (a stat of it and one of its
// parent) and returns those whose state changed since the last call; at
// the first call, those that are not present. A root that is present
// again, or present as another directory than the one watched (moved
// away and another put in its place), has its watches dropped and placed
// anew, and the files of the directories watched go to onFile (nil: none).
//
//	root's path                                        state
//	missing, or not a directory                        missing
//	a mount point when first seen, on its parent's
//	  device now                                       unmounted
//	otherwise                                          present (re-watched if it is
//	                                                     back, or another directory)
func (w *Watcher) CheckRoots(now time.Time, onFile func(FileKey)) []RootChange {
	var changes []RootChange
	for _, src := range w.sources {
		r := w.roots[src]
		if r == nil {
			r = &rootWatch{} // present until seen otherwise
			w.roots[src] = r
		}
		st, dev, ino, mount := rootNow(src.Root)
		if st == RootPresent && r.seen && r.mount && !mount {
			st = RootUnmounted // the mount's identity is kept, to see it back
		}
		if st == RootPresent {
			if r.state != RootPresent || r.seen && (dev != r.dev || ino != r.ino) {
				w.rewatch(src, now, onFile)
			}
			r.seen, r.dev, r.ino, r.mount = true, dev, ino, mount
		}
		if st != r.state {
			changes = append(changes, RootChange{Src: src, State: st})
			r.state = st
		}
	}
	return changes
}

// RootsPresent reports whether every source's root was present at the
// last CheckRoots.
func (w *Watcher) RootsPresent() bool {
	for _, r := range w.roots {
		if r.state != RootPresent {
			return false
		}
	}
	return true
}

// rewatch drops the watches of src and places them anew from its root.
func (w *Watcher) rewatch(src *local.Source, now time.Time, onFile func(FileKey)) {
	for abs, k := range w.dirs {
		if k.Src == src {
			_ = w.fsw.Remove(abs) // gone with its directory, most often
			w.drop(abs, k)
		}
	}
	w.addTree(FileKey{Src: src}, now, onFile)
}

// rootNow stats root and its parent: its state (present or missing; an
// unmount needs what was seen before), device and inode, and whether it is
// a mount point (on another device than its parent).
func rootNow(root string) (st RootState, dev, ino uint64, mount bool) {
	info, err := os.Stat(root)
	if err != nil || !info.IsDir() {
		return RootMissing, 0, 0, false
	}
	s, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return RootPresent, 0, 0, false
	}
	dev, ino = uint64(s.Dev), uint64(s.Ino)
	if parent, err := os.Stat(filepath.Dir(filepath.Clean(root))); err == nil {
		if p, ok := parent.Sys().(*syscall.Stat_t); ok {
			mount = uint64(p.Dev) != dev
		}
	}
	return RootPresent, dev, ino, mount
}
