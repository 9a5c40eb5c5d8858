package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultInterval is how often the daemon sweeps the sources with a local
// retention.
const DefaultInterval = time.Hour

// DefaultCheckRate bounds the HeadObject requests per second of a sweep
// when CheckRate is 0: the replication checks' default.
const DefaultCheckRate = replication.DefaultCheckRate

// Sweeper deletes the local files of sources with a LocalRetention that
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
//	with the source's Lock: HeadObject shows the version   kept until it is (a version
//	  locked in the source's mode until a time still to      uploaded before the lock, or
//	  come, and no earlier than the lock set records         whose lock expired or was cut)
//	the same on the replica's version (ReplicaPrefix+rel,  kept until it is
//	  the recorded VersionId), when Replica is set, the
//	  source has a ReplicaBucket and RequireReplica, and
//	  a rule covers it (replication copies lock settings)
//
// The gone set is written before the unlink, so a crash between the two
// leaves a mark on a file that is still there, which the next sweep takes
// off and judges the file again; a file is never gone without its mark.
// The unlink goes through the source's root (no symbolic link on the
// way) after an lstat that must still match the record. Directories emptied
// below a partition that ended before the retention are removed; a
// directory that is not empty never is.
type Sweeper struct {
	Sources []*local.Source
	Index   index.Store
	Open    func(bucket string) uploader.Bucket
	// CheckRate bounds the HeadObject requests per second; 0:
	// DefaultCheckRate.
	CheckRate float64
	Location  *time.Location // of partition names; nil: time.Local
	// DryRun prints what would go to DryRunOut (nil: nowhere) and deletes
	// nothing.
	DryRun    bool
	DryRunOut io.Writer
	Logger    *slog.Logger     // nil: none
	Now       func() time.Time // clock; nil: time.Now
	// Deleted, when set, is called after each deletion with its size;
	// Marked after each delete marker written.
	Deleted func(bytes int64)
	Marked  func()
	// GuardMinRecords is the size of a source from which a fraction of it
	// or an empty root is judged (see guard.go); 0:
	// DefaultGuardMinRecords. Tests make it small.
	GuardMinRecords int64
	// Replica, when set, returns the bucket src's bucket replicates to,
	// src.ReplicaBucket reached with its own client (nil: none known):
	// with the source's Lock and RequireReplica, the replica's version
	// must be locked too before the local file goes.
	Replica func(src *local.Source) uploader.Bucket
}

// Stats counts what a sweep did.
type Stats struct {
	Deleted     int64 `json:"deleted"`      // files deleted (or, in a dry run, that would be)
	Bytes       int64 `json:"bytes"`        // their bytes
	Kept        int64 `json:"kept"`         // old enough, but a condition failed
	DirsRemoved int64 `json:"dirs_removed"` // emptied partition directories
	Vanished    int64 `json:"vanished"`     // local deletes seen, waiting for the grace period
	Propagated  int64 `json:"propagated"`   // delete markers written (or, in a dry run, that would be)
	// Blocked counts the passes a mass-deletion guard stopped before
	// they deleted anything (see guard.go).
	Blocked int64 `json:"blocked,omitempty"`
}

