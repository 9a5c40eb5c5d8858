package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Uploader sends one file to S3. *uploader.Uploader implements it; tests may
// wrap it to inject faults.
type Uploader interface {
	// Upload reads the file at job.Path and stores it as job.Key. It returns
	// an error wrapping uploader.ErrChanged when the file changed while it
	// was read, fs.ErrNotExist when it vanished, and an error for which
	// uploader.Fatal is true when no other upload can succeed either.
	Upload(ctx context.Context, job uploader.Job) (uploader.Result, error)
}

// Outcome is what the pipeline decided for one file.
type Outcome int

// The outcomes of Pipeline.Consider and of an upload, in Event.Outcome.
const (
	Unchanged   Outcome = iota // matches the index; nothing read
	Deferred                   // still being written; try again after settle
	Queued                     // recorded as pending and handed to the upload pool
	InFlight                   // already being uploaded; consider it again later
	WouldUpload                // dry run: new or changed
	Excluded                   // not a file to back up (filter, bad name)
	Uploaded                   // acknowledged by S3 and recorded
	Touched                    // content unchanged; only the index was updated
	Vanished                   // deleted before it was read
	Failed                     // could not be read or sent
)

var outcomeNames = [...]string{"unchanged", "deferred", "queued", "in-flight", "would-upload", "excluded", "uploaded", "touched", "vanished", "failed"}

func (o Outcome) String() string { return outcomeNames[o] }

// Event reports an upload's end to an observer (logs, metrics).
type Event struct {
	Source  *local.Source
	Path    string          // relative to the source root
	Key     string          // object key
	Outcome Outcome         // Uploaded, Touched, Vanished, Deferred or Failed
	Reason  uploader.Reason // for Failed and Deferred: uploader.ReasonOf the error, or one of the agent's
	Err     error           // for Failed
	Bytes   int64           // for Uploaded
	Latency time.Duration   // from detection to the index recording the upload
	Took    time.Duration   // from the upload's start to its end
	Kept    int64           // for Uploaded: bytes of a resumed upload an earlier attempt sent (in Bytes, not sent again)
}

// Options are the knobs a pipeline shares between sync and run.
type Options struct {
	Workers int // files uploaded at once; 0: DefaultWorkers
	// Settle: a file younger than this (by mtime) is deferred; 0:
	// DefaultSettle, NoSettle: none.
	Settle time.Duration
	DryRun bool // decide, but queue and upload nothing
	// DryRunOut receives one line per file a dry run would upload.
	DryRunOut io.Writer
	// Observe, when set, is called after each upload ends, from the worker
	// that ran it. It must not block for long.
	Observe func(Event)
	Logger  *slog.Logger
	Now     func() time.Time // clock; nil: time.Now
	// KeepGoingOnFullIndex fails a file whose upload the index cannot
	// record for lack of disk space (index.ErrDiskFull), reason
	// ReasonIndexDiskFull, instead of stopping the run: the daemon's
	// choice, which retries it while /healthz says why. The file stays
	// pending.
	KeepGoingOnFullIndex bool

	// AutoWorkers adapts the number of files uploaded at once to the rate
	// uploads end at and to throttling (see Pipeline.adapt), from Workers
	// up to MaxWorkers (0: DefaultMaxWorkers), every AdaptInterval (0:
	// DefaultAdaptInterval). Throttled, when set, counts the requests S3
	// throttled so far (the ones the SDK retried too).
	AutoWorkers   bool
	MaxWorkers    int
	AdaptInterval time.Duration
	Throttled     func() int64

	// Transfers, when set, is told each file queued, each upload's bytes
	// as they cross the network, and each upload's end, for a progress
	// display.
	Transfers *Transfers

	// Gate, when set, is waited on by a worker before each upload: the
	// daemon's endpoint probe holds uploads while the endpoint is down. An
	// error (ctx's end, the daemon stopping) leaves the file pending for
	// the next run.
	Gate func(context.Context) error
}

