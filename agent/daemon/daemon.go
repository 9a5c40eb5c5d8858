package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/agent/watch"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Defaults of the daemon's timing knobs.
const (
	DefaultRescanInterval     = 5 * time.Minute
	DefaultFullRescanInterval = 24 * time.Hour
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultHealthFailAfter    = 10 * time.Minute
	DefaultFileFailAfter      = 5 * time.Minute
	DefaultSummaryInterval    = time.Minute
	DefaultIndexGCInterval    = time.Hour
	DefaultStuckAfter         = 5 * time.Minute
	DefaultReadInterval       = 24 * time.Hour
	// DefaultRootRecheck is how often the roots are looked at while all
	// are present: for what no event tells (a parent directory renamed;
	// an unmount where the mount table cannot be watched). A root gone is
	// looked for every second until it is back.
	DefaultRootRecheck = 10 * time.Second
)

// Daemon is `s3ferry run`: it resumes what was pending, watches the sources
// with inotify, walks the look-back partitions once (the catch-up for what
// landed while it was down), then uploads each new file once it settles,
// rescanning on timers and after a watch overflow, until ctx ends.
type Daemon struct {
	Sources  []*local.Source
	Index    index.Store
	Uploader agent.Uploader
	Options  agent.Options // Workers, Settle, Logger, Now

	RescanInterval     time.Duration  // look-back partitions; 0: DefaultRescanInterval
	FullRescanInterval time.Duration  // whole trees, due this long after the last one the index recorded; 0: never
	ShutdownTimeout    time.Duration  // drain of in-flight uploads; 0: DefaultShutdownTimeout
	SettleCap          time.Duration  // upload a file that never stops changing after this; 0: 10 × settle
	CheckInterval      time.Duration  // how often settling files are checked; 0: settle/4 within [50ms, 1s]
	HealthFailAfter    time.Duration  // /healthz fails after uploads failed this long, or the oldest upload in flight is this old; 0: DefaultHealthFailAfter
	FileFailAfter      time.Duration  // /healthz fails once one file has failed every attempt this long; 0: DefaultFileFailAfter
	SummaryInterval    time.Duration  // info log of the totals; 0: DefaultSummaryInterval
	IndexGCInterval    time.Duration  // index garbage collection; 0: DefaultIndexGCInterval
	Location           *time.Location // time zone of partition names; nil: time.Local

	// AdminListen is the admin endpoint's address ("127.0.0.1:9180"); empty:
	// no endpoint. AdminAddrFile, when set, receives the address actually
	// bound, so `s3ferry status` and `s3ferry sync` find the daemon.
	AdminListen   string
	AdminAddrFile string
	// AdminToken, when set, is the bearer token every request to
	// AdminListen must carry; it must be set when AdminListen is not
	// loopback.
	AdminToken string
	// AdminSocket is the path of the admin socket, which alone serves
	// /status and POST /sync; "": none. Its directory must not be writable
	// by others. AdminGroup, when that group exists, is given the socket
	// (mode 0660); the socket serves root, the daemon's user and the
	// members of the socket's group.
	AdminSocket string
	AdminGroup  string
	Version     string // shown by /status

	// Stalls, when set, counts the S3 requests cancelled for lack of
	// progress (uploader.Stalls), s3ferry_upload_stalls_total.
	Stalls func() int64
	// Adopt, when set, is called at start for each source the index knows
	// nothing of, before anything is uploaded: see agent.AdoptFunc.
	Adopt agent.AdoptFunc
	// Buckets opens a bucket by name for the replication checks of the
	// sources with Replicated set; nil: no checks.
	Buckets     func(bucket string) uploader.Bucket
	Replication replication.Options
	// Replica, when set, returns the bucket a source's replica
	// (ReplicaBucket) is read in, for the retention's lock check: see
	// retention.Sweeper.Replica.
	Replica func(src *local.Source) uploader.Bucket
	// RetentionInterval is how often the sources with a LocalRetention
	// are swept (with Buckets); 0: retention.DefaultInterval.
	RetentionInterval time.Duration
	// ReadSample, when not zero (and with Buckets), is the restore drill
	// run at start and every ReadInterval (0: DefaultReadInterval): that
	// sample of the recorded versions read back, no faster than ReadRate
	// bytes per second (0: bucket.DefaultReadRate). See readChecks.
	ReadSample   bucket.ReadSample
	ReadInterval time.Duration
	ReadRate     float64
	reads        *readState // nil without drills

	replication *replication.Tracker // nil without Buckets

	// Notifier, when set, hears the daemon's readiness, summary, drain and
	// watchdog pings (systemd). WatchdogTimeout is the service manager's
	// watchdog timeout: pings go every half of it while the daemon makes
	// progress (see progressJudge); 0: no pings. StatusInterval: how often
	// the summary goes; 0: DefaultStatusInterval. Progress, when set, is a
	// counter that grows whenever a byte moves to or from S3
	// (uploader.Moved).
	Notifier        Notifier
	WatchdogTimeout time.Duration
	StatusInterval  time.Duration
	Progress        func() int64

	// Probe, when set, is one cheap request to the endpoint (a bucket's
	// Check). When uploads fail for network or server reasons the daemon
	// holds them and calls Probe every ProbeInterval (0:
	// DefaultProbeInterval); the first success releases them all at once
	// (see endpointProbe). Without it, failed files only back off.
	Probe         func(context.Context) error
	ProbeInterval time.Duration
	// EndpointDown, with Probe, is why the endpoint failed its check at
	// start (a cause that may pass: refused, no answer): the daemon then
	// starts with its uploads held, /healthz failing with it, and the
	// probe asking at once.
	EndpointDown error
	// StuckAfter is how long a file may be queued or uploading before the
	// summary and /status count it as stuck; 0: DefaultStuckAfter.
	StuckAfter time.Duration

	pipe  *agent.Pipeline
	probe *endpointProbe
	// released tells the loop that the endpoint answers again: the
	// back-offs of the files that failed meanwhile end.
	released chan struct{}
	metrics  *admin.Metrics
	state    *ledger
	submit   *watch.Queue
	// heartbeat asks the loop for a heartbeat (liveness.tick): the
	// notifier asks before each watchdog ping.
	heartbeat chan struct{}
	retries   chan retryRequest
	rescans   chan rescanRequest
	calls     *rescanCalls
	// stopping is closed once the daemon takes no more files: CatchUp
	// then gives up instead of waiting for a rescanner that is gone.
	stopping chan struct{}
	// openWatcher starts the watcher; nil: newWatcher. Tests make it fail.
	openWatcher func() (*watch.Watcher, error)
	live        *liveness
	// checks are the verify and index check the admin socket runs.
	checks *checks
}

