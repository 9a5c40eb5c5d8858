package agent

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/index"
)

// DefaultLookback is how far back a partition walk looks when a source sets
// no look-back window.
const DefaultLookback = 48 * time.Hour

// Sync is a one-shot run: resume what an earlier run left pending, walk each
// source (its recent partitions, or the whole tree), upload what is new or
// changed, and return when every upload has ended.
type Sync struct {
	Sources  []*Source
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
}

// Run performs the sync. It returns the totals and the first error that
// stopped it (a fatal S3 error, an index error, ctx's end); files that fail
// alone are counted in Stats.Failed and logged, and the run goes on.
func (s *Sync) Run(ctx context.Context) (Stats, error) {
	p := NewPipeline(s.Index, s.Uploader, s.Options)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx) })
	g.Go(func() error {
		defer p.Close()
		consider := func(ctx context.Context, c Candidate) error {
			_, err := p.Consider(ctx, c)
			return err
		}
		for _, src := range s.Sources {
			if err := p.Resume(gctx, src, consider); err != nil {
				return err
			}
		}
		for _, src := range s.Sources {
			if err := s.walk(gctx, p, src); err != nil {
				return err
			}
		}
		return nil
	})
	stop := s.report(p)
	err := g.Wait()
	stop()
	return p.Stats(), err
}

// walk finds the candidates of one source: the whole tree on a first run,
// with --full or without a layout; else the partitions inside the look-back.
func (s *Sync) walk(ctx context.Context, p *Pipeline, src *Source) error {
	state, err := s.Index.State(src.ID())
	if err != nil {
		return fmt.Errorf("read index state of %s: %w", src, err)
	}
	w := &walker{
		src: src,
		idx: s.Index,
		visit: func(ctx context.Context, f found) error {
			_, err := p.Consider(ctx, f.candidate(src))
			return err
		},
		skip: p.excluded,
		fail: p.walkFailed(src),
	}
	full := s.Full || src.Layout.IsZero() || state.FullWalkNs == 0
	log := p.opts.Logger.With("source", src.String())
	if !full {
		loc := s.Location
		if loc == nil {
			loc = time.Local
		}
		from := p.opts.Now().Add(-src.lookback())
		log.Info("walking recent partitions", "since", from.Format(time.RFC3339))
		return w.partitions(ctx, from, loc)
	}
	log.Info("walking the whole tree")
	if err := w.tree(ctx, ""); err != nil {
		return err
	}
	if p.opts.DryRun {
		return nil
	}
	// Every file the walk found is now recorded or pending: later runs may
	// rely on partition walks.
	state.FullWalkNs = p.opts.Now().UnixNano()
	if err := s.Index.SetState(src.ID(), state); err != nil {
		return fmt.Errorf("record full walk of %s: %w", src, err)
	}
	return nil
}

// report calls Progress on a timer, and once more when the returned stop
// is called.
func (s *Sync) report(p *Pipeline) (stop func()) {
	if s.Progress == nil {
		return func() {}
	}
	stopTicker := every(s.ProgressInterval, func() { s.Progress(p.Stats()) })
	return func() {
		stopTicker()
		s.Progress(p.Stats())
	}
}
