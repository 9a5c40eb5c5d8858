package bucket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Defaults of a LockRun.
const (
	DefaultLockRate    = 50 // requests per second
	DefaultLockWorkers = 8
)

// ErrLockFailed ends a LockRun in which some versions could not be held,
// released or extended; LockStats.Failed counts them. Match it with
// errors.Is.
var ErrLockFailed = errors.New("some versions failed")

// LockRun puts or removes legal holds on, or lengthens the retention of,
// the versions the index records for the files of a date range: `s3ferry
// hold` and `s3ferry retention extend`. It works on the recorded version
// of each file (never on versions s3ferry did not write), in parallel at a
// bounded rate, and is resumable: a version already in the wanted state
// (as the index's lock set records it, else as HeadObject says) is not
// asked again, so a run interrupted halfway, even by kill -9, is finished
// by the next one.
type LockRun struct {
	Sources []*local.Source
	Index   index.Store
	Open    func(bucket string) uploader.Bucket
	// Prefix limits the run to the files whose path below the root starts
	// with it; "" all.
	Prefix string
	// From and To, when not zero, limit it to the files of the partitions
	// (the source's layout) that overlap [From, To); a source without a
	// layout, or a file in no partition, is then left out.
	From, To time.Time
	Location *time.Location // of partition names; nil: time.Local
	// Rate bounds the versions a second (each costs a HeadObject, a
	// PutObjectLegalHold or PutObjectRetention, or both); 0:
	// DefaultLockRate. Workers is how many at once; 0: DefaultLockWorkers.
	Rate    float64
	Workers int
	Logger  *slog.Logger     // nil: none
	Now     func() time.Time // nil: time.Now
	// Each, when set, is called with every version done, one at a time.
	Each func(LockItem)
}

// LockItem is one recorded version a LockRun looked at.
type LockItem struct {
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	// State is what the version has after the run (for list, as Head
	// read it).
	State uploader.LockState `json:"state"`
	// Outcome is "changed", "already" or "failed".
	Outcome string `json:"outcome"`
	Err     string `json:"error,omitempty"`
}

// LockStats counts what a LockRun did.
type LockStats struct {
	Versions int64 `json:"versions"` // recorded versions in the range
	Changed  int64 `json:"changed"`  // held, released or extended by this run
	Already  int64 `json:"already"`  // in the wanted state before it
	Failed   int64 `json:"failed"`
}

type lockTarget struct {
	src  *local.Source
	rel  string
	key  string
	rec  index.Record
	lock index.Lock // zero when the lock set has none of this version
}

