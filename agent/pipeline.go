package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

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
	Source  *Source
	Path    string        // relative to the source root
	Key     string        // object key
	Outcome Outcome       // Uploaded, Touched, Vanished, Deferred or Failed
	Reason  string        // for Failed and Deferred: uploader.Reason of the error
	Err     error         // for Failed
	Bytes   int64         // for Uploaded
	Latency time.Duration // from queueing to the index recording the upload
}

// Options are the knobs a pipeline shares between sync and run.
type Options struct {
	Workers int           // files uploaded at once; 0: DefaultWorkers
	Settle  time.Duration // a file younger than this (by mtime) is deferred
	DryRun  bool          // decide, but queue and upload nothing
	// DryRunOut receives one line per file a dry run would upload.
	DryRunOut io.Writer
	// Observe, when set, is called after each upload ends, from the worker
	// that ran it. It must not block for long.
	Observe func(Event)
	Logger  *slog.Logger
	Now     func() time.Time // clock; nil: time.Now
}

// DefaultWorkers is the upload pool size when none is set.
const DefaultWorkers = 16

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
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

// job is one file on its way to the bucket.
type job struct {
	src      *Source
	rel, key string
	seq      uint64        // the pending entry written for it; 0 in a dry run
	prev     *index.Record // the index's record, when the file was known
	queued   time.Time
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

	mu       sync.Mutex
	inflight map[string]bool // sourceID + "\x00" + path of every queued job
}

// NewPipeline builds a pipeline; Run starts its workers.
func NewPipeline(idx index.Store, up Uploader, opts Options) *Pipeline {
	opts = opts.withDefaults()
	return &Pipeline{
		idx:      idx,
		up:       up,
		opts:     opts,
		stats:    newCounters(opts.Now()),
		jobs:     make(chan job),
		inflight: map[string]bool{},
	}
}

// Stats reads the pipeline's counters.
func (p *Pipeline) Stats() Stats { return p.stats.snapshot(p.opts.Now()) }

// Run uploads queued files with Options.Workers workers until ctx is done or
// Close is called and the queue has drained. It returns the first fatal error
// (one that no other upload could avoid, such as a missing bucket); per-file
// failures are counted and logged, not returned.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		fatal error
	)
	for range p.opts.Workers {
		wg.Go(func() {
			if err := p.work(ctx); err != nil {
				once.Do(func() { fatal = err; cancel() }) // stop every worker
			}
		})
	}
	wg.Wait()
	return fatal
}

// Close tells Run that no more files will be considered: it returns once the
// files already queued are done.
func (p *Pipeline) Close() { close(p.jobs) }

// Consider decides what to do with the file at rel below src's root, whose
// stat (lstat, or stat for a followed link) is info; seq is its pending
// entry's Seq when it came from the pending set, else 0. A file to upload is
// queued and handed to the pool; Consider blocks while every worker is busy.
//
//	index record              stat vs record           mtime age     outcome
//	none or different         -                        < settle      Deferred
//	none                      -                        >= settle     Queued (upload)
//	present                   size, mtime, inode same  -             Unchanged
//	present                   any differs              >= settle     Queued (hash; upload or touch)
//	(already in the pool)     -                        -             InFlight
func (p *Pipeline) Consider(ctx context.Context, src *Source, rel string, info fs.FileInfo, seq uint64) (Outcome, error) {
	p.stats.scanned.Add(1)
	key, err := src.Key(rel)
	if err != nil {
		p.stats.failed.Add(1)
		p.opts.Logger.Error("cannot back up file", "source", src.Root, "path", rel, "err", err)
		return Failed, nil
	}
	st := statOf(info)
	id := src.ID()
	rec, known, err := p.idx.Get(id, rel)
	if err != nil {
		return Failed, fmt.Errorf("read index for %s: %w", rel, err)
	}
	if known && rec.Size == st.size && rec.MtimeNs == st.mtimeNs && rec.Inode == st.inode {
		p.stats.unchanged.Add(1)
		if seq != 0 {
			if err := p.idx.Unqueue(id, rel, seq); err != nil {
				return Failed, fmt.Errorf("unqueue %s: %w", rel, err)
			}
		}
		return Unchanged, nil
	}
	now := p.opts.Now()
	if now.Sub(time.Unix(0, st.mtimeNs)) < p.opts.Settle {
		p.stats.deferred.Add(1)
		return Deferred, nil
	}
	if p.opts.DryRun {
		p.stats.wouldSend.Add(1)
		fmt.Fprintf(p.opts.DryRunOut, "would upload %s -> s3://%s/%s (%d bytes)\n", filepath.Join(src.Root, rel), src.Bucket, key, st.size)
		return WouldUpload, nil
	}
	flight := id + "\x00" + rel
	p.mu.Lock()
	busy := p.inflight[flight]
	p.inflight[flight] = true
	p.mu.Unlock()
	if busy {
		return InFlight, nil
	}
	if seq == 0 {
		pend, err := p.idx.Queue(id, rel)
		if err != nil {
			p.land(flight)
			return Failed, fmt.Errorf("queue %s: %w", rel, err)
		}
		seq = pend.Seq
	}
	j := job{src: src, rel: rel, key: key, seq: seq, queued: now}
	if known {
		j.prev = &rec
	}
	select {
	case p.jobs <- j:
		return Queued, nil
	case <-ctx.Done():
		p.land(flight)
		return Queued, ctx.Err() // still pending in the index: the next run resumes it
	}
}

