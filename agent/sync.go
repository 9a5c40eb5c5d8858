package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Sync is a one-shot run: resume what an earlier run left pending, walk each
// source (its recent partitions, or the whole tree), upload what is new or
// changed, and return when every upload has ended.
type Sync struct {
	Sources  []*local.Source
	Index    index.Store
	Uploader Uploader
	Options  Options
	// Full walks every source's whole tree, even with a partition layout.
	Full bool
	// Location is the time zone partition names are in; nil: time.Local.
	Location *time.Location
	// Progress, when set, is called with the running totals every
	// ProgressInterval and once at the end.
	Progress         func(Stats)
	ProgressInterval time.Duration
	// Adopt, when set, is called first for each source the index knows
	// nothing of (not in a dry run): see AdoptFunc.
	Adopt AdoptFunc
	// WaitReplication, with Buckets, makes Run return only once S3 says
	// the replication of every version it uploaded of a source with
	// Replicated set COMPLETED (a FAILED one is sent again), or
	// ReplicationTimeout (0: none) has passed, which is an error.
	WaitReplication    bool
	ReplicationTimeout time.Duration
	Buckets            func(bucket string) uploader.Bucket
	Replication        replication.Options
	// Replica, when set, returns the bucket a source's replica
	// (ReplicaBucket) is read in, for the retention's lock check: see
	// retention.Sweeper.Replica.
	Replica func(src *local.Source) uploader.Bucket
}

// withDefaults returns s with every zero knob replaced by its default.
func (s Sync) withDefaults() Sync {
	s.Options = s.Options.WithDefaults()
	if s.Location == nil {
		s.Location = time.Local
	}
	return s
}

// Run performs the sync. It returns the totals and the first error that
// stopped it (a fatal S3 error, an index error, ctx's end); files that fail
// alone are counted in Stats.Failed and logged, and the run goes on. When
// ctx ends with files still pending, whatever the phase (walk, uploads in
// flight or queued), it returns an error wrapping ctx's, and Stats.Pending
// says how many files stay pending.
func (s *Sync) Run(ctx context.Context) (Stats, error) {
	cfg := s.withDefaults()
	// Before anything is done: a layout that reads no folder of its tree
	// would back up nothing and say nothing (see Pipeline.Walk).
	for _, src := range cfg.Sources {
		if err := src.CheckLayout(cfg.Location); err != nil {
			return Stats{}, err
		}
	}
	if !cfg.Options.DryRun {
		if err := AdoptFirstRun(ctx, cfg.Index, cfg.Sources, cfg.Adopt); err != nil {
			return Stats{}, err
		}
	}
	// The local sweep first: a file whose mirrored delete was undone is
	// then uploaded by this walk.
	var retained *retention.Stats
	if cfg.Buckets != nil && slices.ContainsFunc(cfg.Sources, retention.Applies) {
		o := cfg.Options
		sw := &retention.Sweeper{Sources: cfg.Sources, Index: cfg.Index, Open: cfg.Buckets, Replica: cfg.Replica, CheckRate: cfg.Replication.CheckRate, Location: cfg.Location,
			DryRun: o.DryRun, DryRunOut: o.DryRunOut, Logger: o.Logger, Now: o.Now}
		rs, err := sw.Sweep(ctx)
		if err != nil {
			return Stats{Retention: &rs}, err
		}
		retained = &rs
	}
	p := NewPipeline(cfg.Index, cfg.Uploader, cfg.Options)
	started := cfg.Options.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx) })
	g.Go(func() error {
		defer p.Close()
		// A file resumed from the pending set is considered once: when the
		// walk finds it again it is counted already (scanned, and how its
		// upload ended). Resume and the walk run in this goroutine only.
		resumed := map[string]bool{}
		resume := func(ctx context.Context, c Candidate) error {
			resumed[flightKey(c.Source.ID(), c.Path)] = true
			_, err := p.Consider(ctx, c)
			return err
		}
		for _, src := range cfg.Sources {
			if err := p.Resume(gctx, src, resume); err != nil {
				return err
			}
		}
		walked := func(ctx context.Context, c Candidate) (Outcome, error) {
			if k := flightKey(c.Source.ID(), c.Path); resumed[k] {
				delete(resumed, k)
				return InFlight, nil
			}
			return p.Consider(ctx, c)
		}
		err := p.Walk(gctx, cfg.Sources, WalkPlan{Full: cfg.Full, Location: cfg.Location, Recheck: true, LogLevel: slog.LevelInfo, Consider: walked})
		if cfg.Options.Transfers != nil {
			cfg.Options.Transfers.Counted() // resends of a FAILED replication may still add some
		}
		if err != nil || !cfg.WaitReplication || cfg.Buckets == nil || cfg.Options.DryRun {
			return err
		}
		return cfg.waitReplication(gctx, p, started)
	})
	stop := cfg.report(p)
	err := g.Wait()
	stop()
	stats := p.Stats()
	stats.Retention, stats.Workers = retained, p.Workers()
	if ctx.Err() == nil {
		return stats, err
	}
	// Interrupted: the uploads the pool abandoned, or let end, left no
	// error, but their files stay pending.
	for _, src := range cfg.Sources {
		_, n, cerr := cfg.Index.Count(src.ID())
		if cerr != nil {
			return stats, errors.Join(err, fmt.Errorf("count pending files of %s: %w", src, cerr))
		}
		stats.Pending += n
	}
	if err == nil && stats.Pending > 0 {
		err = ctx.Err()
	}
	if err != nil && errors.Is(err, ctx.Err()) {
		err = &InterruptedError{Pending: stats.Pending, Err: err}
	}
	return stats, err
}

