package agent

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

// Defaults of the adaptive pool (Options.AutoWorkers).
const (
	DefaultMaxWorkers    = 256
	DefaultAdaptInterval = 500 * time.Millisecond

	// adaptStep is the additive increase once doubling stopped paying.
	adaptStep = 4
	// adaptGain is how much a rate must beat the best one seen to count as
	// grown: less is noise.
	adaptGain = 1.05
	// adaptDecay lowers the best rate seen at every interval that did not
	// beat it, so the pool probes upwards again when the link changes.
	adaptDecay = 0.97
	// adaptBytesPerFile weighs bytes against files in the rate: a request
	// costs about as much as this many bytes sent (latency against
	// bandwidth), so both many small files and a few large ones count.
	adaptBytesPerFile = 1 << 20
	// While doubling, the controller looks slowStartLooks times per
	// interval, and doubles as soon as the rate beat the best one over a
	// window in which as many uploads as slowStartTurns times the limit
	// ended (every slot turned over, whatever the link's latency). Only a
	// whole interval stops the doubling: a short window is too noisy to.
	slowStartLooks = 10
	slowStartTurns = 2
)

// limiter is the number of uploads the pool lets run at once, which the
// controller (adapt) changes while workers wait on it. It counts what ends,
// for the controller.
//
// The pool keeps as many goroutines as the limit has been at most (up to
// MaxWorkers; Pipeline.Run starts them as it grows), most of them waiting
// here, so a freed slot goes to one waiter, not to all (waking every
// waiter at each upload's end cost more CPU than the uploads of small
// files), and to the one that came last: the few goroutines that keep the
// slots busy stay the same, their stacks grown for the SDK's deep calls,
// while the others sleep (the runtime shrinks an idle goroutine's stack,
// and growing it again at every upload cost a seventh of the CPU of a
// backfill).
type limiter struct {
	mu        sync.Mutex
	limit     int
	active    int
	maxActive int       // most active at once since the last take
	waiters   list.List // of chan struct{}, closed when given a slot; last in, first served
	running   int       // jobs started and not ended
	// asleep: the controller waits for wake, sent when a job next starts.
	asleep bool
	wake   chan struct{}
	// grew receives when the limit rose above every limit before (capacity
	// 1): the pool starts workers for the new slots.
	grew    chan struct{}
	highest int

	files, bytes, throttled atomic.Int64 // since the last take
}

func newLimiter(limit int) *limiter {
	return &limiter{limit: limit, highest: limit, wake: make(chan struct{}, 1), grew: make(chan struct{}, 1)}
}

// acquire waits for a slot; the error is ctx's.
func (l *limiter) acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.active < l.limit && l.waiters.Len() == 0 {
		l.take1()
		l.mu.Unlock()
		return nil
	}
	given := make(chan struct{})
	w := l.waiters.PushFront(given)
	l.mu.Unlock()
	select {
	case <-given:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-given: // given a slot meanwhile: pass it on
			l.active--
			l.grant()
		default:
			l.waiters.Remove(w)
		}
		return ctx.Err()
	}
}

// release gives a slot back.
func (l *limiter) release() {
	l.mu.Lock()
	l.active--
	l.grant()
	l.mu.Unlock()
}

// grant gives the free slots to the waiters that came last; l.mu is held.
func (l *limiter) grant() {
	for l.active < l.limit && l.waiters.Len() > 0 {
		given := l.waiters.Remove(l.waiters.Front()).(chan struct{})
		l.take1()
		close(given)
	}
}

// take1 counts a slot taken; l.mu is held.
func (l *limiter) take1() {
	l.active++
	l.maxActive = max(l.maxActive, l.active)
}

// started counts a job started by a worker holding a slot (a slot is
// taken before the worker waits for a file), waking the controller if it
// sleeps.
func (l *limiter) started() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running++
	if l.asleep {
		l.asleep = false
		l.wake <- struct{}{} // the one send per sleep: never blocks
	}
}

// sleepIfIdle says whether no job runs; then the controller is asleep
// until the next one starts, when wake receives.
func (l *limiter) sleepIfIdle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asleep = l.running == 0
	return l.asleep
}

// ended counts an upload that ended.
func (l *limiter) ended(ev Event) {
	done := Done{Throttled: ev.Reason == uploader.ReasonThrottled}
	if ev.Outcome == Uploaded || ev.Outcome == Touched {
		done.Files, done.Bytes = 1, ev.Bytes
	}
	l.count(done)
}

// count counts what a job that started did, as it ends.
func (l *limiter) count(d Done) {
	l.mu.Lock()
	l.running--
	l.mu.Unlock()
	l.files.Add(d.Files)
	l.bytes.Add(d.Bytes)
	if d.Throttled {
		l.throttled.Add(1)
	}
}

// set changes the limit.
func (l *limiter) set(n int) {
	l.mu.Lock()
	l.limit = n
	if n > l.highest {
		l.highest = n
		select {
		case l.grew <- struct{}{}:
		default:
		}
	}
	l.grant()
	l.mu.Unlock()
}

