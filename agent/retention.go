package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultRetentionInterval is how often the daemon sweeps the sources
// with a local retention.
const DefaultRetentionInterval = time.Hour

// Retention deletes the local files of sources with a LocalRetention that
// are safely in the bucket. A file goes only when every row holds:
//
//	condition                                              else
//	the index records it as uploaded                       kept (not a candidate)
//	its recorded mtime is older than the retention         kept
//	its size, mtime and inode are as recorded              kept: changed since (sync uploads it)
//	HeadObject of the recorded version answers the         kept: the version is gone or differs
//	  recorded checksum
//	replication COMPLETED, when a rule covers the source   kept until it is
//	  and the source has RequireReplica
//
// The gone set is written before the unlink, so a crash between the two
// leaves a mark on a file that is still there, which the next sweep takes
// off and judges the file again; a file is never gone without its mark.
// The unlink goes through the source's root (no symbolic link on the
// way) after an lstat that must still match the record. Directories emptied
// below a partition that ended before the retention are removed; a
// directory that is not empty never is.
type Retention struct {
	Sources []*Source
	Index   index.Store
	Open    func(bucket string) uploader.Bucket
	// CheckRate bounds the HeadObject requests per second; 0:
	// DefaultReplicationCheckRate.
	CheckRate float64
	Location  *time.Location // of partition names; nil: time.Local
	// Options: DryRun prints what would go to DryRunOut and deletes
	// nothing; Logger, Now.
	Options Options
	// Deleted, when set, is called after each deletion with its size;
	// Marked after each delete marker written.
	Deleted func(bytes int64)
	Marked  func()
}

// RetentionStats counts what a sweep did.
type RetentionStats struct {
	Deleted     int64 `json:"deleted"`      // files deleted (or, in a dry run, that would be)
	Bytes       int64 `json:"bytes"`        // their bytes
	Kept        int64 `json:"kept"`         // old enough, but a condition failed
	DirsRemoved int64 `json:"dirs_removed"` // emptied partition directories
	Vanished    int64 `json:"vanished"`     // local deletes seen, waiting for the grace period
	Propagated  int64 `json:"propagated"`   // delete markers written (or, in a dry run, that would be)
}