type retryRequest struct {
	key      watch.FileKey
	detected time.Time
	at       time.Time
}

type rescanKind string

const (
	rescanPartitions rescanKind = "partitions"
	rescanFull       rescanKind = "full"
)

type rescanRequest struct {
	kind     rescanKind
	lookback time.Duration // replaces the sources' look-back windows; 0: theirs
	call     *rescanCall   // nil for timer rescans
}

// rescanKey is what makes two asked-for rescans the same one.
type rescanKey struct {
	kind     rescanKind
	lookback time.Duration
}

// rescanCalls are the rescans CatchUp asked for that are queued or
// running, which a CatchUp of the same kind and look-back joins.
type rescanCalls struct {
	mu    sync.Mutex
	calls map[rescanKey]*rescanCall // guarded by mu
}

// rescanCall is a rescan CatchUp asked for: every caller that asked for
// it while it was queued or running waits for done, then reads result.
type rescanCall struct {
	done   chan struct{}
	result rescanResult // set before done is closed
}

type rescanResult struct {
	stats agent.Stats
	err   error
}

// withDefaults returns d with every zero knob replaced by its default.
func (d Daemon) withDefaults() Daemon {
	d.Options = d.Options.WithDefaults()
	if d.RescanInterval <= 0 {
		d.RescanInterval = DefaultRescanInterval
	}
	if d.ShutdownTimeout <= 0 {
		d.ShutdownTimeout = DefaultShutdownTimeout
	}
	if d.SettleCap <= 0 {
		d.SettleCap = max(10*d.Options.Settle, time.Second)
	}
	if d.CheckInterval <= 0 {
		d.CheckInterval = min(max(d.Options.Settle/4, 50*time.Millisecond), time.Second)
	}
	if d.HealthFailAfter <= 0 {
		d.HealthFailAfter = DefaultHealthFailAfter
	}
	if d.FileFailAfter <= 0 {
		d.FileFailAfter = DefaultFileFailAfter
	}
	if d.SummaryInterval <= 0 {
		d.SummaryInterval = DefaultSummaryInterval
	}
	if d.IndexGCInterval <= 0 {
		d.IndexGCInterval = DefaultIndexGCInterval
	}
	if d.ProbeInterval <= 0 {
		d.ProbeInterval = DefaultProbeInterval
	}
	if d.StuckAfter <= 0 {
		d.StuckAfter = DefaultStuckAfter
	}
	if d.StatusInterval <= 0 {
		d.StatusInterval = DefaultStatusInterval
	}
	if d.RetentionInterval <= 0 {
		d.RetentionInterval = retention.DefaultInterval
	}
	if d.ReadInterval <= 0 {
		d.ReadInterval = DefaultReadInterval
	}
	if d.Location == nil {
		d.Location = time.Local
	}
	if d.openWatcher == nil {
		d.openWatcher = func() (*watch.Watcher, error) { return watch.New(d.Sources, d.Location, d.Options.Logger) }
	}
	return d
}