// InterruptedError ends a Sync whose context ended (a signal) before it
// finished: Pending files stay in the index's pending set, and the next
// sync or run uploads them. It wraps the context's error.
type InterruptedError struct {
	Pending int64
	Err     error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted with %s pending: the next sync or run uploads them", local.Plural(e.Pending, "file", "files"))
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// report calls Progress on a timer, and once more when the returned stop
// is called.
func (s *Sync) report(p *Pipeline) (stop func()) {
	if s.Progress == nil {
		return func() {}
	}
	stopTicker := Every(s.ProgressInterval, func() { s.Progress(p.Stats()) })
	return func() {
		stopTicker()
		s.Progress(p.Stats())
	}
}

// ErrReplicationTimeout is returned by a Sync with WaitReplication whose
// uploads were not all replicated within ReplicationTimeout.
var ErrReplicationTimeout = errors.New("replication not confirmed in time")

// waitReplication checks, while the pool may still be uploading, the
// replication of what this sync uploaded (since started) until none is
// left unconfirmed and nothing is in flight. A FAILED version whose file is
// unchanged goes through p again; one whose file is gone is an error.
func (s *Sync) waitReplication(ctx context.Context, p *Pipeline, started time.Time) error {
	resend := func(ctx context.Context, src *local.Source, rel string, info fs.FileInfo) error {
		_, err := p.Consider(ctx, Candidate{Source: src, Path: rel, Info: info, Resend: true, Force: true})
		return err
	}
	opts := s.Replication.WithDefaults()
	// A script is waiting: no long back-off between checks.
	opts.MaxBackoff = min(opts.MaxBackoff, 10*time.Second)
	t := replication.NewTracker(s.Index, s.Sources, s.Buckets, opts, s.Options.Logger, s.Options.Now, resend, nil)
	if !t.Tracks() {
		return nil
	}
	if s.ReplicationTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.ReplicationTimeout)
		defer cancel()
	}
	since := started.UnixNano()
	tick := time.NewTicker(min(opts.Interval, time.Second))
	defer tick.Stop()
	for {
		if err := t.Round(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		left, failed, err := t.UnconfirmedSince(since)
		if err != nil {
			return err
		}
		inFlight, _, _ := p.InFlight()
		switch {
		case failed > 0:
			return fmt.Errorf("replication of %d uploaded versions FAILED and their files are gone or changed: run s3ferry manifest --replication-failed and an S3 Batch Replication job", failed)
		case left == 0 && inFlight == 0:
			s.Options.Logger.Info("replication confirmed", "since", started)
			return nil
		}
		select {
		case <-ctx.Done():
			if s.ReplicationTimeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%d uploaded versions not yet on the replica after %s; the daemon, or the next sync --wait-replication, keeps checking: %w", left, s.ReplicationTimeout, ErrReplicationTimeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
