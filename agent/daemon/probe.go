package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultProbeInterval is how often the daemon asks an endpoint that is
// failing whether it answers again.
const DefaultProbeInterval = 5 * time.Second

// outage says whether an uploader.Reason says the endpoint, or the way to
// it, is failing rather than one file: while it lasts every upload would
// fail the same way.
func outage(reason uploader.Reason) bool {
	switch reason {
	case uploader.ReasonNetwork, uploader.ReasonServerError, uploader.ReasonThrottled:
		return true
	}
	return false
}

// endpointProbe holds the daemon's uploads while the endpoint is down, and
// releases them all at once when it answers again. An upload that fails
// for an outage reason (after the SDK's retries) marks the endpoint down:
// workers then wait before their next upload instead of each spending its
// retry budget on it, and a prober asks the endpoint with one cheap
// request (check) every interval. The first success lets every worker go
// and calls onUp, which ends the back-off of the files that failed.
//
//	event                          state   workers          prober
//	upload fails, outage reason    down    wait (wait)      checks now, then every interval
//	first check succeeds           up      go               idle (not an outage: back-offs stay)
//	check fails                    down    wait             checks again after interval
//	a later check succeeds         up      all go at once   idle until the next outage; onUp
//
// Any goroutine may call failed and wait; run is one goroutine.
type endpointProbe struct {
	check    func(context.Context) error // nil: never down
	interval time.Duration
	onUp     func()
	logger   *slog.Logger

	mu    sync.Mutex
	up    chan struct{} // closed while the endpoint is up; a new, open one per outage
	since time.Time     // when the current outage began
	// checkErr is the error of the last check of the current outage, and
	// checks how many of its checks failed; nil and 0 until one fails.
	// /healthz, /status and s3ferry_endpoint_down report them.
	checkErr error
	checks   int

	outage chan struct{} // wakes run when an outage begins
}

func newEndpointProbe(check func(context.Context) error, interval time.Duration, onUp func(), logger *slog.Logger) *endpointProbe {
	up := make(chan struct{})
	close(up)
	return &endpointProbe{check: check, interval: interval, onUp: onUp, logger: logger, up: up, outage: make(chan struct{}, 1)}
}

// failed is told of an upload that failed for reason at now.
func (p *endpointProbe) failed(reason uploader.Reason, now time.Time) {
	if p.check == nil || !outage(reason) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.begin(now)
}

// down is told that a check of the endpoint failed with err at now
// before run started (the daemon's start): the outage begins, failed
// checks counted from it.
func (p *endpointProbe) down(err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.begin(now) {
		p.checkErr, p.checks = err, 1
	}
}

// begin starts an outage at now, unless one is under way, and wakes run;
// it says whether it did. p.mu is held.
func (p *endpointProbe) begin(now time.Time) bool {
	select {
	case <-p.up:
	default:
		return false // down already
	}
	p.up, p.since = make(chan struct{}), now
	select {
	case p.outage <- struct{}{}:
	default:
	}
	return true
}

// wait returns once the endpoint is up, with ctx's error, or with
// errStopping once stop is closed (a nil stop never is): a held upload has
// moved no byte, so a stopping daemon lets it go at once, pending for the
// next start, instead of waiting out its shutdown timeout for it.
func (p *endpointProbe) wait(ctx context.Context, stop <-chan struct{}) error {
	p.mu.Lock()
	up := p.up
	p.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopping
	}
}

// downSince returns when the current outage began; zero when the
// endpoint is up.
func (p *endpointProbe) downSince() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.up:
		return time.Time{}
	default:
		return p.since
	}
}

// unreachable returns, while checks of the endpoint fail, since when
// uploads wait for it, how many checks failed and the last one's error
// (which says why in one line: refused, no such host, TLS, no answer);
// err is nil while the endpoint is up or no check has failed yet.
func (p *endpointProbe) unreachable() (since time.Time, checks int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.since, p.checks, p.checkErr
}

// run probes during outages until ctx ends.
func (p *endpointProbe) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.outage:
		}
		failed, ok := p.probe(ctx)
		if !ok {
			return
		}
		p.mu.Lock()
		close(p.up)
		since := p.since
		p.checkErr, p.checks = nil, 0
		p.mu.Unlock()
		if failed == 0 {
			// It answered at once: the failures were not an outage, and
			// the files' own back-offs stay.
			continue
		}
		p.logger.Info("the endpoint answers again: every waiting upload goes now", "down", time.Since(since).Round(time.Second).String())
		p.onUp()
	}
}

// probe checks the endpoint until it answers (ok) or ctx ends, and says
// how many checks failed before. Each check gets interval: a check that
// hangs is a failed one.
func (p *endpointProbe) probe(ctx context.Context) (failed int, ok bool) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for ; ; failed++ {
		cctx, cancel := context.WithTimeout(ctx, p.interval)
		err := p.check(cctx)
		cancel()
		if err == nil {
			return failed, true
		}
		p.mu.Lock()
		changed := p.checkErr == nil || p.checkErr.Error() != err.Error()
		p.checkErr = err
		p.checks++
		p.mu.Unlock()
		if changed {
			// At the first failed check, and when the cause changes
			// (refused, then no answer): not once per check.
			p.logger.Error("the endpoint fails: uploads wait while it is probed, and go as soon as it answers", "every", p.interval, "err", err)
		}
		select {
		case <-ctx.Done():
			return failed, false
		case <-t.C:
		}
	}
}