// init takes the defaults and builds what a run shares: the pipeline, the
// metrics and status, the queues between the goroutines.
func (d *Daemon) init() {
	*d = d.withDefaults()
	o := d.Options
	d.state = newLedger(d.Sources, o.Now())
	d.live = &liveness{}
	user := o.Observe
	o.Observe = func(ev agent.Event) {
		d.metrics.Observe(ev)
		d.live.observe(ev, o.Now())
		d.state.observe(ev, o.Now())
		if user != nil {
			user(ev)
		}
	}
	o.KeepGoingOnFullIndex = true
	d.released = make(chan struct{}, 1)
	d.probe = newEndpointProbe(d.Probe, d.ProbeInterval, func() {
		select {
		case d.released <- struct{}{}:
		default:
		}
	}, o.Logger)
	if d.Probe != nil {
		o.Gate = func(ctx context.Context) error { return d.probe.wait(ctx, d.stopping) }
		if d.EndpointDown != nil {
			d.probe.down(d.EndpointDown, o.Now())
		}
	}
	d.Options = o
	d.pipe = agent.NewPipeline(d.Index, d.Uploader, o)
	g := admin.Gauges{
		QueueDepth:   func() float64 { _, p := d.counts(); return float64(p) },
		Records:      func() float64 { r, _ := d.counts(); return float64(r) },
		PendingBytes: func() float64 { _, b, _ := d.pipe.InFlight(); return float64(b) },
		InFlight:     func() float64 { n, _, _ := d.pipe.InFlight(); return float64(n) },
		Stalls:       d.Stalls,
		Retries:      func() float64 { return float64(d.retrySetSize()) },
		Workers:      func() float64 { return float64(d.pipe.Workers()) },
		Healthy:      func() bool { return d.Health().OK },
		DeletesBlocked: func() float64 {
			b, _ := retention.BlockedOf(d.Index, d.Sources)
			return float64(len(b))
		},
		EndpointDown: func() bool { _, _, err := d.probe.unreachable(); return err != nil },
		Now:          o.Now,
	}
	if d.Buckets != nil {
		g.Replication = func() replication.Summary { return d.replication.Summary() }
	}
	d.metrics = admin.NewMetrics(g)
	roots := make([]string, len(d.Sources))
	for i, src := range d.Sources {
		roots[i] = src.Root
	}
	d.metrics.Known(agent.Reasons(), roots)
	if d.Buckets != nil && !d.ReadSample.IsZero() {
		d.reads = newReadState(d.Sources, d.ReadSample, d.ReadInterval)
		d.metrics.ReadScheduled(d.ReadInterval)
	}
	if d.Buckets != nil {
		d.replication = replication.NewTracker(d.Index, d.Sources, d.Buckets, d.Replication, o.Logger, o.Now, d.resend, d.metrics.Replication())
	}
	d.submit = watch.NewQueue()
	d.heartbeat = make(chan struct{}, 1)
	d.retries = make(chan retryRequest, 1024)
	d.rescans = make(chan rescanRequest, 8)
	d.calls = &rescanCalls{calls: map[rescanKey]*rescanCall{}}
	d.stopping = make(chan struct{})
	d.checks = &checks{stopping: d.stopping, now: o.Now}
}