// most is the highest limit so far.
func (l *limiter) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.highest
}

// take returns what ended since the last take, and whether every slot was
// in use at some point meanwhile (there was more to do than slots).
func (l *limiter) take() (files, bytes, throttled int64, saturated bool) {
	l.mu.Lock()
	saturated = l.maxActive >= l.limit
	l.maxActive = l.active
	l.mu.Unlock()
	return l.files.Swap(0), l.bytes.Swap(0), l.throttled.Swap(0), saturated
}

// adapt sets the number of uploads in flight every AdaptInterval (sooner
// while doubling: see slowStartTurns) until ctx is done, from the rate at which they end (files, and bytes weighed by
// adaptBytesPerFile) and throttling (a failed upload with reason
// "throttled", or a throttled request the SDK retried, Options.Throttled):
//
//	interval                              next limit
//	throttled                             half (at least 1); stop doubling
//	not every slot was busy               same (nothing more to do)
//	rate > best × adaptGain, doubling     double (at most MaxWorkers)
//	rate > best × adaptGain               + adaptStep (at most MaxWorkers)
//	otherwise                             the limit of the best rate; stop doubling
//
// The best rate decays by adaptDecay every interval it is not beaten, so a
// link that got faster is probed again. An interval in which nothing ended
// and no job runs decides nothing: the controller sleeps until the next
// job starts (an idle daemon's pool wakes nothing), and its window starts
// again then. Memory is not its concern: every
// upload takes its buffer from the uploader's budget, so more uploads than
// fit simply wait, and the rate stops growing.
func (p *Pipeline) adapt(ctx context.Context, l *limiter) {
	adaptLimit(ctx, l, adaptConfig{
		start: p.opts.Workers, max: p.opts.MaxWorkers, interval: p.opts.AdaptInterval,
		throttles: p.throttles, log: p.opts.Logger, what: "upload concurrency",
		set: func(n int) { p.workers.Store(int64(n)) },
	})
}

// adaptConfig is what adaptLimit steers: the limit it starts from and
// the most it may reach, how often it decides, where the throttled
// requests are counted, and whom it tells a new limit.
type adaptConfig struct {
	start, max int
	interval   time.Duration
	throttles  func() int64 // the throttled requests so far
	log        *slog.Logger
	what       string // the debug message of a change
	set        func(limit int)
}

// adaptLimit is the controller of Pipeline.adapt's table, for any pool
// whose jobs a limiter counts.
func adaptLimit(ctx context.Context, l *limiter, c adaptConfig) {
	interval := c.interval
	t := time.NewTicker(tickOf(interval, true))
	defer t.Stop()
	limit, bestLimit := c.start, c.start
	best, doubling := 0.0, true
	lastThrottles := c.throttles()
	// The window since the last decision.
	var files, bytes, throttled int64
	var saturated bool
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f, b, th, sat := l.take()
		files, bytes, throttled, saturated = files+f, bytes+b, throttled+th, saturated || sat
		if n := c.throttles(); n != lastThrottles {
			throttled += n - lastThrottles
			lastThrottles = n
		}
		if files == 0 && throttled == 0 && l.sleepIfIdle() {
			t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			saturated, since = false, time.Now()
			t.Reset(tickOf(interval, doubling))
			continue
		}
		elapsed := time.Since(since)
		// Per interval, whatever the window's length.
		rate := (float64(files) + float64(bytes)/adaptBytesPerFile) * float64(interval) / float64(max(elapsed, 1))
		early := doubling && throttled == 0 && saturated && files >= slowStartTurns*int64(limit) && rate > best*adaptGain
		if elapsed < interval && !early {
			continue
		}
		next := limit
		switch {
		case throttled > 0:
			next, doubling, best, bestLimit = max(limit/2, 1), false, 0, max(limit/2, 1)
		case !saturated:
		case rate > best*adaptGain:
			best, bestLimit = rate, limit
			if doubling {
				next = min(2*limit, c.max)
			} else {
				next = min(limit+adaptStep, c.max)
			}
		default:
			next, doubling = bestLimit, false
			best *= adaptDecay
		}
		if next != limit {
			c.log.Debug(c.what, "from", limit, "to", next, "rate", rate, "throttled", throttled)
			limit = next
			l.set(limit)
			c.set(limit)
		}
		files, bytes, throttled, saturated, since = 0, 0, 0, false, time.Now()
		if !doubling {
			t.Reset(interval)
		}
	}
}

// throttles reads Options.Throttled; 0 without it.
func (p *Pipeline) throttles() int64 {
	if p.opts.Throttled == nil {
		return 0
	}
	return p.opts.Throttled()
}

// Workers is the number of files the pool uploads at once now: Options.Workers,
// or with AutoWorkers what it adapted to.
func (p *Pipeline) Workers() int { return int(p.workers.Load()) }

// tickOf is how often adapt looks: slowStartLooks times an interval while
// doubling, once after.
func tickOf(interval time.Duration, doubling bool) time.Duration {
	if doubling {
		return interval / slowStartLooks
	}
	return interval
}
