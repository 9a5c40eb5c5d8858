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

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// WalkPlan is one walk of the sources through a pipeline. `sync` runs one
// per run, the daemon one per rescan; Pipeline.Walk carries both out, so the
// rule for which walk a source gets, and when a full walk is complete, lives
// in one place.
type WalkPlan struct {
	// Full walks every source's whole tree, even with a partition layout.
	Full bool
	// Lookback, when set, replaces every source's look-back window (a
	// `sync --lookback` the daemon runs).
	Lookback time.Duration
	// Location is the time zone of partition names.
	Location *time.Location
	// Tally, when set, counts this walk's files apart from the pipeline's
	// totals (a daemon rescan); without it, what the walk passes over or
	// cannot read is counted in the totals (a sync, whose totals are its
	// result).
	Tally *Tally
	// Consider hands each file found to the pipeline; nil: Consider.
	Consider func(ctx context.Context, c Candidate) (Outcome, error)
	// KeepGoing logs a source whose tree cannot be walked (an unreadable
	// root, a failed index read) and walks the others (the daemon); without
	// it that ends the walk (sync). Failing to read or record the source's
	// state, and ctx's end, always end it.
	KeepGoing bool
	// Walked, when set, is called after each source's walk with the error
	// that ended it (nil: it completed). keepGoing walks only.
	Walked func(src *local.Source, err error)
	// Recheck waits, once every source is walked, for the files deferred
	// only because their mtime is in the future to stay unchanged for
	// settle, and considers them again (sync, which has no later look).
	Recheck bool
	// LogLevel is the level of the line that says how a source is walked.
	LogLevel slog.Level
}

// Walk walks every source, one after the other, and hands each file found
// to plan.Consider. Which walk a source gets:
//
//	plan.Full   partition layout   full walk recorded   walk
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
func (p *Pipeline) Walk(ctx context.Context, sources []*local.Source, plan WalkPlan) error {
	consider := plan.Consider
	if consider == nil {
		consider = p.Consider
	}
	// A layout that reads none of its tree's folders would make every
	// partition walk find nothing, and look like one that found nothing
	// new: sync refuses before walking anything; the daemon walks and
	// reports the source failing (Walked), so /healthz says so.
	mismatch := map[*local.Source]error{}
	for _, src := range sources {
		if err := src.CheckLayout(plan.Location); err != nil {
			if !plan.KeepGoing {
				return err
			}
			mismatch[src] = err
			p.opts.Logger.Error("partition walks find nothing", "source", src.Root, "destination", src.Destination(), "err", err)
		}
	}
	var later []Candidate
	for _, src := range sources {
		if err := p.walkSource(ctx, src, plan, consider, mismatch[src], &later); err != nil {
			return err
		}
	}
	if plan.Recheck {
		return p.recheck(ctx, later, consider)
	}
	return nil
}