// counts sums the index's records and pending entries over the sources.
func (d *Daemon) counts() (records, pending int64) {
	for _, src := range d.Sources {
		r, p, err := d.Index.Count(src.ID())
		if err == nil {
			records += r
			pending += p
		}
	}
	return records, pending
}

// retrySetSize sums the sizes of the sources' retry sets.
func (d *Daemon) retrySetSize() int64 {
	var n int64
	for _, src := range d.Sources {
		if c, err := d.Index.Retries().Count(src.ID()); err == nil {
			n += c
		}
	}
	return n
}

// Run runs the daemon until ctx ends, then stops taking new files, lets the
// uploads in flight finish within ShutdownTimeout, aborts the rest (they stay
// pending in the index and resume at the next start) and returns nil. It
// returns an error only when the daemon cannot go on: the admin socket
// cannot be served (or the admin address is taken and there is no
// socket), inotify cannot start, the index fails, or S3 refuses every upload
// (uploader.Fatal).
//
// Run returns only after every goroutine it started has ended, on every
// path, so its caller may close the index:
//
//	goroutine          ends when                              ended by
//	admin server       Run returns                            serveAdmin's stop
//	verify, index      its client leaves, or intake ends      stopping, checks.stop
//	  check (socket)
//	upload pool        its queue drained, or ShutdownTimeout  pipe.Close, cancelUploads
//	endpoint prober    the pool has ended                     cancelUploads
//	loop (watcher)     intake ends                            intake's errgroup
//	submitter          intake ends                            intake's errgroup
//	rescanner          intake ends                            intake's errgroup
//	index GC           intake ends                            intake's errgroup
//	replication checks intake ends                            intake's errgroup
//	retention sweeps   intake ends                            intake's errgroup
//	restore drills     intake ends                            intake's errgroup
//	notifier           intake ends                            intake's errgroup
//
// Intake ends with ctx, with the first error of its goroutines, or when
// the pool stops on a fatal error.
func (d *Daemon) Run(ctx context.Context) error {
	d.init()
	log := d.Options.Logger
	if err := agent.AdoptFirstRun(ctx, d.Index, d.Sources, d.Adopt); err != nil {
		return err
	}
	// The watcher first: if inotify cannot start, nothing else has.
	w, err := d.openWatcher()
	if err != nil {
		return err
	}
	stopAdmin, err := d.serveAdmin()
	if err != nil {
		_ = w.Close()
		return err
	}
	defer stopAdmin()

	uploadCtx, cancelUploads := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelUploads()
	intake, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		d.probe.run(uploadCtx)
	}()
	var fatal error
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		fatal = d.pipe.Run(uploadCtx)
		stopIntake() // a fatal S3 error ends the daemon
	}()

	// From here on, every path waits for the pool.
	intakeErr := d.intake(intake, w)
	close(d.stopping)
	d.checks.stop() // stopping cancelled the one running
	d.notifyStopping()
	d.pipe.Close()
	select {
	case <-poolDone:
	case <-time.After(d.ShutdownTimeout):
		log.Warn("shutdown timeout: aborting the uploads still in flight; they stay pending and resume at the next start", "timeout", d.ShutdownTimeout)
		cancelUploads()
		<-poolDone
	}
	cancelUploads() // ends the prober
	<-probeDone
	switch {
	case fatal != nil:
		return fatal
	case intakeErr != nil && !errors.Is(intakeErr, context.Canceled):
		return intakeErr
	}
	log.Info("stopped")
	return nil
}

// intake runs the goroutines that find files (with w, which the loop
// closes) and feed the pool, and the index's garbage collection, until ctx
// ends or one of them fails.
func (d *Daemon) intake(ctx context.Context, w *watch.Watcher) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.loop(gctx, w) })
	g.Go(func() error { return d.submitter(gctx) })
	g.Go(func() error { return d.rescanner(gctx) })
	g.Go(func() error { d.collectGarbage(gctx); return nil })
	if d.replication != nil {
		g.Go(func() error { return d.replication.Run(gctx) })
	}
	if d.Buckets != nil {
		g.Go(func() error { return d.retain(gctx) })
	}
	if d.reads != nil {
		g.Go(func() error { return d.readChecks(gctx) })
	}
	g.Go(func() error { d.notifier(gctx); return nil })
	return g.Wait()
}