// Sweep runs once over every source with a LocalRetention, then mirrors
// the local deletes of those with PropagateDeletes (see propagate).
func (rt *Retention) Sweep(ctx context.Context) (RetentionStats, error) {
	var st RetentionStats
	rt.Options = rt.Options.withDefaults()
	if rt.Location == nil {
		rt.Location = time.Local
	}
	limit := rate.NewLimiter(rate.Limit(cmp.Or(rt.CheckRate, DefaultReplicationCheckRate)), 1)
	for _, src := range rt.Sources {
		if src.LocalRetention > 0 {
			if err := rt.source(ctx, src, limit, &st); err != nil {
				return st, err
			}
		}
		if src.PropagateDeletes {
			if err := rt.propagate(ctx, src, &st); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

type retentionCandidate struct {
	rel string
	rec index.Record
}

func (rt *Retention) source(ctx context.Context, src *Source, limit *rate.Limiter, st *RetentionStats) error {
	id := src.ID()
	cutoff := rt.Options.Now().Add(-src.LocalRetention)
	// Marks of files still there: a sweep killed between mark and unlink,
	// or a file restored. Off they come; the file is judged again below.
	var back []string
	err := rt.Index.Removed().Each(id, func(rel string, g index.Gone) error {
		if g.Reason != index.GoneRetention {
			return nil
		}
		if _, err := src.stat(rel); err == nil {
			back = append(back, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the gone set of %s: %w", src, err)
	}
	if !rt.Options.DryRun {
		for _, rel := range back {
			if err := rt.Index.Removed().Remove(id, rel); err != nil {
				return err
			}
		}
	}
	var cands []retentionCandidate
	err = rt.Index.Records(id, "", func(rel string, rec index.Record) error {
		if rec.MtimeNs >= cutoff.UnixNano() {
			return nil
		}
		info, err := src.stat(rel)
		if err != nil {
			return nil // gone already (retention, a user)
		}
		if !info.Mode().IsRegular() || !statOf(info).matches(rec) {
			st.Kept++
			rt.Options.Logger.Debug("retention keeps a file changed since its upload", "path", rel)
			return nil
		}
		cands = append(cands, retentionCandidate{rel, rec})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the records of %s: %w", src, err)
	}
	emptied := map[string]bool{}
	for _, c := range cands {
		if err := limit.Wait(ctx); err != nil {
			return err
		}
		ok, err := rt.safe(ctx, src, c.rel, c.rec)
		if err != nil {
			return err
		}
		if !ok {
			st.Kept++
			continue
		}
		key, _ := src.Key(c.rel)
		if rt.Options.DryRun {
			fmt.Fprintf(rt.Options.DryRunOut, "would delete %s (s3://%s/%s version %s, %d bytes)\n", src.root().Join(c.rel), src.Bucket, key, c.rec.VersionID, c.rec.Size)
			st.Deleted++
			st.Bytes += c.rec.Size
			continue
		}
		deleted, err := rt.remove(src, c.rel, c.rec)
		if err != nil {
			return err
		}
		if !deleted {
			st.Kept++
			continue
		}
		rt.Options.Logger.Info("deleted local file under the retention: the bucket keeps it", "path", c.rel, "key", key, "version", c.rec.VersionID, "bytes", c.rec.Size)
		st.Deleted++
		st.Bytes += c.rec.Size
		if rt.Deleted != nil {
			rt.Deleted(c.rec.Size)
		}
		if dir := path.Dir(c.rel); dir != "." {
			emptied[dir] = true
		}
	}
	st.DirsRemoved += rt.removeDirs(src, emptied, cutoff)
	return nil
}

// safe says whether the bucket holds the recorded version of rel with the
// recorded checksum, replicated when that is required.
func (rt *Retention) safe(ctx context.Context, src *Source, rel string, rec index.Record) (bool, error) {
	key, err := src.Key(rel)
	if err != nil || rec.VersionID == "" || rec.Checksum == "" {
		return false, nil
	}
	obj, err := rt.Open(src.Bucket).Head(ctx, key, rec.VersionID)
	switch {
	case errors.Is(err, uploader.ErrNotFound):
		rt.Options.Logger.Warn("retention keeps a file: its recorded version is not in the bucket (deleted behind s3ferry's back?); run s3ferry verify --repair", "path", rel, "key", key, "version", rec.VersionID)
		return false, nil
	case err != nil:
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		rt.Options.Logger.Warn("retention keeps a file: cannot check its version in the bucket", "path", rel, "key", key, "err", err)
		return false, nil
	}
	if obj.Checksum(rec.Checksum) != rec.Checksum {
		rt.Options.Logger.Warn("retention keeps a file: its version in the bucket has another checksum", "path", rel, "key", key, "version", rec.VersionID)
		return false, nil
	}
	if src.Replicated && src.RequireReplica && obj.Replication != uploader.ReplicationCompleted {
		rt.Options.Logger.Debug("retention keeps a file until its replication COMPLETED", "path", rel, "key", key, "status", obj.Replication)
		return false, nil
	}
	return true, nil
}

// remove marks rel gone, then unlinks it beneath the root if it is still
// the recorded file; a file that changed meanwhile stays, unmarked.
func (rt *Retention) remove(src *Source, rel string, rec index.Record) (bool, error) {
	id := src.ID()
	if err := rt.Index.Removed().Add(id, rel, index.Gone{Reason: index.GoneRetention, VersionID: rec.VersionID, SinceNs: rt.Options.Now().UnixNano()}); err != nil {
		return false, err
	}
	dir, err := src.Writable().OpenDir(path.Dir(rel))
	if err == nil {
		defer dir.Close()
		name := path.Base(rel)
		var info fs.FileInfo
		if info, err = dir.Lstat(name); err == nil {
			if !info.Mode().IsRegular() || !statOf(info).matches(rec) {
				err = errors.New("changed since it was checked")
			} else {
				err = dir.Remove(name)
			}
		}
	}
	if err != nil {
		rt.Options.Logger.Warn("retention keeps a file it could not delete", "path", rel, "err", err)
		return false, rt.Index.Removed().Remove(id, rel)
	}
	return true, nil
}

// removeDirs removes the directories of dirs, and their parents, that are
// empty and lie in a partition that ended before cutoff (a source without
// a layout keeps its directories). Deepest first; never the root.
func (rt *Retention) removeDirs(src *Source, dirs map[string]bool, cutoff time.Time) int64 {
	if src.Layout.IsZero() {
		return 0
	}
	all := map[string]bool{}
	for d := range dirs {
		for ; d != "." && d != ""; d = path.Dir(d) {
			all[d] = true
		}
	}
	ordered := make([]string, 0, len(all))
	for d := range all {
		ordered = append(ordered, d)
	}
	// Deepest first: children before their parents.
	slices.SortFunc(ordered, func(a, b string) int { return cmp.Compare(strings.Count(b, "/"), strings.Count(a, "/")) })
	var n int64
	root := src.Writable()
	for _, d := range ordered {
		if !partitionEnded(src.Layout, d, cutoff, rt.Location) {
			continue
		}
		parent, err := root.OpenDir(path.Dir(d))
		if err != nil {
			continue
		}
		if err := parent.RemoveDir(path.Base(d)); err == nil {
			n++
			rt.Options.Logger.Info("removed an emptied partition directory", "dir", d)
		}
		parent.Close()
	}
	return n
}

// partitionEnded says whether directory rel lies in (or is) a partition of
// l whose span ended before cutoff.
func partitionEnded(l Layout, rel string, cutoff time.Time, loc *time.Location) bool {
	comps := strings.Split(rel, "/")
	n := min(len(comps), l.Depth())
	var dated []string
	for i := range n {
		if !l.levels[i].wildcard {
			dated = append(dated, comps[i])
		}
	}
	_, inside, ok := l.match(n-1, strings.Join(dated, "/"), cutoff, loc)
	return ok && !inside
}

// retentionMetrics count what the daemon's sweeps deleted.
type retentionMetrics struct {
	files, bytes, markers prometheus.Counter
}

// retain sweeps the sources with a LocalRetention at start and every
// RetentionInterval until ctx ends. A failed sweep is logged and tried
// again at the next.
func (d *Daemon) retain(ctx context.Context) error {
	if !slices.ContainsFunc(d.Sources, sweeps) {
		return nil
	}
	m := retentionMetrics{
		files:   prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_local_deleted_files_total", Help: "Local files deleted by the local retention, each safely in the bucket (and on the replica when required)."}),
		bytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_local_deleted_bytes_total", Help: "Bytes of the local files deleted by the local retention."}),
		markers: prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_delete_markers_total", Help: "Delete markers written to mirror local deletes (propagate-deletes)."}),
	}
	d.metrics.reg.MustRegister(m.files, m.bytes, m.markers)
	rt := &Retention{Sources: d.Sources, Index: d.Index, Open: d.Buckets, CheckRate: d.Replication.CheckRate, Location: d.Location,
		Options: d.Options, Deleted: func(n int64) { m.files.Inc(); m.bytes.Add(float64(n)) }, Marked: m.markers.Inc}
	interval := cmp.Or(d.RetentionInterval, DefaultRetentionInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := rt.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.Options.Logger.Error("local retention sweep failed; trying again at the next", "err", err)
		case st != (RetentionStats{}):
			d.Options.Logger.Info("local sweep", "deleted", st.Deleted, "bytes", st.Bytes, "kept", st.Kept, "dirs_removed", st.DirsRemoved, "vanished", st.Vanished, "delete_markers", st.Propagated)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweeps says whether a Retention has work on src.
func sweeps(src *Source) bool { return src.LocalRetention > 0 || src.PropagateDeletes }