// Event.Reasons of the agent's own, beside the uploader's.
const (
	// ReasonIndexDiskFull is the Event.Reason of a file the index could
	// not take for lack of disk space.
	ReasonIndexDiskFull uploader.Reason = "index-disk-full"
	// ReasonStopped is the Event.Reason of a file whose upload the run's
	// end stopped before it began.
	ReasonStopped uploader.Reason = "stopped"
)

// Reasons returns every Event.Reason a failed upload can have: the
// uploader's and the agent's own.
func Reasons() []uploader.Reason {
	return append(uploader.Reasons(), ReasonIndexDiskFull, ReasonStopped)
}

// DefaultSettle is how long a file must be unchanged before it is
// uploaded, when Options.Settle is 0.
const DefaultSettle = 5 * time.Second

// NoSettle, as Options.Settle, uploads a file however young it is (a
// file dated in the future still waits for its mtime).
const NoSettle time.Duration = -1

// DefaultWorkers is the upload pool size when none is set.
const DefaultWorkers = 16

// queuedPerWorker is how many files per worker may wait, queued, for a free
// worker. Consider returns once a file is queued, so a walk goes on finding
// files (stat and index reads, CPU) while the uploads it started wait on the
// network, instead of waiting with them. A waiting file costs a few hundred
// bytes; it is pending in the index already.
const queuedPerWorker = 64

// WithDefaults returns o with every zero value replaced by its default.
func (o Options) WithDefaults() Options {
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = DefaultMaxWorkers
	}
	o.MaxWorkers = max(o.MaxWorkers, o.Workers)
	if o.AdaptInterval <= 0 {
		o.AdaptInterval = DefaultAdaptInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DryRunOut == nil {
		o.DryRunOut = io.Discard
	}
	return o
}

// Candidate is a file a detector found: a walk, the watcher, the pending set.
type Candidate struct {
	Source *local.Source
	Path   string      // relative to the source root, slash-separated
	Info   fs.FileInfo // lstat, or stat for a followed link
	// Seq is the file's pending entry when it came from the pending set;
	// 0 queues it anew.
	Seq uint64
	// Force skips the settle rule: the daemon's hard cap for a file that
	// never stops changing.
	Force bool
	// Resend uploads the file even when the index says it is unchanged:
	// the replication of its version FAILED.
	Resend bool
	// Detected is when a detector first saw the file change; zero: when
	// Consider was called. Upload latency is measured from it.
	Detected time.Time
	// rec is the index's record of the file when a walk read it ahead
	// (indexed). Consider trusts it only to find the file unchanged; for
	// any other answer it reads the index again, as an upload may have
	// recorded the file since.
	rec     index.Record
	indexed bool
	// upload is the multipart upload the file's pending entry carries, to
	// resume (see index.Store.SetUpload).
	upload *index.Upload
	// retry says the file is in the retry set: its upload's end takes it
	// out (Uploaded, Touched, Vanished).
	retry bool
	// tally is the walk's own count (a daemon rescan), which the pipeline
	// keeps beside its totals; nil: not found by such a walk.
	tally *Tally
	// Done, when set, is called once, from the worker, with the end of the
	// upload of a file Consider queued (Outcome Uploaded, Touched, Vanished,
	// Deferred or Failed; Failed too when the pool stopped before it ended).
	// Consider's own outcome is returned, not passed to Done.
	Done func(Event)
}

// job is one file on its way to the bucket.
type job struct {
	Candidate
	key  string
	prev *index.Record // the index's record, when the file was known
	size int64         // at queueing, for the pending-bytes gauge
	tr   *Transfer     // with Options.Transfers, once its upload started
}