// collectGarbage runs the index's garbage collection every IndexGCInterval
// until ctx ends. Run waits for it, so it never overlaps the index's Close.
func (d *Daemon) collectGarbage(ctx context.Context) {
	t := time.NewTicker(d.IndexGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.Index.GC(); err != nil {
				d.Options.Logger.Warn("index garbage collection", "err", err)
			}
		}
	}
}

// loop owns the watcher and the settler: it turns events into settled
// candidates for the submitter and timers into rescan requests.
func (d *Daemon) loop(ctx context.Context, w *watch.Watcher) error {
	defer w.Close()
	now := d.Options.Now
	log := d.Options.Logger
	st := watch.NewSettler(d.Options.Settle, d.SettleCap, func(k watch.FileKey) (fs.FileInfo, error) { return k.Src.Stat(k.Rel) })
	touch := func(k watch.FileKey) { st.Touch(k, now()) }

	// Resume first: files queued before a stop go before anything new.
	for _, src := range d.Sources {
		err := d.pipe.Resume(ctx, src, func(_ context.Context, c agent.Candidate) error {
			c.Detected = now()
			d.submit.Push(c)
			return nil
		})
		if err != nil {
			return err
		}
	}
	w.WatchSources(now())
	d.checkRoots(w, touch)
	d.publishWatch(w)
	log.Info("watching", "directories", w.Counts().Dirs, "sources", len(d.Sources))
	d.notifyReady()
	// The catch-up walk: a full one for a source never fully walked.
	d.requestRescan(rescanPartitions)

	// The settling files are checked every CheckInterval while there are
	// any. The roots are looked at on an event on one of them, when the
	// mount table changes (an unmount, which fsnotify does not tell),
	// every DefaultRootRecheck while all are present, and every second
	// (CheckInterval at most) while one is not, to see it back. An idle
	// loop wakes for the recheck, its minute's summary and, under
	// systemd's watchdog, the notifier's heartbeat.
	check := time.NewTicker(d.CheckInterval)
	defer check.Stop()
	check.Stop()
	checking := false
	mounts, err := watch.WatchMounts(ctx)
	if err != nil {
		log.Warn("the mount table cannot be watched: an unmounted source root is noticed within "+DefaultRootRecheck.String(), "err", err)
	}
	rootsEvery := func() time.Duration {
		if w.RootsPresent() {
			return DefaultRootRecheck
		}
		return max(d.CheckInterval, time.Second)
	}
	roots := time.NewTicker(rootsEvery())
	defer roots.Stop()
	lookAtRoots := func() {
		d.checkRoots(w, touch)
		roots.Reset(rootsEvery())
	}
	watched := w.Counts().Dirs
	rescan := time.NewTicker(d.RescanInterval)
	defer rescan.Stop()
	summary := time.NewTicker(d.SummaryInterval)
	defer summary.Stop()
	for {
		switch settling := st.Len() > 0; {
		case settling && !checking:
			check.Reset(d.CheckInterval)
		case !settling && checking:
			check.Stop()
			d.metrics.Settling(0)
		}
		checking = st.Len() > 0
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return nil
			}
			w.Handle(ev, now(), touch, st.Forget)
			if n := w.Dirs(); n != watched {
				watched = n
				d.publishWatch(w)
			}
			if w.IsRoot(ev.Name) {
				// IN_DELETE_SELF, IN_MOVE_SELF: the root went away now.
				lookAtRoots()
			}
		case <-d.heartbeat:
			d.live.tick(now())
		case <-roots.C:
			lookAtRoots() // back again, or gone unseen
		case _, ok := <-mounts:
			if !ok {
				mounts = nil
				continue
			}
			lookAtRoots() // unmounted, or another file system mounted over it
		case err, ok := <-w.Errs():
			if !ok {
				return nil
			}
			d.watchError(err)
		case <-check.C:
			d.live.tick(now())
			for _, c := range st.Ready(now()) {
				d.submit.Push(c)
			}
			settling, _ := st.Counts(now())
			d.metrics.Settling(settling)
			d.publishWatch(w)
		case r := <-d.retries:
			st.Retry(r.key, r.detected, r.at)
		case <-d.released:
			st.Release()
		case <-rescan.C:
			w.Prune(now())
			w.WatchSources(now()) // new partitions whose Create was missed, a freed watch limit
			watched = w.Dirs()
			d.publishWatch(w)
			d.requestRescan(rescanPartitions)
		case <-summary.C:
			s := d.pipe.Stats()
			_, pending := d.counts()
			settling, backedOff := st.Counts(now())
			flight := d.flight(now())
			log.Info("summary", "uploaded", s.Uploaded, "bytes", s.Bytes, "failed", s.Failed, "pending", pending,
				"settling", settling, "retrying", backedOff, "in_flight", flight.inFlight, "stuck", flight.stuck,
				"oldest_in_flight", flight.oldestAge(), "endpoint_down", !flight.downSince.IsZero(), "watched", w.Counts().Dirs)
		}
	}
}

