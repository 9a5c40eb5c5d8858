package agent

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

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Defaults of replication tracking.
const (
	DefaultReplicationCheckRate  = 20 // HeadObject requests per second
	DefaultReplicationAlertAfter = time.Hour
	DefaultReplicationBatch      = 1000
	DefaultReplicationMinBackoff = time.Second
	DefaultReplicationMaxBackoff = 10 * time.Minute
	DefaultReplicationInterval   = 5 * time.Second
)

// ReplicationOptions tune the tracking of uploads' replication to the
// replica bucket. The zero value is the default.
type ReplicationOptions struct {
	// CheckRate bounds the HeadObject requests per second, so a backlog
	// of a million versions never floods the bucket; 0:
	// DefaultReplicationCheckRate.
	CheckRate float64
	// AlertAfter: a version not replicated this long after its upload
	// makes /healthz warn; 0: DefaultReplicationAlertAfter.
	AlertAfter time.Duration
	// Batch is how many versions one round checks at most, newest first;
	// 0: DefaultReplicationBatch.
	Batch int
	// MinBackoff is the wait before the second check of a PENDING
	// version, doubled per PENDING answer up to MaxBackoff; 0: the
	// defaults.
	MinBackoff, MaxBackoff time.Duration
	// Interval is how often the index is read for versions due a check;
	// 0: DefaultReplicationInterval.
	Interval time.Duration
}

func (o ReplicationOptions) withDefaults() ReplicationOptions {
	if o.CheckRate <= 0 {
		o.CheckRate = DefaultReplicationCheckRate
	}
	if o.AlertAfter <= 0 {
		o.AlertAfter = DefaultReplicationAlertAfter
	}
	if o.Batch <= 0 {
		o.Batch = DefaultReplicationBatch
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultReplicationMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultReplicationMaxBackoff
	}
	if o.Interval <= 0 {
		o.Interval = DefaultReplicationInterval
	}
	return o
}

// ReplicationSummary is where a source's uploads stand in replication, as
// the index's replica set says.
type ReplicationSummary struct {
	Pending int64 `json:"pending"` // versions not yet confirmed on the replica
	// Failed versions whose file could not be sent again (gone or changed
	// since): `s3ferry manifest --replication-failed` lists them.
	Failed        int64     `json:"failed"`
	OldestPending time.Time `json:"oldest_pending,omitzero"` // upload time of the oldest pending version
}

// SummarizeReplication reads source src's replica set: O(entries).
func SummarizeReplication(idx index.Store, src *Source) (ReplicationSummary, error) {
	var s ReplicationSummary
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
		return ReplicationSummary{}, fmt.Errorf("read the replica set of %s: %w", src, err)
	}
	return s, nil
}

// replicationMetrics are the tracker's Prometheus metrics.
type replicationMetrics struct {
	failed prometheus.Counter
	resent prometheus.Counter
	lag    prometheus.Histogram
}

func newReplicationMetrics() *replicationMetrics {
	return &replicationMetrics{
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_replication_failed_total", Help: "Uploaded versions whose replication S3 reported FAILED.",
		}),
		resent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_replication_resent_total", Help: "Files uploaded again because the replication of their version FAILED.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3ferry_replication_lag_seconds",
			Help:    "Time from a version's upload to S3 reporting its replication COMPLETED (as first seen by a check).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600},
		}),
	}
}

// register adds the metrics, and the gauges read from t at scrape time, to
// reg.
func (m *replicationMetrics) register(reg *prometheus.Registry, t *replicationTracker) {
	reg.MustRegister(m.failed, m.resent, m.lag,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_pending", Help: "Uploaded versions not yet confirmed COMPLETED on the replica (as of the last check round).",
		}, func() float64 { return float64(t.summary().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_unsent_failed", Help: "Versions whose replication FAILED and whose file could not be sent again: s3ferry manifest --replication-failed lists them for S3 Batch Replication.",
		}, func() float64 { return float64(t.summary().Failed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_oldest_pending_seconds", Help: "Age of the oldest upload not yet confirmed on the replica; 0 when none.",
		}, func() float64 {
			s := t.summary()
			if s.OldestPending.IsZero() {
				return 0
			}
			return t.now().Sub(s.OldestPending).Seconds()
		}),
	)
}

