package daemon

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/watch"
	"github.com/s3ferry/s3ferry/index"
)

// ledger is what the daemon saw happen, which /status, /healthz and
// `s3ferry status` report. Many
// goroutines update it (workers, the loop, the rescanner); a mutex guards it.
type ledger struct {
	mu           sync.Mutex
	started      time.Time
	sources      map[*local.Source]*sourceState
	order        []*local.Source
	watched      int
	watchFull    bool
	overflows    int64
	lastSuccess  time.Time
	failingSince time.Time // first failure since the last success; zero when healthy
	lastError    string
	indexFull    string                         // the error of a file the index had no space for; "" after a success
	failures     map[watch.FileKey]*fileFailure // consecutive failures per file, for back-off and health
	rescans      map[rescanKind]admin.RescanStatus
}

// fileFailure is a file whose every attempt since the first failed.
type fileFailure struct {
	attempts int
	since    time.Time // the first failure
	reason   string    // of the last
	err      string    // of the last
}

type sourceState struct {
	watched    int
	lastUpload time.Time
	lastError  string
	lastErrAt  time.Time
	uploaded   int64
	bytes      int64
	perSecond  [60]int64 // uploads in each of the last 60 seconds, by Unix second mod 60
	secondOf   [60]int64 // which Unix second each slot counts

	// rescanErr is the error of the source's last rescan, empty once one
	// completes; rescanFailingSince is when they began failing.
	rescanErr          string
	rescanFailingSince time.Time
	// rescanAnon is rescanErr without paths, when the error can say it
	// so (a partition layout that reads no folder); /healthz over TCP.
	rescanAnon string

	// root is the root's state as the watcher last found it, and
	// rootSince when it left watch.RootPresent.
	root      watch.RootState
	rootSince time.Time
}

func newLedger(sources []*local.Source, now time.Time) *ledger {
	s := &ledger{
		started:  now,
		sources:  map[*local.Source]*sourceState{},
		order:    sources,
		failures: map[watch.FileKey]*fileFailure{},
		rescans:  map[rescanKind]admin.RescanStatus{},
	}
	for _, src := range sources {
		s.sources[src] = &sourceState{}
	}
	return s
}

func (s *ledger) observe(ev agent.Event, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sources[ev.Source]
	if ss == nil {
		return
	}
	switch ev.Outcome {
	case agent.Uploaded, agent.Touched:
		s.lastSuccess, s.failingSince, s.indexFull = now, time.Time{}, ""
		if ev.Outcome == agent.Uploaded {
			ss.lastUpload = now
			ss.uploaded++
			ss.bytes += ev.Bytes
			sec := now.Unix()
			slot := sec % 60
			if ss.secondOf[slot] != sec {
				ss.secondOf[slot], ss.perSecond[slot] = sec, 0
			}
			ss.perSecond[slot]++
		}
	case agent.Failed:
		if s.failingSince.IsZero() {
			s.failingSince = now
		}
		msg := ev.Path + ": " + string(ev.Reason)
		if ev.Err != nil {
			msg = ev.Err.Error()
		}
		s.lastError, ss.lastError, ss.lastErrAt = msg, msg, now
		if ev.Reason == agent.ReasonIndexDiskFull {
			s.indexFull = msg
			var full *index.DiskFullError
			if errors.As(ev.Err, &full) {
				s.indexFull = full.Error()
			}
		}
	}
}

// failedAgain counts another failure of k, ev, at now, and returns how
// many in a row.
func (s *ledger) failedAgain(k watch.FileKey, ev agent.Event, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[k]
	if f == nil {
		f = &fileFailure{since: now}
		s.failures[k] = f
	}
	f.attempts++
	f.reason = string(ev.Reason)
	f.err = string(ev.Reason)
	if ev.Err != nil {
		f.err = ev.Err.Error()
	}
	return f.attempts
}

// longestFailing is the file that has failed every attempt for the
// longest, and how; ok false when none is failing.
func (s *ledger) longestFailing() (k watch.FileKey, f fileFailure, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ff := range s.failures {
		if !ok || ff.since.Before(f.since) || (ff.since.Equal(f.since) && key.Rel < k.Rel) {
			k, f, ok = key, *ff, true
		}
	}
	return k, f, ok
}