// watchError handles an error from inotify: after an overflow, events were
// lost, so the look-back partitions are rescanned at once.
func (d *Daemon) watchError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		d.metrics.Overflow()
		d.state.overflow()
		d.Options.Logger.Warn("inotify queue overflowed: rescanning the look-back partitions; raise fs.inotify.max_queued_events if this repeats")
		d.requestRescan(rescanPartitions)
		return
	}
	d.Options.Logger.Warn("watch error", "err", err)
}

// checkRoots records the sources whose root went away (removed, moved,
// unmounted: /healthz fails at once) or came back (watched anew, its files
// to touch, and the look-back partitions rescanned at once).
func (d *Daemon) checkRoots(w *watch.Watcher, touch func(watch.FileKey)) {
	changes := w.CheckRoots(d.Options.Now(), touch)
	for _, c := range changes {
		d.state.rootChanged(c.Src, c.State, d.Options.Now())
		d.metrics.RootMissing(c.Src.Root, c.State != watch.RootPresent)
		if c.State == watch.RootPresent {
			d.Options.Logger.Info("the source root is back: watching it again and rescanning", "source", c.Src.Root)
			d.requestRescan(rescanPartitions)
			continue
		}
		d.Options.Logger.Error("the source root is gone: nothing below it is backed up until it is back", "source", c.Src.Root, "root", c.State, "fix", rootFix(c.State))
	}
	if len(changes) > 0 {
		d.publishWatch(w)
	}
}

// rootFix says what to do about a root in state st.
func rootFix(st watch.RootState) string {
	if st == watch.RootUnmounted {
		return "its file system was unmounted: mount it again"
	}
	return "it was removed or moved away: put it back, or mount it, at its path"
}

func (d *Daemon) publishWatch(w *watch.Watcher) {
	c := w.Counts()
	d.metrics.Watching(c.Dirs, c.LimitReached)
	d.state.watching(c)
}