// Sweep runs once over every source with a LocalRetention, then mirrors
// the local deletes of those with PropagateDeletes (see propagate).
func (sw *Sweeper) Sweep(ctx context.Context) (Stats, error) {
	var st Stats
	*sw = sw.withDefaults()
	limit := rate.NewLimiter(rate.Limit(sw.CheckRate), 1)
	for _, src := range sw.Sources {
		if src.LocalRetention > 0 {
			if err := sw.source(ctx, src, limit, &st); err != nil {
				return st, err
			}
		}
		if src.PropagateDeletes {
			if err := sw.propagate(ctx, src, &st); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// withDefaults returns sw with every zero value replaced by its default.
func (sw Sweeper) withDefaults() Sweeper {
	if sw.CheckRate <= 0 {
		sw.CheckRate = DefaultCheckRate
	}
	if sw.Location == nil {
		sw.Location = time.Local
	}
	if sw.DryRunOut == nil {
		sw.DryRunOut = io.Discard
	}
	if sw.Logger == nil {
		sw.Logger = slog.New(slog.DiscardHandler)
	}
	if sw.Now == nil {
		sw.Now = time.Now
	}
	if sw.GuardMinRecords == 0 {
		sw.GuardMinRecords = DefaultGuardMinRecords
	}
	return sw
}

type retentionCandidate struct {
	rel string
	rec index.Record
}

func (sw *Sweeper) source(ctx context.Context, src *local.Source, limit *rate.Limiter, st *Stats) error {
	id := src.ID()
	cutoff := sw.Now().Add(-src.LocalRetention)
	// Marks of files still there: a sweep killed between mark and unlink,
	// or a file restored. Off they come; the file is judged again below.
	var back []string
	err := sw.Index.Removed().Each(id, func(rel string, g index.Gone) error {
		if g.Reason != index.GoneRetention {
			return nil
		}
		if _, err := src.Stat(rel); err == nil {
			back = append(back, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the gone set of %s: %w", src, err)
	}
	if !sw.DryRun {
		for _, rel := range back {
			if err := sw.Index.Removed().Remove(id, rel); err != nil {
				return err
			}
		}
	}
	var cands []retentionCandidate
	err = sw.Index.Records(id, "", func(rel string, rec index.Record) error {
		if rec.MtimeNs >= cutoff.UnixNano() {
			return nil
		}
		info, err := src.Stat(rel)
		if err != nil {
			return nil // gone already (retention, a user)
		}
		if !info.Mode().IsRegular() || !local.StatOf(info).Matches(rec) {
			st.Kept++
			sw.Logger.Debug("retention keeps a file changed since its upload", "source", src.Root, "path", rel)
			return nil
		}
		cands = append(cands, retentionCandidate{rel, rec})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the records of %s: %w", src, err)
	}
	if ok, err := sw.allow(src, GuardRetention, int64(len(cands)), "local deletes", st); err != nil || !ok {
		return err
	}
	locks := map[string]index.Lock{}
	if src.Lock.Mode != "" {
		err := sw.Index.Locks().Each(id, func(rel string, l index.Lock) error { locks[rel] = l; return nil })
		if err != nil {
			return fmt.Errorf("read the locks of %s: %w", src, err)
		}
	}
	emptied := map[string]bool{}
	for _, c := range cands {
		if err := limit.Wait(ctx); err != nil {
			return err
		}
		ok, err := sw.safe(ctx, src, c.rel, c.rec, locks[c.rel])
		if err != nil {
			return err
		}
		if !ok {
			st.Kept++
			continue
		}
		key, _ := src.Key(c.rel)
		if sw.DryRun {
			fmt.Fprintf(sw.DryRunOut, "would delete %s (s3://%s/%s version %s, %d bytes)\n", local.Printable(src.Tree().Join(c.rel)), src.Bucket, local.Printable(key), c.rec.VersionID, c.rec.Size)
			st.Deleted++
			st.Bytes += c.rec.Size
			continue
		}
		deleted, err := sw.remove(src, c.rel, c.rec)
		if err != nil {
			return err
		}
		if !deleted {
			st.Kept++
			continue
		}
		sw.Logger.Info("deleted local file under the retention: the bucket keeps it", "source", src.Root, "path", c.rel, "key", key, "version", c.rec.VersionID, "bytes", c.rec.Size)
		st.Deleted++
		st.Bytes += c.rec.Size
		if sw.Deleted != nil {
			sw.Deleted(c.rec.Size)
		}
		if dir := path.Dir(c.rel); dir != "." {
			emptied[dir] = true
		}
	}
	st.DirsRemoved += sw.removeDirs(src, emptied, cutoff)
	return nil
}

// safe says whether the bucket holds the recorded version of rel with the
// recorded checksum, replicated when that is required.
func (sw *Sweeper) safe(ctx context.Context, src *local.Source, rel string, rec index.Record, lock index.Lock) (bool, error) {
	key, err := src.Key(rel)
	if err != nil || rec.VersionID == "" || rec.Checksum == "" {
		return false, nil
	}
	obj, err := sw.Open(src.Bucket).Head(ctx, key, rec.VersionID)
	switch {
	case errors.Is(err, uploader.ErrNotFound):
		sw.Logger.Warn("retention keeps a file: its recorded version is not in the bucket (deleted behind s3ferry's back?); run s3ferry verify --repair", "source", src.Root, "path", rel, "key", key, "version", rec.VersionID)
		return false, nil
	case err != nil:
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		sw.Logger.Warn("retention keeps a file: cannot check its version in the bucket", "source", src.Root, "path", rel, "key", key, "err", err)
		return false, nil
	}
	if obj.Checksum(rec.Checksum) != rec.Checksum {
		sw.Logger.Warn("retention keeps a file: its version in the bucket has another checksum", "source", src.Root, "path", rel, "key", key, "version", rec.VersionID)
		return false, nil
	}
	if src.Replicated && src.RequireReplica && obj.Replication != uploader.ReplicationCompleted {
		sw.Logger.Debug("retention keeps a file until its replication COMPLETED", "source", src.Root, "path", rel, "key", key, "status", obj.Replication)
		return false, nil
	}
	if src.Lock.Mode != "" {
		return sw.locked(ctx, src, rel, key, rec, lock, obj)
	}
	return true, nil
}

// locked says whether the recorded version (obj, as Head read it) is
// locked as src's Lock asks: its mode, until a time still to come and no
// earlier than the lock set recorded; and the replica's version too, when
// a replica is known and required.
func (sw *Sweeper) locked(ctx context.Context, src *local.Source, rel, key string, rec index.Record, lock index.Lock, obj uploader.Object) (bool, error) {
	want := uploader.Lock{Mode: src.Lock.Mode}
	if lock.VersionID == rec.VersionID && lock.Mode == string(src.Lock.Mode) {
		want.RetainUntil = time.Unix(0, lock.RetainUntilNs)
	}
	now := sw.Now()
	if !obj.Lock.Holds(want, now) {
		sw.Logger.Info("retention keeps a file until its version is locked", "source", src.Root, "path", rel, "key", key, "version", rec.VersionID,
			"mode", obj.Lock.Mode, "until", obj.Lock.RetainUntil, "want_mode", want.Mode, "recorded_until", want.RetainUntil)
		return false, nil
	}
	if sw.Replica == nil || src.ReplicaBucket == "" || !src.Replicated || !src.RequireReplica {
		return true, nil
	}
	replica := sw.Replica(src)
	if replica == nil {
		return true, nil
	}
	// The replica keeps the VersionId (as verify --replica assumes), below
	// its own prefix.
	rkey := src.ReplicaPrefix + rel
	r, err := replica.Head(ctx, rkey, rec.VersionID)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		sw.Logger.Info("retention keeps a file: its replica cannot be read", "source", src.Root, "path", rel, "key", key,
			"replica", "s3://"+src.ReplicaBucket+"/"+rkey, "version", rec.VersionID, "err", err)
		return false, nil
	}
	if !r.Lock.Holds(want, now) {
		sw.Logger.Info("retention keeps a file until its replica is locked", "source", src.Root, "path", rel, "key", key,
			"replica", "s3://"+src.ReplicaBucket+"/"+rkey, "version", rec.VersionID, "mode", r.Lock.Mode, "until", r.Lock.RetainUntil)
		return false, nil
	}
	return true, nil
}

// remove marks rel gone, then unlinks it beneath the root if it is still
// the recorded file; a file that changed meanwhile stays, unmarked.
func (sw *Sweeper) remove(src *local.Source, rel string, rec index.Record) (bool, error) {
	id := src.ID()
	if err := sw.Index.Removed().Add(id, rel, index.Gone{Reason: index.GoneRetention, VersionID: rec.VersionID, SinceNs: sw.Now().UnixNano()}); err != nil {
		return false, err
	}
	dir, err := src.Writable().OpenDir(path.Dir(rel))
	if err == nil {
		defer dir.Close()
		name := path.Base(rel)
		var info fs.FileInfo
		if info, err = dir.Lstat(name); err == nil {
			if !info.Mode().IsRegular() || !local.StatOf(info).Matches(rec) {
				err = errors.New("changed since it was checked")
			} else {
				err = dir.Remove(name)
			}
		}
	}
	if err != nil {
		sw.Logger.Warn("retention keeps a file it could not delete", "source", src.Root, "path", rel, "err", err)
		return false, sw.Index.Removed().Remove(id, rel)
	}
	return true, nil
}

// removeDirs removes the directories of dirs, and their parents, that are
// empty and lie in a partition that ended before cutoff (a source without
// a layout keeps its directories). Deepest first; never the root.
func (sw *Sweeper) removeDirs(src *local.Source, dirs map[string]bool, cutoff time.Time) int64 {
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
		if !src.Layout.Ended(d, cutoff, sw.Location) {
			continue
		}
		parent, err := root.OpenDir(path.Dir(d))
		if err != nil {
			continue
		}
		if err := parent.RemoveDir(path.Base(d)); err == nil {
			n++
			sw.Logger.Info("removed an emptied partition directory", "source", src.Root, "path", d)
		}
		parent.Close()
	}
	return n
}

// Applies says whether a Sweeper has work on src: it has a local
// retention or propagates deletes.
func Applies(src *local.Source) bool { return src.LocalRetention > 0 || src.PropagateDeletes }