// Pipeline turns candidate files into uploads: diff against the index, write
// the pending entry, hand the file to the pool, record what S3 answered. Sync
// and the daemon both feed it. Run owns the pool; Consider may be called from
// any goroutine while Run runs.
type Pipeline struct {
	idx   index.Store
	up    Uploader
	opts  Options
	stats *counters
	jobs  chan job

	pendingBytes atomic.Int64 // sizes of the files queued and not yet done
	workers      atomic.Int64 // uploads at once now (see Workers)

	mu       sync.Mutex
	inflight map[string]time.Time // sourceID + "\x00" + path of every queued job → when queued
}

// NewPipeline builds a pipeline; Run starts its workers.
func NewPipeline(idx index.Store, up Uploader, opts Options) *Pipeline {
	opts = opts.WithDefaults()
	p := &Pipeline{
		idx:      idx,
		up:       up,
		opts:     opts,
		stats:    newCounters(opts.Now()),
		jobs:     make(chan job, opts.Workers*queuedPerWorker),
		inflight: map[string]time.Time{},
	}
	p.workers.Store(int64(opts.Workers))
	return p
}

// Stats reads the pipeline's counters.
func (p *Pipeline) Stats() Stats { return p.stats.snapshot(p.opts.Now()) }

// Run uploads queued files with Options.Workers workers until ctx is done or
// Close is called and the queue has drained. It returns the first fatal error
// (one that no other upload could avoid, such as a missing bucket); per-file
// failures are counted and logged, not returned.
func (p *Pipeline) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx) // a fatal error stops every worker
	var lim *limiter
	if p.opts.AutoWorkers {
		// As many goroutines as the limit adapt sets has been at most:
		// the limiter lets that many run. Started as the limit grows,
		// not MaxWorkers up front (a sync with nothing to upload
		// started 256, and paid for their stacks).
		lim = newLimiter(p.opts.Workers)
	}
	finishing := make(chan struct{}) // a worker returned: the pool is ending
	var once sync.Once
	worker := func() error {
		defer once.Do(func() { close(finishing) })
		return p.work(gctx, lim)
	}
	for range p.opts.Workers {
		g.Go(worker)
	}
	if lim != nil {
		// In the group, so that Wait never returns while it may start
		// one more.
		g.Go(func() error {
			for started := p.opts.Workers; ; {
				select {
				case <-lim.grew:
					for n := min(lim.most(), p.opts.MaxWorkers); started < n; started++ {
						g.Go(worker)
					}
				case <-finishing:
					return nil
				case <-gctx.Done():
					return nil
				}
			}
		})
	}
	var adapting sync.WaitGroup
	actx, stop := context.WithCancel(gctx)
	if lim != nil {
		adapting.Add(1)
		go func() {
			defer adapting.Done()
			p.adapt(actx, lim)
		}()
	}
	err := g.Wait()
	stop()
	adapting.Wait()
	p.abandon()
	return err
}

// abandon ends the files still queued when the pool stopped early (ctx done,
// a fatal error): they stay pending in the index, for the next run to
// resume, and their Done learns that they failed.
func (p *Pipeline) abandon() {
	for {
		select {
		case j, ok := <-p.jobs:
			if !ok {
				return
			}
			p.finish(j, Event{Source: j.Source, Path: j.Path, Key: j.key, Outcome: Failed, Reason: ReasonStopped})
		default:
			return
		}
	}
}

// Close tells Run that no more files will be considered: it returns once the
// files already queued are done.
func (p *Pipeline) Close() { close(p.jobs) }

// Consider decides what to do with a candidate file. A file to upload is
// recorded as pending and queued for the pool; Consider blocks while the
// queue is full.
//
//	index record              stat vs record           mtime age     outcome
//	none or different         -                        < settle      Deferred (unless Force)
//	none                      -                        >= settle     Queued (upload)
//	present                   size, mtime, inode same  -             Unchanged
//	present                   any differs              >= settle     Queued (hash; upload or touch)
//	(already in the pool)     -                        -             InFlight
func (p *Pipeline) Consider(ctx context.Context, c Candidate) (Outcome, error) {
	out, err := p.decide(ctx, c)
	if c.tally != nil && out != Queued {
		c.tally.add(out, 0)
	}
	return out, err
}

