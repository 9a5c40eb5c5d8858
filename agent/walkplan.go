package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/s3ferry/s3ferry/index"
)

// walkPlan is one walk of the sources through a pipeline. `sync` runs one
// per run, the daemon one per rescan; Pipeline.walk carries both out, so the
// rule for which walk a source gets, and when a full walk is complete, lives
// in one place.
type walkPlan struct {
	// full walks every source's whole tree, even with a partition layout.
	full bool
	// lookback, when set, replaces every source's look-back window (a
	// `sync --lookback` the daemon runs).
	lookback time.Duration
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
	// walked, when set, is called after each source's walk with the error
	// that ended it (nil: it completed). keepGoing walks only.
	walked func(src *Source, err error)
	// recheck waits, once every source is walked, for the files deferred
	// only because their mtime is in the future to stay unchanged for
	// settle, and considers them again (sync, which has no later look).
	recheck bool
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
// Before it, every walk retries the source's retry set: the files (and
// directories) an earlier walk deferred or could not read, wherever they
// live, also in old partitions outside the look-back window.
//
// A whole-tree walk that ends without error is recorded in the index
// (State.FullWalkNs), except in a dry run: every file it found is then
// recorded, pending, or in the retry set, so later walks may rely on
// partitions. A walk that deferred or failed files still counts as complete
// only because those files are in the retry set.
func (p *Pipeline) walk(ctx context.Context, sources []*Source, plan walkPlan) error {
	consider := plan.consider
	if consider == nil {
		consider = p.Consider
	}
	var later []Candidate
	for _, src := range sources {
		if err := p.walkSource(ctx, src, plan, consider, &later); err != nil {
			return err
		}
	}
	if plan.recheck {
		return p.recheck(ctx, later, consider)
	}
	return nil
}

func (p *Pipeline) walkSource(ctx context.Context, src *Source, plan walkPlan, consider func(context.Context, Candidate) (Outcome, error), later *[]Candidate) error {
	state, err := p.idx.State(src.ID())
	if err != nil {
		return fmt.Errorf("read index state of %s: %w", src, err)
	}
	full := plan.full || src.Layout.IsZero() || state.FullWalkNs == 0
	log := p.opts.Logger.With("source", src.String())
	err = p.retrySource(ctx, src, plan, consider, later)
	if err == nil {
		w := p.walkerOf(src, plan, consider, nil, later)
		if full {
			log.Log(ctx, plan.logLevel, "walking the whole tree")
			err = w.tree(ctx, "")
		} else {
			lookback := src.lookback()
			if plan.lookback > 0 {
				lookback = plan.lookback
			}
			from := p.opts.Now().Add(-lookback)
			log.Log(ctx, plan.logLevel, "walking recent partitions", "since", from.Format(time.RFC3339))
			err = w.partitions(ctx, from, plan.loc)
		}
	}
	if err != nil {
		if plan.keepGoing && ctx.Err() == nil {
			log.Error("rescan failed", "err", err)
			if plan.walked != nil {
				plan.walked(src, err)
			}
			return nil
		}
		return err
	}
	if plan.walked != nil {
		plan.walked(src, nil)
	}
	// When a whole-tree walk counts as complete is decided here, for sync
	// and the daemon alike: what it deferred or could not read is in the
	// retry set, which every later walk retries first.
	if !full || p.opts.DryRun {
		return nil
	}
	state.FullWalkNs = p.opts.Now().UnixNano()
	state.Root, state.Destination = src.Root, src.Destination()
	if err := p.idx.SetState(src.ID(), state); err != nil {
		if plan.keepGoing && errors.Is(err, index.ErrDiskFull) {
			log.Error("cannot record the full walk; the next one is a full walk too", "err", err)
			return nil
		}
		return fmt.Errorf("record full walk of %s: %w", src, err)
	}
	return nil
}

// walkerOf returns a walker of src that hands each file to consider and
// keeps the retry set: a file deferred or failed, and a path that cannot be
// read, go into it; a file of it (in retrying) found unchanged leaves it.
func (p *Pipeline) walkerOf(src *Source, plan walkPlan, consider func(context.Context, Candidate) (Outcome, error), retrying map[string]index.Retry, later *[]Candidate) *walker {
	id := src.ID()
	return &walker{
		src: src,
		idx: p.idx,
		visit: func(ctx context.Context, f found) error {
			c := f.candidate(src)
			c.tally = plan.tally
			entry, retried := retrying[f.rel]
			c.retry = retried
			if retried && !entry.Dir {
				c.Force = p.settledSince(c, entry)
			}
			out, err := consider(ctx, c)
			if err != nil {
				return err
			}
			return p.keepRetrySet(src, c, entry, retried, out, plan, later)
		},
		skip: func(string) { p.count(plan.tally, Excluded) },
		fail: func(rel string, err error) {
			p.count(plan.tally, Failed)
			p.opts.Logger.Error("cannot read", "source", src.Root, "path", rel, "err", err)
			if p.opts.DryRun {
				return
			}
			info, serr := src.stat(rel)
			r := index.Retry{Dir: serr == nil && info.IsDir(), SeenNs: p.opts.Now().UnixNano()}
			if err := p.idx.Retries().Add(id, rel, r); err != nil {
				p.opts.Logger.Error("cannot remember an unreadable path for the next run", "source", src.Root, "path", rel, "err", err)
			}
		},
	}
}

// settledSince says whether c, a file of the retry set, has kept the size
// and mtime entry saw for settle: then it is uploaded as it is, even if its
// mtime says it is younger (an mtime in the future, set by a writer whose
// clock is ahead, would otherwise defer it forever).
func (p *Pipeline) settledSince(c Candidate, entry index.Retry) bool {
	st := statOf(c.Info)
	now := p.opts.Now()
	if st.size != entry.Size || st.mtimeNs != entry.MtimeNs || now.Sub(time.Unix(0, entry.SeenNs)) < p.opts.Settle {
		return false
	}
	if mtime := time.Unix(0, st.mtimeNs); mtime.After(now) {
		p.opts.Logger.Warn("uploading a file whose mtime is in the future: it has not changed for settle; check the clock of the host that wrote it",
			"source", c.Source.Root, "path", c.Path, "clock_skew", mtime.Sub(now).Round(time.Second))
	}
	return true
}

// keepRetrySet updates the retry set after consider decided out for c, a
// file a walk found (retried: it is in the retry set, as entry):
//
//	outcome              retry set
//	Deferred, Failed     added, or kept with its SeenNs while size and mtime are the same
//	Unchanged            removed, if retried
//	Queued               removed once its upload ends (Pipeline.upload), if retried
//	anything else        unchanged
//
// A file deferred for an mtime in the future is warned about and, with
// plan.recheck, added to later.
func (p *Pipeline) keepRetrySet(src *Source, c Candidate, entry index.Retry, retried bool, out Outcome, plan walkPlan, later *[]Candidate) error {
	if p.opts.DryRun {
		return nil
	}
	id := src.ID()
	switch out {
	case Unchanged:
		if retried {
			if err := p.idx.Retries().Remove(id, c.Path); err != nil {
				return fmt.Errorf("retry set: %w", err)
			}
		}
	case Deferred, Failed:
		st := statOf(c.Info)
		now := p.opts.Now()
		if !retried || entry.Dir || st.size != entry.Size || st.mtimeNs != entry.MtimeNs {
			r := index.Retry{Size: st.size, MtimeNs: st.mtimeNs, SeenNs: now.UnixNano()}
			if err := p.idx.Retries().Add(id, c.Path, r); err != nil {
				return fmt.Errorf("retry set: %w", err)
			}
		}
		if mtime := time.Unix(0, st.mtimeNs); out == Deferred && mtime.After(now) {
			p.opts.Logger.Warn("file's mtime is in the future (clock skew between this host and the writer?): it is uploaded once it has not changed for settle",
				"source", src.Root, "path", c.Path, "clock_skew", mtime.Sub(now).Round(time.Second))
			if plan.recheck {
				c.Detected = now
				*later = append(*later, c)
			}
		}
	}
	return nil
}

// retrySource retries src's retry set: it walks the directory of each file
// in it (its files only: a file renamed, as a bad name must be, is found
// under its new name) and each directory in it whole, then drops the
// entries whose file is gone. The source root must be readable first: an
// unmounted tree must not pass for one whose files were all removed.
func (p *Pipeline) retrySource(ctx context.Context, src *Source, plan walkPlan, consider func(context.Context, Candidate) (Outcome, error), later *[]Candidate) error {
	id := src.ID()
	entries := map[string]index.Retry{}
	err := p.idx.Retries().Each(id, func(rel string, r index.Retry) error {
		entries[rel] = r
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the retry set of %s: %w", src, err)
	}
	if len(entries) == 0 {
		return nil
	}
	p.opts.Logger.Log(ctx, plan.logLevel, "retrying the files earlier walks passed over", "source", src.String(), "entries", len(entries))
	w := p.walkerOf(src, plan, consider, entries, later)
	if _, _, err := w.readDir(""); err != nil {
		return err
	}
	failed := map[string]bool{}
	fail := w.fail
	w.fail = func(rel string, err error) { failed[rel] = true; fail(rel, err) }
	seen := map[string]bool{}
	visit := w.visit
	w.visit = func(ctx context.Context, f found) error { seen[f.rel] = true; return visit(ctx, f) }

	dirs := map[string]bool{} // directory → walk it whole
	for rel, e := range entries {
		if e.Dir {
			dirs[rel] = true
		} else if dir := parent(rel); !dirs[dir] {
			dirs[dir] = false
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		w.flat = !dirs[dir]
		if err := w.tree(ctx, dir); err != nil {
			return err
		}
	}
	if p.opts.DryRun {
		return nil
	}
	for rel, e := range entries {
		if failed[rel] {
			continue
		}
		if e.Dir {
			// Read this time; its files were handed on like any walk's.
			if err := p.idx.Retries().Remove(id, rel); err != nil {
				return fmt.Errorf("retry set: %w", err)
			}
			continue
		}
		if seen[rel] {
			continue // keepRetrySet (or the upload) decided
		}
		info, err := src.stat(rel)
		if err == nil && info.Mode().IsRegular() && src.Filter.File(rel) {
			continue // there but not visited (a link not followed, say): keep it
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // cannot tell: keep it
		}
		if err := p.idx.Retries().Remove(id, rel); err != nil {
			return fmt.Errorf("retry set: %w", err)
		}
	}
	return nil
}

// parent is the directory of rel, "" for the root.
func parent(rel string) string {
	if dir := path.Dir(rel); dir != "." {
		return dir
	}
	return ""
}

// recheck waits until each of files has stayed unchanged for settle since
// its walk found it, and considers those that did again, forced: files
// deferred only because their mtime is in the future. One that changed
// meanwhile stays in the retry set for the next run.
func (p *Pipeline) recheck(ctx context.Context, files []Candidate, consider func(context.Context, Candidate) (Outcome, error)) error {
	for _, c := range files {
		if wait := c.Detected.Add(p.opts.Settle).Sub(p.opts.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		info, err := c.Source.stat(c.Path)
		if err != nil {
			continue // gone or unreadable: the retry set keeps it until the next run
		}
		before, now := statOf(c.Info), statOf(info)
		if now.size != before.size || now.mtimeNs != before.mtimeNs || now.inode != before.inode {
			continue
		}
		entry := index.Retry{Size: before.size, MtimeNs: before.mtimeNs, SeenNs: c.Detected.UnixNano()}
		c.Info, c.retry = info, true
		c.Force = p.settledSince(c, entry)
		// Counted once, by its final outcome: take back the deferral.
		p.stats.scanned.Add(-1)
		p.stats.deferred.Add(-1)
		out, err := consider(ctx, c)
		if err != nil {
			return err
		}
		if out == Unchanged {
			if err := p.idx.Retries().Remove(c.Source.ID(), c.Path); err != nil {
				return fmt.Errorf("retry set: %w", err)
			}
		}
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
