// Package watch finds new files as they are written: an inotify watcher on
// the directories that can still receive files (and on each source's root,
// which it tells gone, unmounted or back: CheckRoots), a settler that hands a
// file on once it stopped changing, and the queue between the daemon's
// event loop and the goroutine that feeds the pipeline (cf. syncthing's
// lib/watchaggregator). It is owned by the daemon's loop goroutine.
package watch