func (p *Pipeline) decide(ctx context.Context, c Candidate) (Outcome, error) {
	p.stats.scanned.Add(1)
	if c.tally != nil {
		c.tally.scanned.Add(1)
	}
	src, rel := c.Source, c.Path
	key, err := src.Key(rel)
	if err != nil {
		p.stats.add(Failed, 0)
		p.opts.Logger.Error("cannot back up file", "source", src.Root, "path", rel, "err", err)
		return Failed, nil
	}
	st := local.StatOf(c.Info)
	id := src.ID()
	rec, known := c.rec, c.indexed
	if !known || !st.Matches(rec) {
		var err error
		if rec, known, err = p.idx.Get(id, rel); err != nil {
			return Failed, fmt.Errorf("read index for %s: %w", rel, err)
		}
	}
	if known && st.Matches(rec) && !c.Resend {
		p.stats.add(Unchanged, 0)
		if c.Seq != 0 {
			p.abort(ctx, src, c.upload)
			if err := p.idx.Unqueue(id, rel, c.Seq); err != nil {
				return Failed, fmt.Errorf("unqueue %s: %w", rel, err)
			}
		}
		return Unchanged, nil
	}
	now := p.opts.Now()
	if !c.Force && now.Sub(time.Unix(0, st.MtimeNs)) < p.opts.Settle {
		p.stats.add(Deferred, 0)
		return Deferred, nil
	}
	if p.opts.DryRun {
		p.stats.add(WouldUpload, 0)
		fmt.Fprintf(p.opts.DryRunOut, "would upload %s -> s3://%s/%s (%d bytes)\n", local.Printable(filepath.Join(src.Root, rel)), src.Bucket, local.Printable(key), st.Size)
		return WouldUpload, nil
	}
	flight := flightKey(id, rel)
	p.mu.Lock()
	_, busy := p.inflight[flight]
	if !busy {
		p.inflight[flight] = now
	}
	p.mu.Unlock()
	if busy {
		return InFlight, nil
	}
	if c.Seq == 0 {
		pend, err := p.idx.Queue(id, rel)
		if err != nil {
			p.land(flight)
			return Failed, fmt.Errorf("queue %s: %w", rel, err)
		}
		c.Seq, c.upload = pend.Seq, pend.Upload
	}
	if c.Detected.IsZero() {
		c.Detected = now
	}
	j := job{Candidate: c, key: key, size: st.Size}
	if known {
		j.prev = &rec
	}
	p.pendingBytes.Add(j.size)
	if c.tally != nil {
		c.tally.queued.Add(1)
	}
	if p.opts.Transfers != nil {
		p.opts.Transfers.Found(j.size)
	}
	select {
	case p.jobs <- j:
		return Queued, nil
	case <-ctx.Done():
		if c.tally != nil {
			c.tally.queued.Add(-1)
		}
		if p.opts.Transfers != nil {
			p.opts.Transfers.Done(j.size)
		}
		p.pendingBytes.Add(-j.size)
		p.land(flight)
		return Failed, ctx.Err() // still pending in the index: the next run resumes it
	}
}

// Stuck is the number of files queued or being uploaded since before t.
func (p *Pipeline) Stuck(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, q := range p.inflight {
		if q.Before(t) {
			n++
		}
	}
	return n
}