// targets returns the recorded versions in the range.
func (r *LockRun) targets() ([]lockTarget, error) {
	var out []lockTarget
	for _, src := range r.Sources {
		id := src.ID()
		locks := map[string]index.Lock{}
		err := r.Index.Locks().Each(id, func(rel string, l index.Lock) error {
			if strings.HasPrefix(rel, r.Prefix) {
				locks[rel] = l
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the locks of %s: %w", src, err)
		}
		err = r.Index.Records(id, r.Prefix, func(rel string, rec index.Record) error {
			if rec.VersionID == "" || !r.inRange(src, rel) {
				return nil
			}
			key, err := src.Key(rel)
			if err != nil {
				return nil
			}
			t := lockTarget{src: src, rel: rel, key: key, rec: rec}
			if l := locks[rel]; l.VersionID == rec.VersionID {
				t.lock = l
			}
			out = append(out, t)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the records of %s: %w", src, err)
		}
	}
	return out, nil
}

func (r *LockRun) inRange(src *local.Source, rel string) bool {
	if r.From.IsZero() && r.To.IsZero() {
		return true
	}
	start, end, ok := src.Layout.Span(rel, r.Location)
	if !ok {
		return false
	}
	return (r.From.IsZero() || end.After(r.From)) && (r.To.IsZero() || start.Before(r.To))
}

// each runs do on every target, Workers at once at Rate, and counts.
func (r *LockRun) each(ctx context.Context, do func(ctx context.Context, t lockTarget) (LockItem, error)) (LockStats, error) {
	if r.Location == nil {
		r.Location = time.Local
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	targets, err := r.targets()
	if err != nil {
		return LockStats{}, err
	}
	var st LockStats
	st.Versions = int64(len(targets))
	perSecond, workers := r.Rate, r.Workers
	if perSecond <= 0 {
		perSecond = DefaultLockRate
	}
	if workers <= 0 {
		workers = DefaultLockWorkers
	}
	limit := rate.NewLimiter(rate.Limit(perSecond), 1)
	var changed, already, failed atomic.Int64
	var mu sync.Mutex // serializes Each
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, t := range targets {
		if limit.Wait(gctx) != nil {
			break
		}
		g.Go(func() error {
			item, err := do(gctx, t)
			item.Key, item.VersionID = t.key, t.rec.VersionID
			switch {
			case err != nil && gctx.Err() != nil:
				return gctx.Err()
			case err != nil:
				if uploader.Fatal(err) && !errors.Is(err, uploader.ErrLocked) {
					return err
				}
				failed.Add(1)
				item.Outcome, item.Err = "failed", err.Error()
				r.Logger.Warn("version failed", "key", t.key, "version", t.rec.VersionID, "err", err)
			case item.Outcome == "changed":
				changed.Add(1)
			default:
				item.Outcome = "already"
				already.Add(1)
			}
			if r.Each != nil {
				mu.Lock()
				r.Each(item)
				mu.Unlock()
			}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	st.Changed, st.Already, st.Failed = changed.Load(), already.Load(), failed.Load()
	if err == nil && st.Failed > 0 {
		err = fmt.Errorf("%w: %d of %d", ErrLockFailed, st.Failed, st.Versions)
	}
	return st, err
}

// current returns the Locker of t's bucket and what HeadObject says of
// t's version now.
func (r *LockRun) current(ctx context.Context, t lockTarget) (uploader.Locker, uploader.Object, error) {
	b := r.Open(t.src.Bucket)
	l, ok := b.(uploader.Locker)
	if !ok {
		return nil, uploader.Object{}, fmt.Errorf("bucket %s: this store sets no Object Lock of a version", t.src.Bucket)
	}
	o, err := b.Head(ctx, t.key, t.rec.VersionID)
	return l, o, err
}

// record writes what t's version has now into the lock set.
func (r *LockRun) record(t lockTarget, s uploader.LockState) error {
	l := t.lock
	l.VersionID, l.Hold = t.rec.VersionID, s.LegalHold
	if !s.Lock.IsZero() {
		l.Mode, l.RetainUntilNs = string(s.Mode), s.RetainUntil.UnixNano()
	}
	return r.Index.Locks().Add(t.src.ID(), t.rel, l)
}

// Hold puts (on) or removes a legal hold on every recorded version in the
// range:
//
//	lock set says            HeadObject says    request
//	hold as wanted           -                  none (already)
//	otherwise                hold as wanted     none (already; the lock set learns it)
//	otherwise                otherwise          PutObjectLegalHold (changed)
//
// A version whose request fails is counted and the run goes on; the error
// (ErrLockFailed) comes at the end.
func (r *LockRun) Hold(ctx context.Context, on bool) (LockStats, error) {
	return r.each(ctx, func(ctx context.Context, t lockTarget) (LockItem, error) {
		if t.lock.VersionID != "" && t.lock.Hold == on {
			return LockItem{State: uploader.LockState{LegalHold: on}}, nil
		}
		l, o, err := r.current(ctx, t)
		if err != nil {
			return LockItem{}, err
		}
		item := LockItem{State: o.Lock}
		if o.Lock.LegalHold != on {
			if err := l.PutLegalHold(ctx, t.key, t.rec.VersionID, on); err != nil {
				return LockItem{}, err
			}
			item.State.LegalHold, item.Outcome = on, "changed"
		}
		return item, r.record(t, item.State)
	})
}

// Extend lengthens the retention of every recorded version in the range
// to until, and never shortens one:
//
//	HeadObject says                        request
//	retained until until or later          none (already)
//	retained less long, mode M             PutObjectRetention M until (changed)
//	no retention                           PutObjectRetention in the source's
//	                                         object-lock mode (none: failed)
//
// S3 refuses any shortening of a COMPLIANCE retention anyway; a GOVERNANCE
// one could be shortened with s3:BypassGovernanceRetention, which s3ferry
// never asks for.
func (r *LockRun) Extend(ctx context.Context, until time.Time) (LockStats, error) {
	until = until.UTC().Truncate(time.Second)
	return r.each(ctx, func(ctx context.Context, t lockTarget) (LockItem, error) {
		l, o, err := r.current(ctx, t)
		if err != nil {
			return LockItem{}, err
		}
		item := LockItem{State: o.Lock}
		if !o.Lock.Lock.IsZero() && !o.Lock.RetainUntil.Before(until) {
			return item, r.record(t, item.State)
		}
		mode := o.Lock.Mode
		if mode == "" {
			mode = t.src.Lock.Mode
		}
		if mode == "" {
			return item, fmt.Errorf("%s version %s has no retention and the source no object-lock mode to give it", t.key, t.rec.VersionID)
		}
		want := uploader.Lock{Mode: mode, RetainUntil: until}
		if err := l.PutRetention(ctx, t.key, t.rec.VersionID, want); err != nil {
			return item, err
		}
		item.State.Lock, item.Outcome = want, "changed"
		return item, r.record(t, item.State)
	})
}

// List reads the lock of every recorded version in the range with
// HeadObject; it changes nothing (Already counts them all).
func (r *LockRun) List(ctx context.Context) (LockStats, error) {
	return r.each(ctx, func(ctx context.Context, t lockTarget) (LockItem, error) {
		o, err := r.Open(t.src.Bucket).Head(ctx, t.key, t.rec.VersionID)
		if err != nil {
			return LockItem{}, err
		}
		return LockItem{State: o.Lock}, nil
	})
}