// Resume considers every pending entry of src: the files a crash, a stop or
// a failure left between queueing and recording. It costs O(pending).
func (p *Pipeline) Resume(ctx context.Context, src *Source) error {
	type entry struct {
		rel string
		seq uint64
	}
	var pending []entry
	err := p.idx.Pending(src.ID(), func(rel string, pe index.Pending) error {
		pending = append(pending, entry{rel, pe.Seq})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read pending files of %s: %w", src, err)
	}
	for _, e := range pending {
		info, err := src.stat(e.rel)
		if err == nil && info.Mode().IsRegular() && src.Filter.File(e.rel) {
			if _, err := p.Consider(ctx, src, e.rel, info, e.seq); err != nil {
				return err
			}
			continue
		}
		// Gone, no longer a file, or no longer wanted: nothing to upload.
		if err := p.idx.Unqueue(src.ID(), e.rel, e.seq); err != nil {
			return fmt.Errorf("unqueue %s: %w", e.rel, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			p.stats.vanished.Add(1)
		}
	}
	return nil
}

// stat is lstat, or stat when links are followed.
func (s *Source) stat(rel string) (fs.FileInfo, error) {
	abs := filepath.Join(s.Root, filepath.FromSlash(rel))
	if s.FollowSymlinks {
		return os.Stat(abs)
	}
	return os.Lstat(abs)
}

func (p *Pipeline) land(flight string) {
	p.mu.Lock()
	delete(p.inflight, flight)
	p.mu.Unlock()
}

// work runs one upload worker until the queue closes or ctx is done.
func (p *Pipeline) work(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case j, ok := <-p.jobs:
			if !ok {
				return nil
			}
			err := p.upload(ctx, j)
			p.land(j.src.ID() + "\x00" + j.rel)
			if err != nil {
				return err
			}
		}
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
//	any other                     stays pending             Failed, logged
func (p *Pipeline) upload(ctx context.Context, j job) error {
	id := j.src.ID()
	uj := uploader.Job{Bucket: j.src.Bucket, Key: j.key, Path: filepath.Join(j.src.Root, filepath.FromSlash(j.rel))}
	if j.prev != nil {
		uj.KnownHash, uj.HasKnownHash = j.prev.Hash, true
	}
	res, err := p.up.Upload(ctx, uj)
	ev := Event{Source: j.src, Path: j.rel, Key: j.key}
	switch {
	case err == nil && res.Unchanged:
		rec := *j.prev
		rec.Size, rec.MtimeNs, rec.Inode = res.Size, res.MtimeNs, res.Inode
		if err := p.idx.Touch(id, j.rel, rec, j.seq); err != nil {
			return fmt.Errorf("record %s: %w", j.rel, err)
		}
		p.stats.touched.Add(1)
		ev.Outcome = Touched
	case err == nil:
		now := p.opts.Now()
		rec := index.Record{
			Size: res.Size, MtimeNs: res.MtimeNs, Inode: res.Inode, Hash: res.Hash,
			ETag: res.ETag, VersionID: res.VersionID, Checksum: res.Checksum,
			UploadedNs: now.UnixNano(),
		}
		if err := p.idx.Commit(id, j.rel, rec, j.seq); err != nil {
			return fmt.Errorf("record %s: %w", j.rel, err)
		}
		p.stats.uploaded.Add(1)
		p.stats.bytes.Add(res.Size)
		ev.Outcome, ev.Bytes, ev.Latency = Uploaded, res.Size, now.Sub(j.queued)
		p.opts.Logger.Debug("uploaded", "path", uj.Path, "key", j.key, "bytes", res.Size, "version", res.VersionID)
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, uploader.ErrChanged):
		p.stats.deferred.Add(1)
		ev.Outcome, ev.Reason = Deferred, uploader.Reason(err)
		p.opts.Logger.Info("file changed while uploading; will upload again once it settles", "path", uj.Path)
	case errors.Is(err, fs.ErrNotExist):
		if err := p.idx.Unqueue(id, j.rel, j.seq); err != nil {
			return fmt.Errorf("unqueue %s: %w", j.rel, err)
		}
		p.stats.vanished.Add(1)
		ev.Outcome = Vanished
	case uploader.Fatal(err):
		return err
	default:
		p.stats.failed.Add(1)
		ev.Outcome, ev.Reason, ev.Err = Failed, uploader.Reason(err), err
		p.opts.Logger.Error("upload failed", "path", uj.Path, "reason", ev.Reason, "err", err)
	}
	if p.opts.Observe != nil {
		p.opts.Observe(ev)
	}
	return nil
}

// excluded counts a path a walk passed over.
func (p *Pipeline) excluded(string) { p.stats.excluded.Add(1) }

// walkFailed counts and logs a directory or file a walk could not read.
func (p *Pipeline) walkFailed(src *Source) func(rel string, err error) {
	return func(rel string, err error) {
		p.stats.failed.Add(1)
		p.opts.Logger.Error("cannot read", "source", src.Root, "path", rel, "err", err)
	}
}
