package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// walkPlan is one walk of the sources through a pipeline. `sync` runs one
// per run, the daemon one per rescan; Pipeline.walk carries both out, so the
// rule for which walk a source gets, and when a full walk is complete, lives
// in one place.
type walkPlan struct {
	// full walks every source's whole tree, even with a partition layout.
	full bool
	// loc is the time zone of partition names.
	loc *time.Location
	// tally, when set, counts this walk's files apart from the pipeline's
	// totals (a daemon rescan); without it, what the walk passes over or
	// cannot read is counted in the totals (a sync, whose totals are its
	// result).
	tally *walkTally
	// consider hands each file found to the pipeline; nil: Consider.
	consider func(ctx context.Context, c Candidate) (Outcome, error)
	// keepGoing logs a source whose tree cannot be walked (an unreadable
	// root, a failed index read) and walks the others (the daemon); without
	// it that ends the walk (sync). Failing to read or record the source's
	// state, and ctx's end, always end it.
	keepGoing bool
	// logLevel is the level of the line that says how a source is walked.
	logLevel slog.Level
}

// walk walks every source, one after the other, and hands each file found
// to plan.consider. Which walk a source gets:
//
//	plan.full   partition layout   full walk recorded   walk
//	yes         -                  -                    whole tree
//	-           none               -                    whole tree
//	-           set                never                whole tree (first run)
//	-           set                yes                  partitions inside the look-back window
//
// A whole-tree walk that ends without error is recorded in the index
// (State.FullWalkNs), except in a dry run: every file it found is then
// recorded or pending, so later walks may rely on partitions.
func (p *Pipeline) walk(ctx context.Context, sources []*Source, plan walkPlan) error {
	consider := plan.consider
	if consider == nil {
		consider = p.Consider
	}
	for _, src := range sources {
		if err := p.walkSource(ctx, src, plan, consider); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) walkSource(ctx context.Context, src *Source, plan walkPlan, consider func(context.Context, Candidate) (Outcome, error)) error {
	state, err := p.idx.State(src.ID())
	if err != nil {
		return fmt.Errorf("read index state of %s: %w", src, err)
	}
	w := &walker{
		src: src,
		idx: p.idx,
		visit: func(ctx context.Context, f found) error {
			c := f.candidate(src)
			c.tally = plan.tally
			_, err := consider(ctx, c)
			return err
		},
		skip: func(string) { p.count(plan.tally, Excluded) },
		fail: func(rel string, err error) {
			p.count(plan.tally, Failed)
			p.opts.Logger.Error("cannot read", "source", src.Root, "path", rel, "err", err)
		},
	}
	full := plan.full || src.Layout.IsZero() || state.FullWalkNs == 0
	log := p.opts.Logger.With("source", src.String())
	if full {
		log.Log(ctx, plan.logLevel, "walking the whole tree")
		err = w.tree(ctx, "")
	} else {
		from := p.opts.Now().Add(-src.lookback())
		log.Log(ctx, plan.logLevel, "walking recent partitions", "since", from.Format(time.RFC3339))
		err = w.partitions(ctx, from, plan.loc)
	}
	if err != nil {
		if plan.keepGoing && ctx.Err() == nil {
			log.Error("rescan failed", "err", err)
			return nil
		}
		return err
	}
	// When a whole-tree walk counts as complete is decided here, for sync
	// and the daemon alike.
	if !full || p.opts.DryRun {
		return nil
	}
	state.FullWalkNs = p.opts.Now().UnixNano()
	state.Root, state.Destination = src.Root, src.Destination()
	if err := p.idx.SetState(src.ID(), state); err != nil {
		return fmt.Errorf("record full walk of %s: %w", src, err)
	}
	return nil
}

// count counts a walk's finding that is no file to consider (Excluded,
// Failed) in the walk's tally, or in the totals when the walk has none.
func (p *Pipeline) count(t *walkTally, o Outcome) {
	if t != nil {
		t.add(o, 0)
		return
	}
	p.stats.add(o, 0)
}
