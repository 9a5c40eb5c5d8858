package watch

import (
	"errors"
	"io/fs"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// FileKey names a file across sources.
type FileKey struct {
	Src *local.Source
	Rel string
}

// settling is a file the Watcher saw change, waiting to stop changing.
type settling struct {
	first     time.Time // first event since the file was last handed on
	last      time.Time // latest event
	notBefore time.Time // retry back-off: not checked before this
}

// Settler decides when a changed file is ready: no event for settle and an
// mtime at least settle old, or, for a file that never stops changing, cap
// after its first event. It is owned by the daemon's loop goroutine and is
// not safe for concurrent use.
//
//	since last event   mtime age     since first event   decision
//	< settle           -             < cap               wait
//	>= settle          < settle      < cap               wait (a write whose event was lost)
//	>= settle          >= settle     -                   ready
//	-                  -             >= cap              ready, forced (uploaded as it is now)
//	gone, not a regular file, or a link on the way       dropped
type Settler struct {
	settle, cap time.Duration
	stat        func(k FileKey) (fs.FileInfo, error)
	files       map[FileKey]*settling
}

func NewSettler(settle, cap time.Duration, stat func(FileKey) (fs.FileInfo, error)) *Settler {
	return &Settler{settle: settle, cap: cap, stat: stat, files: map[FileKey]*settling{}}
}

// Touch records an event for k at now.
func (s *Settler) Touch(k FileKey, now time.Time) {
	f := s.files[k]
	if f == nil {
		s.files[k] = &settling{first: now, last: now}
		return
	}
	f.last = now
}

// Retry puts k back to be checked again no earlier than at, keeping the time
// it was first detected.
func (s *Settler) Retry(k FileKey, detected, at time.Time) {
	f := s.files[k]
	if f == nil {
		s.files[k] = &settling{first: detected, last: detected, notBefore: at}
		return
	}
	if at.After(f.notBefore) {
		f.notBefore = at
	}
}

// Forget drops k (the file was removed or renamed away).
func (s *Settler) Forget(k FileKey) { delete(s.files, k) }

// Len is the number of files settling or backed off.
func (s *Settler) Len() int { return len(s.files) }

// Counts splits the files between those settling and those waiting out a
// retry back-off at now.
func (s *Settler) Counts(now time.Time) (settling, backedOff int) {
	for _, f := range s.files {
		if now.Before(f.notBefore) {
			backedOff++
		} else {
			settling++
		}
	}
	return settling, backedOff
}

// Release ends every back-off: the endpoint the failed files waited for
// answers again.
func (s *Settler) Release() {
	for _, f := range s.files {
		f.notBefore = time.Time{}
	}
}

// Ready removes and returns the files ready at now.
func (s *Settler) Ready(now time.Time) []agent.Candidate {
	var out []agent.Candidate
	for k, f := range s.files {
		if now.Before(f.notBefore) {
			continue
		}
		forced := now.Sub(f.first) >= s.cap
		if !forced && now.Sub(f.last) < s.settle {
			continue
		}
		info, err := s.stat(k)
		if err != nil || !info.Mode().IsRegular() {
			if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, beneath.ErrSymlink) {
				delete(s.files, k)
			}
			continue // an unreadable path is tried again at the next check
		}
		if !forced && now.Sub(info.ModTime()) < s.settle {
			continue
		}
		delete(s.files, k)
		out = append(out, agent.Candidate{Source: k.Src, Path: k.Rel, Info: info, Force: forced, Detected: f.first})
	}
	return out
}