// replicationTracker checks the versions of the index's replica set until
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
type replicationTracker struct {
	idx     index.Store
	sources []*Source // only those with Replicated set
	open    func(bucket string) uploader.Bucket
	opts    ReplicationOptions
	log     *slog.Logger
	now     func() time.Time
	metrics *replicationMetrics
	limiter *rate.Limiter
	// resend uploads a file again whose version failed to replicate.
	resend func(ctx context.Context, src *Source, rel string, info fs.FileInfo) error

	// resent is, by flightKey, how often a file was sent again and when
	// it may be next: a replica that stays broken gets a file's versions
	// at a back-off, not one per check. Owned by Run's goroutine.
	resent map[string]resendState

	mu   sync.Mutex
	last map[string]ReplicationSummary // by source ID, as of the last round
}

type resendState struct {
	n    int
	next time.Time
}

// maxResendBackoff bounds the wait between two re-sends of one file.
const maxResendBackoff = 24 * time.Hour

func newReplicationTracker(idx index.Store, sources []*Source, open func(string) uploader.Bucket, opts ReplicationOptions, o Options,
	resend func(context.Context, *Source, string, fs.FileInfo) error) *replicationTracker {
	opts = opts.withDefaults()
	var tracked []*Source
	for _, src := range sources {
		if src.Replicated {
			tracked = append(tracked, src)
		}
	}
	burst := max(1, int(opts.CheckRate))
	return &replicationTracker{
		idx: idx, sources: tracked, open: open, opts: opts, log: o.Logger, now: o.Now,
		metrics: newReplicationMetrics(), limiter: rate.NewLimiter(rate.Limit(opts.CheckRate), burst),
		resend: resend, resent: map[string]resendState{}, last: map[string]ReplicationSummary{},
	}
}

// summary sums the sources' summaries of the last round.
func (t *replicationTracker) summary() ReplicationSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s ReplicationSummary
	for _, ss := range t.last {
		s.Pending += ss.Pending
		s.Failed += ss.Failed
		if !ss.OldestPending.IsZero() && (s.OldestPending.IsZero() || ss.OldestPending.Before(s.OldestPending)) {
			s.OldestPending = ss.OldestPending
		}
	}
	return s
}

// warning is what /healthz says of replication: "" when nothing is late.
func (t *replicationTracker) warning(now time.Time) string {
	s := t.summary()
	var msg string
	if !s.OldestPending.IsZero() && now.Sub(s.OldestPending) > t.opts.AlertAfter {
		msg = fmt.Sprintf("warning: replication lagging: %d versions not yet on the replica, the oldest uploaded %s ago; check the replication rule and the replica bucket", s.Pending, now.Sub(s.OldestPending).Round(time.Second))
	}
	if s.Failed > 0 {
		if msg != "" {
			msg += "; "
		} else {
			msg = "warning: "
		}
		msg += fmt.Sprintf("%d versions failed to replicate and their files are gone or changed: run s3ferry manifest --replication-failed and an S3 Batch Replication job", s.Failed)
	}
	return msg
}

