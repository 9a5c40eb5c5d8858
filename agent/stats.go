package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/s3ferry/s3ferry/agent/retention"
)

// Stats counts what a run did with the files it found.
type Stats struct {
	Scanned   int64   `json:"scanned"`                // files looked at
	Unchanged int64   `json:"unchanged"`              // size, mtime and inode matched the index: not read
	Touched   int64   `json:"touched"`                // metadata changed, content did not: index updated, nothing sent
	Uploaded  int64   `json:"uploaded"`               // sent and acknowledged by S3
	Deferred  int64   `json:"deferred"`               // still being written: left for a later run
	Vanished  int64   `json:"vanished"`               // deleted before it could be read
	Excluded  int64   `json:"excluded"`               // filtered out, symlinks not followed, special files
	Failed    int64   `json:"failed"`                 // could not be read or sent; each is logged
	WouldSend int64   `json:"would_upload,omitempty"` // --dry-run: new or changed files
	Bytes     int64   `json:"bytes"`                  // bytes uploaded
	Kept      int64   `json:"kept,omitempty"`         // of Bytes, those of resumed uploads an earlier run had sent: not sent again
	Pending   int64   `json:"pending,omitempty"`      // sync: files left pending in the index at its end (an interruption), resumed by the next run
	Seconds   float64 `json:"seconds"`                // wall time of the run
	Workers   int     `json:"workers,omitempty"`      // sync: files uploaded at once at its end (with workers auto, what the pool adapted to)

	// Retention is what the local retention deleted (or, in a dry run,
	// would delete) at the end of a sync.
	Retention *retention.Stats `json:"retention,omitempty"`
}

// counters is Stats under concurrent update: every goroutine of a run adds to
// it, and a progress display or metrics endpoint reads it at any time.
type counters struct {
	scanned, unchanged, touched, uploaded atomic.Int64
	deferred, vanished, excluded, failed  atomic.Int64
	wouldSend, bytes, kept                atomic.Int64
	started                               time.Time
}

func newCounters(now time.Time) *counters { return &counters{started: now} }

// snapshot reads the counters as of now.
func (c *counters) snapshot(now time.Time) Stats {
	return Stats{
		Scanned:   c.scanned.Load(),
		Unchanged: c.unchanged.Load(),
		Touched:   c.touched.Load(),
		Uploaded:  c.uploaded.Load(),
		Deferred:  c.deferred.Load(),
		Vanished:  c.vanished.Load(),
		Excluded:  c.excluded.Load(),
		Failed:    c.failed.Load(),
		WouldSend: c.wouldSend.Load(),
		Bytes:     c.bytes.Load(),
		Kept:      c.kept.Load(),
		Seconds:   now.Sub(c.started).Seconds(),
	}
}

// add counts one outcome (and, for Uploaded, its bytes).
func (c *counters) add(o Outcome, bytes int64) {
	switch o {
	case Unchanged:
		c.unchanged.Add(1)
	case Deferred, InFlight:
		c.deferred.Add(1)
	case WouldUpload:
		c.wouldSend.Add(1)
	case Excluded:
		c.excluded.Add(1)
	case Uploaded:
		c.uploaded.Add(1)
		c.bytes.Add(bytes)
	case Touched:
		c.touched.Add(1)
	case Vanished:
		c.vanished.Add(1)
	case Failed:
		c.failed.Add(1)
	}
}

// Tally counts the files of one walk (a daemon rescan) apart from the
// pipeline's totals, by the outcome that ended each, and the files the walk
// queued until their uploads end. The pipeline fills it: Consider for each
// file found with Candidate.tally set, its worker when a queued upload ends.
//
//	Consider returns            tally
//	Queued                      queued until the upload ends, then its outcome
//	InFlight                    deferred (the daemon settles it again)
//	Failed with an error        failed (the walk stops)
//	anything else               its outcome
type Tally struct {
	counters
	queued atomic.Int64  // queued by the walk, upload not ended
	ended  chan struct{} // a token after each upload ends
}

// NewTally starts a Tally at now.
func NewTally(now time.Time) *Tally {
	return &Tally{counters: counters{started: now}, ended: make(chan struct{}, 1)}
}

// uploadEnded says that the upload of a file the walk queued has ended (and
// been counted).
func (t *Tally) uploadEnded() {
	t.queued.Add(-1)
	select {
	case t.ended <- struct{}{}:
	default:
	}
}

// Wait returns once every upload the walk queued has ended, or ctx's error.
// Call it after the walk: nothing may be queued meanwhile.
func (t *Tally) Wait(ctx context.Context) error {
	for t.queued.Load() > 0 {
		select {
		case <-t.ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Every calls fn every interval (250 ms when 0) until the returned stop is
// called; stop returns once fn is no longer running.
func Every(interval time.Duration, fn func()) (stop func()) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Snapshot reads the walk's counts as of now.
func (t *Tally) Snapshot(now time.Time) Stats { return t.snapshot(now) }