// InFlight is the number of files queued or being uploaded, their bytes, and
// when the oldest of them was queued (zero when none is).
func (p *Pipeline) InFlight() (files int, bytes int64, oldest time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.inflight {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return len(p.inflight), p.pendingBytes.Load(), oldest
}

// Resume hands every pending entry of src to submit as a Candidate with its
// Seq: the files a crash, a stop or a failure left between queueing and
// recording. Entries whose file is gone, no longer a regular file or no
// longer wanted are dropped. It costs O(pending).
func (p *Pipeline) Resume(ctx context.Context, src *local.Source, submit func(context.Context, Candidate) error) error {
	type entry struct {
		rel    string
		seq    uint64
		upload *index.Upload
	}
	var pending []entry
	err := p.idx.Pending(src.ID(), func(rel string, pe index.Pending) error {
		pending = append(pending, entry{rel, pe.Seq, pe.Upload})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read pending files of %s: %w", src, err)
	}
	if len(pending) > 0 {
		p.opts.Logger.Info("resuming pending uploads", "source", src.Root, "destination", src.Destination(), "files", len(pending))
	}
	if len(pending) == 0 {
		return nil
	}
	// A root that cannot be read (unmounted, renamed) says nothing of its
	// files: their entries stay for a later run, never dropped as vanished.
	// The walk that follows reports the root.
	if _, err := src.Stat(""); err != nil {
		p.opts.Logger.Warn("cannot read the source root; its pending files stay pending", "source", src.Root, "destination", src.Destination(), "files", len(pending), "err", err)
		return nil
	}
	for _, e := range pending {
		info, err := src.Stat(e.rel)
		switch {
		case err == nil && info.Mode().IsRegular() && src.Filter.File(e.rel):
			if err := submit(ctx, Candidate{Source: src, Path: e.rel, Info: info, Seq: e.seq, upload: e.upload}); err != nil {
				return err
			}
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			// Still there but unreadable (permission, I/O): it stays
			// pending, and the run says a file stayed behind.
			p.stats.add(Failed, 0)
			p.opts.Logger.Error("cannot read a pending file; it stays pending", "source", src.Root, "path", e.rel, "err", err)
			continue
		}
		p.abort(ctx, src, e.upload) // its file is gone: it cannot resume
		if err := p.idx.Unqueue(src.ID(), e.rel, e.seq); err != nil {
			return fmt.Errorf("unqueue %s: %w", e.rel, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			p.stats.add(Vanished, 0)
		}
	}
	return nil
}

func (p *Pipeline) land(flight string) {
	p.mu.Lock()
	delete(p.inflight, flight)
	p.mu.Unlock()
}

// finish lets go of a queued file whose upload ended (or never began).
func (p *Pipeline) finish(j job, ev Event) {
	switch {
	case j.tr != nil:
		j.tr.End()
	case p.opts.Transfers != nil:
		p.opts.Transfers.Done(j.size)
	}
	p.pendingBytes.Add(-j.size)
	p.land(flightKey(j.Source.ID(), j.Path))
	if j.tally != nil {
		j.tally.add(ev.Outcome, ev.Bytes)
	}
	if j.Done != nil {
		j.Done(ev)
	}
	if j.tally != nil {
		j.tally.uploadEnded()
	}
}

// notRecorded ends an upload whose result the index could not record: err
// stops the run, unless the index's disk is full and the pipeline keeps
// going (Options.KeepGoingOnFullIndex): then the file, still pending,
// fails and is sent again later.
func (p *Pipeline) notRecorded(ev Event, err error) (Event, error) {
	if !p.opts.KeepGoingOnFullIndex || !errors.Is(err, index.ErrDiskFull) {
		return ev, err
	}
	p.stats.add(Failed, 0)
	ev.Outcome, ev.Reason, ev.Err = Failed, ReasonIndexDiskFull, err
	p.opts.Logger.Error("upload not recorded; it stays pending and is sent again", "source", ev.Source.Root, "path", ev.Path, "err", err)
	if p.opts.Observe != nil {
		p.opts.Observe(ev)
	}
	return ev, nil
}

// flightKey names a file in Pipeline.inflight.
func flightKey(sourceID, rel string) string { return sourceID + "\x00" + rel }

// work runs one upload worker until the queue closes or ctx is done; with
// lim, each upload waits for a slot of it.
func (p *Pipeline) work(ctx context.Context, lim *limiter) error {
	for {
		if ctx.Err() != nil {
			return nil // the queued files are abandoned, not started
		}
		if lim != nil {
			if lim.acquire(ctx) != nil {
				return nil
			}
		}
		done, err := p.workOne(ctx, lim)
		if lim != nil {
			lim.release()
		}
		if err != nil || done {
			return err
		}
	}
}

// workOne uploads the next queued file; done when there is none left or
// ctx is done.
func (p *Pipeline) workOne(ctx context.Context, lim *limiter) (done bool, err error) {
	select {
	case <-ctx.Done():
		return true, nil
	case j, ok := <-p.jobs:
		if !ok {
			return true, nil
		}
		if lim != nil {
			lim.started()
		}
		if p.opts.Gate != nil && p.opts.Gate(ctx) != nil {
			ev := Event{Source: j.Source, Path: j.Path, Key: j.key, Outcome: Failed, Reason: ReasonStopped}
			p.finish(j, ev)
			if lim != nil {
				lim.ended(ev)
			}
			return true, nil // stays pending: the next run resumes it
		}
		if p.opts.Transfers != nil {
			j.tr = p.opts.Transfers.Start(j.Path, j.size)
		}
		ev, err := p.upload(ctx, j)
		p.finish(j, ev)
		if lim != nil {
			lim.ended(ev)
		}
		return false, err
	}
}

// upload sends one file and records the result. What each error means:
//
//	error                         index                     outcome
//	none, content sent            Commit record             Uploaded
//	none, hash equals record      Touch record              Touched
//	uploader.ErrChanged           stays pending             Deferred
//	fs.ErrNotExist                Unqueue                   Vanished
//	uploader.Fatal                stays pending             returned: stops the run
//	ctx done                      stays pending             (none; resumed next run)
//	uploader.ErrMultipartRefused  stays pending, its        Failed, logged with what
//	                                upload dropped            to do if it persists
//	any other                     stays pending             Failed, logged
func (p *Pipeline) upload(ctx context.Context, j job) (Event, error) {
	src, rel := j.Source, j.Path
	id := src.ID()
	uj := src.UploadJob(rel, j.key, j.Info)
	if j.prev != nil && !j.Resend {
		uj.KnownHash, uj.HasKnownHash = j.prev.Hash, true
	}
	uj.Resume = multipartOf(j.upload)
	reported := false
	uj.Progress = func(m uploader.Multipart) {
		if !reported && j.tr != nil { // the parts kept from Resume
			for _, part := range m.Parts {
				j.tr.Kept(part.Size)
			}
		}
		reported = true
		// Losing this costs re-sending the parts it lists, not the file.
		if err := p.idx.SetUpload(id, rel, j.Seq, uploadOf(m)); err != nil {
			p.opts.Logger.Warn("cannot record upload progress", "source", src.Root, "path", rel, "err", err)
		}
	}
	if j.tr != nil {
		ctx = uploader.WithMeter(ctx, j.tr)
	}
	started := p.opts.Now()
	res, err := p.up.Upload(ctx, uj)
	ev := Event{Source: src, Path: rel, Key: j.key, Outcome: Failed, Took: p.opts.Now().Sub(started)}
	switch {
	case err == nil && res.Unchanged:
		rec := *j.prev
		rec.Size, rec.MtimeNs, rec.Inode = res.Size, res.MtimeNs, res.Inode
		if err := p.idx.Touch(id, rel, rec, j.Seq); err != nil {
			return p.notRecorded(ev, fmt.Errorf("record %s: %w", rel, err))
		}
		p.stats.add(Touched, 0)
		ev.Outcome = Touched
	case err == nil:
		now := p.opts.Now()
		rec := index.Record{
			Size: res.Size, MtimeNs: res.MtimeNs, Inode: res.Inode, Hash: res.Hash,
			ETag: res.ETag, VersionID: res.VersionID, Checksum: res.Checksum,
			UploadedNs: now.UnixNano(),
		}
		if err := p.idx.Commit(id, rel, rec, j.Seq); err != nil {
			return p.notRecorded(ev, fmt.Errorf("record %s: %w", rel, err))
		}
		if !res.Lock.IsZero() {
			// After the record: a lock entry of another version is stale,
			// never taken for this one's.
			l := index.Lock{VersionID: res.VersionID, Mode: string(res.Lock.Mode), RetainUntilNs: res.Lock.RetainUntil.UnixNano(), Via: res.LockVia}
			if err := p.idx.Locks().Add(id, rel, l); err != nil {
				p.opts.Logger.Error("cannot record the lock of an upload", "source", src.Root, "path", rel, "version", rec.VersionID, "err", err)
			}
		}
		if err := replication.Track(p.idx, src, rel, rec); err != nil {
			p.opts.Logger.Error("cannot track the replication of an upload", "source", src.Root, "path", rel, "version", rec.VersionID, "err", err)
		}
		p.stats.add(Uploaded, res.Size)
		p.stats.kept.Add(res.Kept)
		ev.Outcome, ev.Bytes, ev.Latency, ev.Kept = Uploaded, res.Size, now.Sub(j.Detected), res.Kept
		p.opts.Logger.Debug("uploaded", "source", src.Root, "path", rel, "key", j.key, "bytes", res.Size, "version", res.VersionID)
	case ctx.Err() != nil:
		return ev, nil // stays pending; resumed by the next run
	case errors.Is(err, uploader.ErrChanged):
		p.stats.add(Deferred, 0)
		ev.Outcome, ev.Reason = Deferred, uploader.ReasonOf(err)
		p.opts.Logger.Info("file changed while uploading; will upload again once it settles", "source", src.Root, "path", rel)
	case errors.Is(err, fs.ErrNotExist):
		if err := p.idx.Unqueue(id, rel, j.Seq); err != nil {
			return ev, fmt.Errorf("unqueue %s: %w", rel, err)
		}
		p.stats.add(Vanished, 0)
		ev.Outcome = Vanished
	case uploader.Fatal(err):
		ev.Reason, ev.Err = uploader.ReasonOf(err), err
		return ev, err
	case errors.Is(err, uploader.ErrMultipartRefused):
		// The uploader aborted the upload; the next attempt starts anew
		// rather than resume it.
		if err := p.idx.SetUpload(id, rel, j.Seq, nil); err != nil {
			p.opts.Logger.Warn("cannot record upload progress", "source", src.Root, "path", rel, "err", err)
		}
		p.stats.add(Failed, 0)
		ev.Outcome, ev.Reason, ev.Err = Failed, uploader.ReasonOf(err), err
		p.opts.Logger.Error("upload failed: the bucket refused to complete its multipart upload again, so the next attempt sends the whole file anew; "+
			"if this persists, the server may not take this checksum's multipart uploads: try upload.checksum: CRC64NVME in the configuration",
			"source", src.Root, "path", rel, "reason", ev.Reason, "err", err)
	default:
		p.stats.add(Failed, 0)
		ev.Outcome, ev.Reason, ev.Err = Failed, uploader.ReasonOf(err), err
		p.opts.Logger.Error("upload failed", "source", src.Root, "path", rel, "reason", ev.Reason, "err", err)
	}
	if j.retry && (ev.Outcome == Uploaded || ev.Outcome == Touched || ev.Outcome == Vanished) {
		if err := p.idx.Retries().Remove(id, rel); err != nil {
			return ev, fmt.Errorf("retry set: %w", err)
		}
	}
	if p.opts.Observe != nil {
		p.opts.Observe(ev)
	}
	return ev, nil
}