// Run checks every Interval until ctx ends. Errors of one check are logged
// and retried; an error reading the index ends it.
func (t *replicationTracker) Run(ctx context.Context) error {
	if len(t.sources) == 0 {
		return nil
	}
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		if err := t.round(ctx); err != nil {
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

// round checks, per source, up to Batch versions that are due, newest
// first.
func (t *replicationTracker) round(ctx context.Context) error {
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

func (t *replicationTracker) publish(src *Source, sum ReplicationSummary) {
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
func (t *replicationTracker) due(src *Source) ([]dueReplica, ReplicationSummary, error) {
	now := t.now().UnixNano()
	var due []dueReplica
	newestFirst := func(a, b dueReplica) int { return cmp.Compare(b.r.UploadedNs, a.r.UploadedNs) }
	var sum ReplicationSummary
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
func (t *replicationTracker) check(ctx context.Context, src *Source, rel string, r index.Replica) (checkOutcome, error) {
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
		t.metrics.lag.Observe(now.Sub(time.Unix(0, r.UploadedNs)).Seconds())
		delete(t.resent, flightKey(id, rel))
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
func (t *replicationTracker) later(id, rel string, r index.Replica, now time.Time) error {
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
func (t *replicationTracker) failed(ctx context.Context, src *Source, rel, key string, r index.Replica, now time.Time) (checkOutcome, error) {
	t.metrics.failed.Inc()
	id := src.ID()
	rec, ok, err := t.idx.Get(id, rel)
	if err != nil {
		return kept, fmt.Errorf("read index for %s: %w", rel, err)
	}
	info, serr := src.stat(rel)
	if ok && rec.VersionID == r.VersionID && serr == nil && statOf(info).matches(rec) && t.resend != nil {
		fk := flightKey(id, rel)
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
		t.metrics.resent.Inc()
		return kept, nil
	}
	t.log.Error("replication of a version FAILED and its file is gone or changed: run s3ferry manifest --replication-failed and an S3 Batch Replication job", "key", key, "version", r.VersionID)
	r.Failed = true
	return markedFailed, t.idx.Replicas().Add(id, rel, r)
}

// trackReplication puts the version just recorded in the replica set when
// a rule replicates src. Commit and this are two writes: a crash between
// them leaves that one version untracked, which doctor's and verify
// --replica's comparisons still see.
func (p *Pipeline) trackReplication(src *Source, rel string, rec index.Record) {
	if !src.Replicated || rec.VersionID == "" {
		return
	}
	if err := p.idx.Replicas().Add(src.ID(), rel, index.Replica{VersionID: rec.VersionID, UploadedNs: rec.UploadedNs}); err != nil {
		p.opts.Logger.Error("cannot track the replication of an upload", "path", rel, "version", rec.VersionID, "err", err)
	}
}

// resend hands a file whose version failed to replicate to the submitter,
// to be uploaded again though the index says it is unchanged.
func (d *Daemon) resend(_ context.Context, src *Source, rel string, info fs.FileInfo) error {
	d.submit.push(Candidate{Source: src, Path: rel, Info: info, Resend: true, Detected: d.Options.Now()})
	return nil
}

// ErrReplicationTimeout is returned by a Sync with WaitReplication whose
// uploads were not all replicated within ReplicationTimeout.
var ErrReplicationTimeout = errors.New("replication not confirmed in time")

// waitReplication checks, while the pool may still be uploading, the
// replication of what this sync uploaded (since started) until none is
// left unconfirmed and nothing is in flight. A FAILED version whose file is
// unchanged goes through p again; one whose file is gone is an error.
func (s *Sync) waitReplication(ctx context.Context, p *Pipeline, started time.Time) error {
	resend := func(ctx context.Context, src *Source, rel string, info fs.FileInfo) error {
		_, err := p.Consider(ctx, Candidate{Source: src, Path: rel, Info: info, Resend: true, Force: true})
		return err
	}
	opts := s.Replication.withDefaults()
	// A script is waiting: no long back-off between checks.
	opts.MaxBackoff = min(opts.MaxBackoff, 10*time.Second)
	t := newReplicationTracker(s.Index, s.Sources, s.Buckets, opts, s.Options, resend)
	if len(t.sources) == 0 {
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
		if err := t.round(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		left, failed, err := t.unconfirmedSince(since)
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

// unconfirmedSince counts the tracked versions uploaded at or after since:
// those still pending, and those failed for good.
func (t *replicationTracker) unconfirmedSince(since int64) (pending, failed int64, err error) {
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
