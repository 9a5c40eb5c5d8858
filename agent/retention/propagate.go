package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultPropagateDeletesAfter is the grace period before a local delete
// becomes a delete marker: a mistaken rm can be undone by restoring the
// file locally meanwhile.
const DefaultPropagateDeletesAfter = 24 * time.Hour

// propagate mirrors the local deletes of a source with PropagateDeletes:
// each recorded file is stat'ed (O(records), no S3 request), and
//
//	file       gone set                         action
//	on disk    vanished                         the mark comes off (undeleted in time)
//	on disk    propagated                       the mark and the record come off: the next walk uploads it anew
//	missing    retention                        none: s3ferry deleted it, the bucket keeps it
//	missing    none                             marked vanished, now
//	missing    vanished PropagateAfter ago,     a delete marker on the key (never a version deletion),
//	             current version as recorded      then marked propagated
//	missing    vanished, current version        marked propagated, no marker added (one is there: a crash
//	             is a delete marker               came between the marker and the mark)
//	missing    vanished, current version        none, warned: another writer's version is not s3ferry's to hide
//	             is another
func (sw *Sweeper) propagate(ctx context.Context, src *local.Source, st *Stats) error {
	id := src.ID()
	now := sw.Now()
	grace := src.PropagateDeletesAfter
	if grace <= 0 {
		grace = DefaultPropagateDeletesAfter
	}
	// The retention's marks can be many: 8 bytes each.
	var retained []uint64
	marks := map[string]index.Gone{}
	err := sw.Index.Removed().Each(id, func(rel string, g index.Gone) error {
		if g.Reason == index.GoneRetention {
			retained = append(retained, xxhash.Sum64String(rel))
		} else {
			marks[rel] = g
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the gone set of %s: %w", src, err)
	}
	slices.Sort(retained)
	type found struct {
		rel string
		rec index.Record
	}
	var back, vanished, due []found
	err = sw.Index.Records(id, "", func(rel string, rec index.Record) error {
		if _, ok := slices.BinarySearch(retained, xxhash.Sum64String(rel)); ok {
			return nil
		}
		_, err := src.Stat(rel)
		g, marked := marks[rel]
		switch {
		case err == nil:
			if marked {
				back = append(back, found{rel, rec})
			}
		case !errors.Is(err, fs.ErrNotExist):
			// Unreadable, a link on the way: not a delete.
		case !marked:
			vanished = append(vanished, found{rel, rec})
		case g.Reason == index.GoneVanished && now.Sub(time.Unix(0, g.SinceNs)) >= grace:
			due = append(due, found{rel, rec})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the records of %s: %w", src, err)
	}
	// Nothing is marked or mirrored from a root that looks unmounted,
	// nor more delete markers than the guard allows.
	names := make([]string, 0, len(vanished)+len(due))
	for _, f := range append(vanished, due...) {
		names = append(names, f.rel)
	}
	if un, err := sw.looksUnmounted(src, names, st); err != nil || un {
		return err
	}
	if ok, err := sw.allow(src, GuardPropagation, int64(len(due)), "delete markers", st); err != nil {
		return err
	} else if !ok {
		due = nil
	}
	if sw.DryRun {
		for _, f := range due {
			key, _ := src.Key(f.rel)
			fmt.Fprintf(sw.DryRunOut, "would put a delete marker on s3://%s/%s (deleted locally: %s)\n", src.Bucket, local.Printable(key), local.Printable(src.Tree().Join(f.rel)))
			st.Propagated++
		}
		return nil
	}
	for _, f := range back {
		if marks[f.rel].Reason == index.GonePropagated {
			// Its key is deleted in the bucket: forget the record, so the
			// file is uploaded as new.
			if err := sw.Index.Delete(id, f.rel); err != nil {
				return err
			}
		}
		if err := sw.Index.Removed().Remove(id, f.rel); err != nil {
			return err
		}
		sw.Logger.Info("a file deleted locally is back", "path", f.rel)
	}
	for _, f := range vanished {
		if err := sw.Index.Removed().Add(id, f.rel, index.Gone{Reason: index.GoneVanished, VersionID: f.rec.VersionID, SinceNs: now.UnixNano()}); err != nil {
			return err
		}
		st.Vanished++
		sw.Logger.Info("file deleted locally: its key gets a delete marker after the grace period unless it comes back", "path", f.rel, "after", grace)
	}
	for _, f := range due {
		if err := sw.mirrorDelete(ctx, src, f.rel, f.rec, st); err != nil {
			return err
		}
	}
	return nil
}

// mirrorDelete puts a delete marker on the key of rel, deleted locally,
// if its current version is the recorded one, and marks it propagated.
func (sw *Sweeper) mirrorDelete(ctx context.Context, src *local.Source, rel string, rec index.Record, st *Stats) error {
	id := src.ID()
	key, err := src.Key(rel)
	if err != nil {
		return nil
	}
	b := sw.Open(src.Bucket)
	cur, err := b.Head(ctx, key, "")
	gone := index.Gone{Reason: index.GonePropagated, VersionID: rec.VersionID, SinceNs: sw.Now().UnixNano()}
	switch {
	case errors.Is(err, uploader.ErrNotFound):
		// A delete marker is current already.
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sw.Logger.Warn("cannot mirror a local delete: the key cannot be read; trying again at the next sweep", "key", key, "err", err)
		return nil
	case cur.VersionID != rec.VersionID:
		sw.Logger.Warn("not mirroring a local delete: the key's current version is not the one s3ferry uploaded", "key", key, "current", cur.VersionID, "recorded", rec.VersionID)
		return nil
	default:
		marker, err := b.Delete(ctx, key, "")
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sw.Logger.Warn("cannot mirror a local delete; trying again at the next sweep", "key", key, "err", err)
			return nil
		}
		gone.MarkerID = marker
		sw.Logger.Info("mirrored a local delete: delete marker on the key, its versions stay", "key", key, "marker", marker, "version", rec.VersionID)
		st.Propagated++
		if sw.Marked != nil {
			sw.Marked()
		}
	}
	return sw.Index.Removed().Add(id, rel, gone)
}