// succeeded clears k's failures.
func (s *ledger) succeeded(k watch.FileKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, k)
}

func (s *ledger) overflow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overflows++
}

// watching records the watcher's numbers.
func (s *ledger) watching(c watch.Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched, s.watchFull = c.Dirs, c.LimitReached
	for src, ss := range s.sources {
		ss.watched = c.PerSource[src]
	}
}

// sourceRescanned records how a rescan of src ended: a failure is the source's
// last error and makes it unhealthy until a rescan completes.
func (s *ledger) sourceRescanned(src *local.Source, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sources[src]
	if ss == nil {
		return
	}
	if err == nil {
		ss.rescanErr, ss.rescanAnon, ss.rescanFailingSince = "", "", time.Time{}
		return
	}
	if ss.rescanFailingSince.IsZero() {
		ss.rescanFailingSince = now
	}
	ss.rescanErr, ss.rescanAnon = err.Error(), ""
	if a, ok := err.(interface{ Anonymous() string }); ok {
		ss.rescanAnon = a.Anonymous()
	}
	ss.lastError, ss.lastErrAt = "rescan: "+ss.rescanErr, now
	s.lastError = ss.lastError
}

// rootChanged records that src's root is now in state st: anything but
// present is the source's last error, and unhealthy until it is present.
func (s *ledger) rootChanged(src *local.Source, st watch.RootState, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sources[src]
	if ss == nil {
		return
	}
	ss.root, ss.rootSince = st, now
	if st != watch.RootPresent {
		ss.lastError, ss.lastErrAt = fmt.Sprintf("source root %s is %s: %s", local.Printable(src.Root), st, rootFix(st)), now
		s.lastError = ss.lastError
	}
}

// rootGone returns the first source whose root is not present, its state
// and since when; src is nil when every root is present.
func (s *ledger) rootGone() (src *local.Source, st watch.RootState, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, src := range s.order {
		if ss := s.sources[src]; ss.root != watch.RootPresent {
			return src, ss.root, ss.rootSince
		}
	}
	return nil, watch.RootPresent, time.Time{}
}

// rescanFailing returns a source whose rescans fail, since when, and the
// error, and the error without paths ("" when it cannot say it so); src is
// nil when none does.
func (s *ledger) rescanFailing() (src *local.Source, since time.Time, err, anon string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, src := range s.order {
		if ss := s.sources[src]; ss.rescanErr != "" {
			return src, ss.rescanFailingSince, ss.rescanErr, ss.rescanAnon
		}
	}
	return nil, time.Time{}, "", ""
}

func (s *ledger) rescanned(kind rescanKind, at time.Time, st agent.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rescans[kind] = admin.RescanStatus{At: at, Seconds: st.Seconds, Scanned: st.Scanned}
}

// indexFullError is the last error of a file the index had no space for,
// "" when none failed so since the last success.
func (s *ledger) indexFullError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexFull
}

// failing is when uploads began failing (zero: they are not) and the last
// error.
func (s *ledger) failing() (since time.Time, lastError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failingSince, s.lastError
}

// snapshot copies the state into st, whose Sources are in the daemon's order.
func (s *ledger) snapshot(st *admin.Status, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Started, st.WatchedDirs, st.WatchLimitReached, st.Overflows, st.LastError = s.started, s.watched, s.watchFull, s.overflows, s.lastError
	st.FailingFiles = len(s.failures)
	st.Rescans = map[string]admin.RescanStatus{}
	for k, v := range s.rescans {
		st.Rescans[string(k)] = v
	}
	for i, src := range s.order {
		ss := s.sources[src]
		out := &st.Sources[i]
		out.WatchedDirs, out.Uploaded, out.Bytes = ss.watched, ss.uploaded, ss.bytes
		out.LastUpload, out.LastError, out.LastErrorAt = ss.lastUpload, ss.lastError, ss.lastErrAt
		out.RescanError = ss.rescanErr
		for slot, sec := range ss.secondOf {
			if now.Unix()-sec < 60 {
				out.UploadsPerMinute += ss.perSecond[slot]
			}
		}
	}
}