// submitter feeds settled files to the pipeline. It is the one goroutine
// that blocks on the upload pool, so the event loop never does.
func (d *Daemon) submitter(ctx context.Context) error {
	for {
		c, ok := d.submit.Pop(ctx)
		if !ok {
			return nil
		}
		if _, err := d.submitOne(ctx, c, c.Detected); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// submitOne hands c, detected at detected, to the pipeline. A file still
// being written or already being sent settles again, as does one whose
// upload does not end it (afterUpload).
func (d *Daemon) submitOne(ctx context.Context, c agent.Candidate, detected time.Time) (agent.Outcome, error) {
	k := watch.FileKey{Src: c.Source, Rel: c.Path}
	c.Done = func(ev agent.Event) { d.afterUpload(ctx, k, detected, ev) }
	out, err := d.pipe.Consider(ctx, c)
	if errors.Is(err, index.ErrDiskFull) {
		// The index cannot take the file now: /healthz says so, and the
		// file is tried again with a failed upload's back-off.
		d.Options.Logger.Error("cannot queue file", "source", c.Source.Root, "path", c.Path, "err", err)
		ev := agent.Event{Source: c.Source, Path: c.Path, Outcome: agent.Failed, Reason: agent.ReasonIndexDiskFull, Err: err}
		d.Options.Observe(ev)
		d.afterUpload(ctx, k, detected, ev)
		return agent.Failed, nil
	}
	if out == agent.Deferred || out == agent.InFlight {
		d.retry(ctx, k, detected, d.Options.Now().Add(d.Options.Settle))
	}
	return out, err
}

// afterUpload puts a file whose upload did not end it back to settle: one
// that changed while it was sent once it settles again, one that failed
// after a back-off that doubles per failure (5 s, 10 s, 20 s, ...) up to
// five minutes, or until the endpoint probe finds the endpoint back after
// failures that were the endpoint's (then every back-off ends at once).
func (d *Daemon) afterUpload(ctx context.Context, k watch.FileKey, detected time.Time, ev agent.Event) {
	now := d.Options.Now()
	switch ev.Outcome {
	case agent.Deferred:
		d.retry(ctx, k, detected, now.Add(d.Options.Settle))
	case agent.Failed:
		d.probe.failed(ev.Reason, now)
		n := d.state.failedAgain(k, ev, now)
		backoff := min(5*time.Second<<min(n-1, 6), 5*time.Minute)
		d.retry(ctx, k, detected, now.Add(backoff))
	default:
		d.state.succeeded(k)
	}
}

func (d *Daemon) retry(ctx context.Context, k watch.FileKey, detected, at time.Time) {
	select {
	case d.retries <- retryRequest{key: k, detected: detected, at: at}:
	case <-ctx.Done():
	}
}

// requestRescan asks for a rescan without waiting; a request while one of
// the same kind is waiting is folded into it.
func (d *Daemon) requestRescan(kind rescanKind) {
	select {
	case d.rescans <- rescanRequest{kind: kind}:
	default:
	}
}

// CatchUp runs a rescan (of the look-back partitions, or full) through the
// daemon and returns, once every file it queued has been uploaded, what it
// did. lookback, when set, replaces the sources' look-back windows.
// `s3ferry sync` calls it through the admin socket when the daemon holds
// the index. A call while a rescan of the same kind and look-back is
// queued or running joins it and returns its result: thirty callers cost
// one rescan, not thirty.
func (d *Daemon) CatchUp(ctx context.Context, full bool, lookback time.Duration) (agent.Stats, error) {
	key := rescanKey{kind: rescanPartitions, lookback: lookback}
	if full {
		key.kind = rescanFull
	}
	d.calls.mu.Lock()
	call, joined := d.calls.calls[key]
	if !joined {
		call = &rescanCall{done: make(chan struct{})}
		d.calls.calls[key] = call
	}
	d.calls.mu.Unlock()
	if !joined {
		select {
		case d.rescans <- rescanRequest{kind: key.kind, lookback: lookback, call: call}:
		case <-ctx.Done():
			d.endCall(key, call, rescanResult{err: errNotQueued})
			return agent.Stats{}, ctx.Err()
		case <-d.stopping:
			d.endCall(key, call, rescanResult{err: errStopping})
			return agent.Stats{}, errStopping
		}
	}
	select {
	case <-call.done:
		return call.result.stats, call.result.err
	case <-ctx.Done():
		return agent.Stats{}, ctx.Err()
	case <-d.stopping:
		return agent.Stats{}, errStopping
	}
}

// endCall gives call its result, for every caller waiting on it, and lets
// the next CatchUp of key start a new rescan. It is called once per call:
// by the rescanner once the rescan ended, or by CatchUp when it could not
// queue it.
func (d *Daemon) endCall(key rescanKey, call *rescanCall, r rescanResult) {
	d.calls.mu.Lock()
	if d.calls.calls[key] == call {
		delete(d.calls.calls, key)
	}
	d.calls.mu.Unlock()
	call.result = r
	close(call.done)
}

// errNotQueued is the answer of the callers that joined a rescan whose
// first caller gave up before the rescanner took it.
var errNotQueued = errors.New("the rescan was not queued (the caller that asked first went away); ask again")

// errStopping is CatchUp's answer once the daemon takes no more files.
var errStopping = errors.New("the daemon is stopping; run the sync again once it has stopped or restarted")

// rescanner runs one rescan at a time: those asked for, and the full ones
// when they are due (nextFullRescan), on a timer it owns.
func (d *Daemon) rescanner(ctx context.Context) error {
	var fullC <-chan time.Time
	var full *time.Timer
	if d.FullRescanInterval > 0 {
		full = time.NewTimer(d.untilFullRescan(time.Time{}))
		defer full.Stop()
		fullC = full.C
	}
	var lastFull time.Time
	for {
		var req rescanRequest
		select {
		case <-ctx.Done():
			return nil
		case req = <-d.rescans:
		case <-fullC:
			req = rescanRequest{kind: rescanFull}
		}
		stats, err := d.rescan(ctx, req.kind, req.lookback)
		if req.call != nil {
			d.endCall(rescanKey{kind: req.kind, lookback: req.lookback}, req.call, rescanResult{stats, err})
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		if full != nil {
			if req.kind == rescanFull {
				lastFull = d.Options.Now()
			}
			full.Reset(d.untilFullRescan(lastFull))
		}
	}
}

// nextFullRescan is when the next full rescan is due: the earliest of the
// sources' last complete full walks, as the index recorded them (so across
// restarts), plus FullRescanInterval. A source never fully walked gets its
// full walk from the next rescan of any kind and does not count; with none
// recorded, one interval from now.
func (d *Daemon) nextFullRescan() time.Time {
	var next time.Time
	for _, src := range d.Sources {
		st, err := d.Index.State(src.ID())
		if err != nil || st.FullWalkNs == 0 {
			continue
		}
		due := time.Unix(0, st.FullWalkNs).Add(d.FullRescanInterval)
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.IsZero() {
		next = d.Options.Now().Add(d.FullRescanInterval)
	}
	return next
}

// untilFullRescan is how long until the next full rescan, but at least
// RescanInterval after lastFull (the last full rescan this daemon ran):
// a source whose full walks fail is not walked again and again.
func (d *Daemon) untilFullRescan(lastFull time.Time) time.Duration {
	now := d.Options.Now()
	wait := d.nextFullRescan().Sub(now)
	if !lastFull.IsZero() {
		wait = max(wait, lastFull.Add(d.RescanInterval).Sub(now))
	}
	return max(wait, 0)
}

// rescan walks every source (agent.Pipeline.Walk decides how) and waits for the
// uploads it queued; its Stats are the walk's own tally, which the pipeline
// keeps. A source whose walk fails is logged, counted and shown by /healthz
// until one succeeds, and the others are walked.
func (d *Daemon) rescan(ctx context.Context, kind rescanKind, lookback time.Duration) (agent.Stats, error) {
	start := d.Options.Now()
	tally := agent.NewTally(start)
	err := d.pipe.Walk(ctx, d.Sources, agent.WalkPlan{
		Full:      kind == rescanFull,
		Lookback:  lookback,
		Location:  d.Location,
		Tally:     tally,
		KeepGoing: true,
		Walked:    d.sourceRescanned,
		LogLevel:  slog.LevelDebug,
		Consider:  func(ctx context.Context, c agent.Candidate) (agent.Outcome, error) { return d.submitOne(ctx, c, start) },
	})
	if err == nil {
		err = tally.Wait(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return tally.Snapshot(d.Options.Now()), ctx.Err()
		}
		return agent.Stats{}, err
	}
	stats := tally.Snapshot(d.Options.Now())
	d.metrics.Rescanned(string(kind), d.Options.Now(), stats.Seconds)
	d.state.rescanned(kind, start, stats)
	d.Options.Logger.Info("rescan done", "kind", kind, "scanned", stats.Scanned, "uploaded", stats.Uploaded, "seconds", fmt.Sprintf("%.2f", stats.Seconds))
	return stats, nil
}

// sourceRescanned records how the rescan of src ended (err nil: it
// completed).
func (d *Daemon) sourceRescanned(src *local.Source, err error) {
	if err != nil {
		d.metrics.RescanFailed(src.Root)
	}
	d.state.sourceRescanned(src, err, d.Options.Now())
}

// flightStatus is what the summary and /status say of the uploads under way.
type flightStatus struct {
	inFlight  int
	stuck     int       // in flight for longer than StuckAfter
	oldest    time.Time // when the oldest file in flight was queued
	downSince time.Time // uploads wait for the endpoint probe; zero: they do not
	now       time.Time
}

// oldestAge is how long the oldest file in flight has been, to the second;
// "0s" when none is.
func (f flightStatus) oldestAge() string {
	if f.oldest.IsZero() {
		return "0s"
	}
	return f.now.Sub(f.oldest).Round(time.Second).String()
}

// flight reads the uploads under way at now.
func (d *Daemon) flight(now time.Time) flightStatus {
	n, _, oldest := d.pipe.InFlight()
	return flightStatus{
		inFlight: n, stuck: d.pipe.Stuck(now.Add(-d.StuckAfter)), oldest: oldest,
		downSince: d.probe.downSince(), now: now,
	}
}

// writeAtomically writes data to path through a temporary file renamed
// over it, so that a reader (s3ferry status, sync) sees the whole file or
// none, never an empty one.
func writeAtomically(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