func (p *Pipeline) walkSource(ctx context.Context, src *local.Source, plan WalkPlan, consider func(context.Context, Candidate) (Outcome, error), mismatch error, later *[]Candidate) error {
	state, err := p.idx.State(src.ID())
	if err != nil {
		return fmt.Errorf("read index state of %s: %w", src, err)
	}
	full := plan.Full || src.Layout.IsZero() || state.FullWalkNs == 0
	log := p.opts.Logger.With("source", src.Root, "destination", src.Destination())
	// The retry of an unreadable directory and the walk after it meet it
	// twice; it is one failure of this walk.
	unreadable := map[string]bool{}
	err = p.retrySource(ctx, src, plan, consider, unreadable, later)
	if err == nil {
		w := p.walkerOf(src, plan, consider, nil, unreadable, later)
		if full {
			log.Log(ctx, plan.LogLevel, "walking the whole tree")
			err = w.tree(ctx, "")
		} else {
			lookback := src.Window()
			if plan.Lookback > 0 {
				lookback = plan.Lookback
			}
			from := p.opts.Now().Add(-lookback)
			log.Log(ctx, plan.LogLevel, "walking recent partitions", "since", from.Format(time.RFC3339))
			err = w.partitions(ctx, from, plan.Location)
		}
	}
	if err != nil {
		if plan.KeepGoing && ctx.Err() == nil {
			log.Error("rescan failed", "err", err)
			if plan.Walked != nil {
				plan.Walked(src, err)
			}
			return nil
		}
		return err
	}
	if plan.Walked != nil {
		plan.Walked(src, mismatch)
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
		if plan.KeepGoing && errors.Is(err, index.ErrDiskFull) {
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
// A path that cannot be read is counted and logged once per walk of src:
// unreadable holds those already met, shared by the walkers of one walk.
func (p *Pipeline) walkerOf(src *local.Source, plan WalkPlan, consider func(context.Context, Candidate) (Outcome, error), retrying map[string]index.Retry, unreadable map[string]bool, later *[]Candidate) *walker {
	id := src.ID()
	return &walker{
		src: src,
		idx: p.idx,
		visit: func(ctx context.Context, f found) error {
			c := f.candidate(src)
			c.tally = plan.Tally
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
		skip: func(string) { p.count(plan.Tally, Excluded) },
		fail: func(rel string, err error) {
			if unreadable[rel] {
				return
			}
			unreadable[rel] = true
			p.count(plan.Tally, Failed)
			p.opts.Logger.Error("cannot read", "source", src.Root, "path", rel, "err", err)
			if p.opts.DryRun {
				return
			}
			info, serr := src.Stat(rel)
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
	st := local.StatOf(c.Info)
	now := p.opts.Now()
	if st.Size != entry.Size || st.MtimeNs != entry.MtimeNs || now.Sub(time.Unix(0, entry.SeenNs)) < p.opts.Settle {
		return false
	}
	if mtime := time.Unix(0, st.MtimeNs); mtime.After(now) {
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
// plan.Recheck, added to later.
func (p *Pipeline) keepRetrySet(src *local.Source, c Candidate, entry index.Retry, retried bool, out Outcome, plan WalkPlan, later *[]Candidate) error {
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
		st := local.StatOf(c.Info)
		now := p.opts.Now()
		if !retried || entry.Dir || st.Size != entry.Size || st.MtimeNs != entry.MtimeNs {
			r := index.Retry{Size: st.Size, MtimeNs: st.MtimeNs, SeenNs: now.UnixNano()}
			if err := p.idx.Retries().Add(id, c.Path, r); err != nil {
				return fmt.Errorf("retry set: %w", err)
			}
		}
		if mtime := time.Unix(0, st.MtimeNs); out == Deferred && mtime.After(now) {
			p.opts.Logger.Warn("file's mtime is in the future (clock skew between this host and the writer?): it is uploaded once it has not changed for settle",
				"source", src.Root, "path", c.Path, "clock_skew", mtime.Sub(now).Round(time.Second))
			if plan.Recheck {
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
func (p *Pipeline) retrySource(ctx context.Context, src *local.Source, plan WalkPlan, consider func(context.Context, Candidate) (Outcome, error), unreadable map[string]bool, later *[]Candidate) error {
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
	p.opts.Logger.Log(ctx, plan.LogLevel, "retrying the files earlier walks passed over", "source", src.Root, "destination", src.Destination(), "entries", len(entries))
	w := p.walkerOf(src, plan, consider, entries, unreadable, later)
	dir, _, err := w.readDir("")
	if err != nil {
		return err
	}
	dir.Close()
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
		info, err := src.Stat(rel)
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
		info, err := c.Source.Stat(c.Path)
		if err != nil {
			continue // gone or unreadable: the retry set keeps it until the next run
		}
		before, now := local.StatOf(c.Info), local.StatOf(info)
		if now.Size != before.Size || now.MtimeNs != before.MtimeNs || now.Inode != before.Inode {
			continue
		}
		entry := index.Retry{Size: before.Size, MtimeNs: before.MtimeNs, SeenNs: c.Detected.UnixNano()}
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
func (p *Pipeline) count(t *Tally, o Outcome) {
	if t != nil {
		t.add(o, 0)
		return
	}
	p.stats.add(o, 0)
}
