package replication

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Defaults of replication tracking.
const (
	DefaultCheckRate  = 20 // HeadObject requests per second
	DefaultAlertAfter = time.Hour
	DefaultBatch      = 1000
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 10 * time.Minute
	DefaultInterval   = 5 * time.Second
)

// Options tune the tracking of uploads' replication to the
// replica bucket. The zero value is the default.
type Options struct {
	// CheckRate bounds the HeadObject requests per second, so a backlog
	// of a million versions never floods the bucket; 0:
	// DefaultCheckRate.
	CheckRate float64
	// AlertAfter: a version not replicated this long after its upload
	// makes /healthz warn; 0: DefaultAlertAfter.
	AlertAfter time.Duration
	// Batch is how many versions one round checks at most, newest first;
	// 0: DefaultBatch.
	Batch int
	// MinBackoff is the wait before the second check of a PENDING
	// version, doubled per PENDING answer up to MaxBackoff; 0: the
	// defaults.
	MinBackoff, MaxBackoff time.Duration
	// Interval is how often the index is read for versions due a check;
	// 0: DefaultInterval.
	Interval time.Duration
}

// WithDefaults returns o with every zero value replaced by its default.
func (o Options) WithDefaults() Options {
	if o.CheckRate <= 0 {
		o.CheckRate = DefaultCheckRate
	}
	if o.AlertAfter <= 0 {
		o.AlertAfter = DefaultAlertAfter
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return o
}

// Summary is where a source's uploads stand in replication, as
// the index's replica set says.
type Summary struct {
	Pending int64 `json:"pending"` // versions not yet confirmed on the replica
	// Failed versions whose file could not be sent again (gone or changed
	// since): `s3ferry manifest --replication-failed` lists them.
	Failed        int64     `json:"failed"`
	OldestPending time.Time `json:"oldest_pending,omitzero"` // upload time of the oldest pending version
}

// Summarize reads source src's replica set: O(entries).
func Summarize(idx index.Store, src *local.Source) (Summary, error) {
	var s Summary
	err := idx.Replicas().Each(src.ID(), func(_ string, r index.Replica) error {
		if r.Failed {
			s.Failed++
			return nil
		}
		s.Pending++
		if t := time.Unix(0, r.UploadedNs); s.OldestPending.IsZero() || t.Before(s.OldestPending) {
			s.OldestPending = t
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("read the replica set of %s: %w", src, err)
	}
	return s, nil
}

// Observer hears what the checks find; the daemon's metrics implement it.
// Its methods are called from the goroutine that runs the checks.
type Observer interface {
	// Failed: S3 reported a version's replication FAILED.
	Failed()
	// Resent: a file was uploaded again because its version failed to
	// replicate.
	Resent()
	// Completed: a version's replication was seen COMPLETED (by its
	// first check that saw it), lag after its upload.
	Completed(lag time.Duration)
}

// ResendFunc uploads rel of src again, found as info, though the index
// says it is unchanged: its version failed to replicate.
type ResendFunc func(ctx context.Context, src *local.Source, rel string, info fs.FileInfo) error

// Tracker checks the versions of the index's replica set until
// S3 says their replication COMPLETED:
//
//	HeadObject of the version answers   the entry
//	COMPLETED (or REPLICA)              removed; lag observed
//	PENDING                             checked again after a back-off that doubles, up to MaxBackoff
//	no status, uploaded < AlertAfter    as PENDING (the rule may not have been applied yet)
//	no status, uploaded >= AlertAfter   removed, warned: no rule replicates the key
//	FAILED, file as recorded            the file is sent again (resend); the new version replaces the entry;
//	                                      again FAILED: sent again after MaxBackoff, doubling up to a day
//	FAILED, file gone or changed        kept, Failed: for manifest --replication-failed
//	version not found                   removed, warned: deleted behind s3ferry's back
//	an error                            checked again after the back-off
//
// Run's goroutine owns the checks; summary may be read from any goroutine.
type Tracker struct {
	idx     index.Store
	sources []*local.Source // only those with Replicated set
	open    func(bucket string) uploader.Bucket
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	observe Observer
	limiter *rate.Limiter
	// resend uploads a file again whose version failed to replicate.
	resend ResendFunc

	// resent is, by fileOf, how often a file was sent again and when
	// it may be next: a replica that stays broken gets a file's versions
	// at a back-off, not one per check. Owned by Run's goroutine.
	resent map[string]resendState

	mu   sync.Mutex
	last map[string]Summary // by source ID, as of the last round
}

type resendState struct {
	n    int
	next time.Time
}

// maxResendBackoff bounds the wait between two re-sends of one file.
const maxResendBackoff = 24 * time.Hour

// NewTracker returns a tracker of the versions uploaded of those of
// sources with Replicated set, opening their buckets with open. resend
// (nil: none) uploads again a file whose version failed to replicate;
// observe (nil: none) hears what the checks find; now is the clock (nil:
// time.Now).
func NewTracker(idx index.Store, sources []*local.Source, open func(string) uploader.Bucket, opts Options, log *slog.Logger, now func() time.Time,
	resend ResendFunc, observe Observer) *Tracker {
	opts = opts.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if observe == nil {
		observe = noObserver{}
	}
	var tracked []*local.Source
	for _, src := range sources {
		if src.Replicated {
			tracked = append(tracked, src)
		}
	}
	burst := max(1, int(opts.CheckRate))
	return &Tracker{
		idx: idx, sources: tracked, open: open, opts: opts, log: log, now: now,
		observe: observe, limiter: rate.NewLimiter(rate.Limit(opts.CheckRate), burst),
		resend: resend, resent: map[string]resendState{}, last: map[string]Summary{},
	}
}

// noObserver hears nothing.
type noObserver struct{}

func (noObserver) Failed()                 {}
func (noObserver) Resent()                 {}
func (noObserver) Completed(time.Duration) {}

// Tracks says whether any source is tracked.
func (t *Tracker) Tracks() bool { return len(t.sources) > 0 }

// AlertAfter is how long after its upload a version not yet replicated
// makes Warning speak.
func (t *Tracker) AlertAfter() time.Duration { return t.opts.AlertAfter }

// Summary sums the sources' summaries of the last round; it may be read
// from any goroutine.
func (t *Tracker) Summary() Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s Summary
	for _, ss := range t.last {
		s.Pending += ss.Pending
		s.Failed += ss.Failed
		if !ss.OldestPending.IsZero() && (s.OldestPending.IsZero() || ss.OldestPending.Before(s.OldestPending)) {
			s.OldestPending = ss.OldestPending
		}
	}
	return s
}

// Warning is what /healthz says of replication: "" when nothing is late.
func (t *Tracker) Warning(now time.Time) string {
	s := t.Summary()
	var msg string
	if !s.OldestPending.IsZero() && now.Sub(s.OldestPending) > t.opts.AlertAfter {
		msg = fmt.Sprintf("warning: replication lagging: %s not yet on the replica, the oldest uploaded %s ago; check the replication rule and the replica bucket", local.Plural(s.Pending, "version", "versions"), now.Sub(s.OldestPending).Round(time.Second))
	}
	if s.Failed > 0 {
		if msg != "" {
			msg += "; "
		} else {
			msg = "warning: "
		}
		msg += fmt.Sprintf("%s failed to replicate and their files are gone or changed: run s3ferry manifest --replication-failed and an S3 Batch Replication job", local.Plural(s.Failed, "version", "versions"))
	}
	return msg
}

// Run checks every Interval until ctx ends. Errors of one check are logged
// and retried; an error reading the index ends it.
func (t *Tracker) Run(ctx context.Context) error {
	if len(t.sources) == 0 {
		return nil
	}
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		if err := t.Round(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round checks, per source, up to Batch versions that are due, newest
// first. It returns index errors and ctx's.
func (t *Tracker) Round(ctx context.Context) error {
	for _, src := range t.sources {
		due, sum, err := t.due(src)
		if err != nil {
			return err
		}
		t.publish(src, sum)
		for _, d := range due {
			if err := t.limiter.Wait(ctx); err != nil {
				return err
			}
			out, err := t.check(ctx, src, d.path, d.r)
			if err != nil {
				return err
			}
			// The oldest stays as it was until the next round reads
			// the set again.
			switch out {
			case untracked:
				sum.Pending--
			case markedFailed:
				sum.Pending--
				sum.Failed++
			}
			t.publish(src, sum)
		}
	}
	return nil
}

func (t *Tracker) publish(src *local.Source, sum Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[src.ID()] = sum
}

// checkOutcome is what a check did to a version's entry.
type checkOutcome int

const (
	kept         checkOutcome = iota // checked again later
	untracked                        // removed from the replica set
	markedFailed                     // kept for the manifest, not checked again
)

type dueReplica struct {
	path string
	r    index.Replica
}

// due reads src's replica set: its summary, and the Batch newest versions
// due a check. It keeps at most 2×Batch of them in memory at once.
func (t *Tracker) due(src *local.Source) ([]dueReplica, Summary, error) {
	now := t.now().UnixNano()
	var due []dueReplica
	newestFirst := func(a, b dueReplica) int { return cmp.Compare(b.r.UploadedNs, a.r.UploadedNs) }
	var sum Summary
	err := t.idx.Replicas().Each(src.ID(), func(path string, r index.Replica) error {
		if r.Failed {
			sum.Failed++
			return nil
		}
		sum.Pending++
		if u := time.Unix(0, r.UploadedNs); sum.OldestPending.IsZero() || u.Before(sum.OldestPending) {
			sum.OldestPending = u
		}
		if r.CheckNs > now {
			return nil
		}
		due = append(due, dueReplica{path, r})
		if len(due) >= 2*t.opts.Batch {
			slices.SortFunc(due, newestFirst)
			due = due[:t.opts.Batch]
		}
		return nil
	})
	if err != nil {
		return nil, sum, fmt.Errorf("read the replica set of %s: %w", src, err)
	}
	slices.SortFunc(due, newestFirst)
	if len(due) > t.opts.Batch {
		due = due[:t.opts.Batch]
	}
	return due, sum, nil
}

// check asks S3 about one version and acts on the answer (see the table
// on replicationTracker). It returns only index errors.
func (t *Tracker) check(ctx context.Context, src *local.Source, rel string, r index.Replica) (checkOutcome, error) {
	id := src.ID()
	untrack := func() (checkOutcome, error) {
		return untracked, t.idx.Replicas().RemoveIf(id, rel, index.ReplicaOf(r.VersionID))
	}
	key, err := src.Key(rel)
	if err != nil {
		return untrack()
	}
	obj, err := t.open(src.Bucket).Head(ctx, key, r.VersionID)
	now := t.now()
	switch {
	case errors.Is(err, uploader.ErrNotFound):
		t.log.Warn("uploaded version is gone from the bucket (deleted behind s3ferry's back): no longer tracking its replication", "key", key, "version", r.VersionID)
		return untrack()
	case err != nil:
		if ctx.Err() != nil {
			return kept, nil
		}
		t.log.Warn("cannot check replication", "key", key, "version", r.VersionID, "err", err)
		return kept, t.later(id, rel, r, now)
	}
	switch obj.Replication {
	case uploader.ReplicationCompleted, uploader.ReplicationReplica:
		t.observe.Completed(now.Sub(time.Unix(0, r.UploadedNs)))
		delete(t.resent, fileOf(id, rel))
		return untrack()
	case uploader.ReplicationFailed:
		return t.failed(ctx, src, rel, key, r, now)
	case "":
		if now.Sub(time.Unix(0, r.UploadedNs)) >= t.opts.AlertAfter {
			t.log.Warn("S3 reports no replication status for an uploaded version: no replication rule applies to it; no longer tracking it", "key", key, "version", r.VersionID)
			return untrack()
		}
	}
	return kept, t.later(id, rel, r, now)
}

// later schedules the next check of r after its back-off.
func (t *Tracker) later(id, rel string, r index.Replica, now time.Time) error {
	wait := t.opts.MinBackoff << min(r.Checks, 30)
	if wait <= 0 || wait > t.opts.MaxBackoff {
		wait = t.opts.MaxBackoff
	}
	r.Checks++
	r.CheckNs = now.Add(wait).UnixNano()
	return t.idx.Replicas().Add(id, rel, r)
}

// failed handles a version whose replication FAILED: S3 never retries it,
// so the file is sent again when it is still what was uploaded, else the
// version is kept for a Batch Replication manifest.
func (t *Tracker) failed(ctx context.Context, src *local.Source, rel, key string, r index.Replica, now time.Time) (checkOutcome, error) {
	t.observe.Failed()
	id := src.ID()
	rec, ok, err := t.idx.Get(id, rel)
	if err != nil {
		return kept, fmt.Errorf("read index for %s: %w", rel, err)
	}
	info, serr := src.Stat(rel)
	if ok && rec.VersionID == r.VersionID && serr == nil && local.StatOf(info).Matches(rec) && t.resend != nil {
		fk := fileOf(id, rel)
		rs := t.resent[fk]
		if now.Before(rs.next) {
			// Sent again not long ago, and that version failed too.
			r.CheckNs = rs.next.UnixNano()
			return kept, t.idx.Replicas().Add(id, rel, r)
		}
		rs.n++
		rs.next = now.Add(min(t.opts.MaxBackoff<<min(rs.n-1, 30), maxResendBackoff))
		t.resent[fk] = rs
		t.log.Warn("replication of a version FAILED: uploading the file again as a new version", "key", key, "version", r.VersionID)
		// Not checked again while the new upload runs; its commit
		// replaces this entry.
		r.CheckNs, r.Checks = now.Add(t.opts.MaxBackoff).UnixNano(), r.Checks+1
		if err := t.idx.Replicas().Add(id, rel, r); err != nil {
			return kept, err
		}
		if err := t.resend(ctx, src, rel, info); err != nil {
			if ctx.Err() != nil {
				return kept, nil
			}
			return kept, err
		}
		t.observe.Resent()
		return kept, nil
	}
	t.log.Error("replication of a version FAILED and its file is gone or changed: run s3ferry manifest --replication-failed and an S3 Batch Replication job", "key", key, "version", r.VersionID)
	r.Failed = true
	return markedFailed, t.idx.Replicas().Add(id, rel, r)
}

// Track puts the version rec just recorded of rel in the replica set
// when a rule replicates src. Commit and this are two writes: a crash
// between them leaves that one version untracked, which doctor's and
// verify --replica's comparisons still see.
func Track(idx index.Store, src *local.Source, rel string, rec index.Record) error {
	if !src.Replicated || rec.VersionID == "" {
		return nil
	}
	return idx.Replicas().Add(src.ID(), rel, index.Replica{VersionID: rec.VersionID, UploadedNs: rec.UploadedNs})
}

// fileOf names a file of a source in the tracker's maps.
func fileOf(sourceID, rel string) string { return sourceID + "\x00" + rel }

// UnconfirmedSince counts the tracked versions uploaded at or after since:
// those still pending, and those failed for good.
func (t *Tracker) UnconfirmedSince(since int64) (pending, failed int64, err error) {
	for _, src := range t.sources {
		err := t.idx.Replicas().Each(src.ID(), func(_ string, r index.Replica) error {
			switch {
			case r.UploadedNs < since:
			case r.Failed:
				failed++
			default:
				pending++
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("read the replica set of %s: %w", src, err)
		}
	}
	return pending, failed, nil
}
