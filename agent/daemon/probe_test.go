package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndpointProbe: a failure that is the endpoint's holds every upload
// until one check succeeds, which releases them all at once; a failure of
// one file holds nothing.
func TestEndpointProbe(t *testing.T) {
	var down atomic.Bool
	var checks, ups atomic.Int64
	check := func(ctx context.Context) error {
		checks.Add(1)
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}
	released := make(chan struct{}, 1)
	p := newEndpointProbe(check, time.Millisecond, func() { ups.Add(1); released <- struct{}{} }, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	defer func() { cancel(); <-done }()

	p.failed("permission", time.Now())
	if err := p.wait(ctx, nil); err != nil || !p.downSince().IsZero() {
		t.Fatalf("after a failure of one file: wait = %v, down since %v; want up", err, p.downSince())
	}
	// An upload failed for a network reason, but the endpoint answers: not
	// an outage, nothing to release.
	p.failed("network", time.Now())
	if err := p.wait(ctx, nil); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if n := ups.Load(); n != 0 {
		t.Fatalf("%d releases after a check that succeeded at once, want 0", n)
	}

	down.Store(true)
	start := time.Now()
	p.failed("network", start)
	p.failed("server-error", start.Add(time.Second)) // down already: the outage began at start
	if got := p.downSince(); !got.Equal(start) {
		t.Fatalf("down since %v, want %v", got, start)
	}
	waiters := make(chan error, 8)
	for range cap(waiters) {
		go func() { waiters <- p.wait(ctx, nil) }()
	}
	for checks.Load() < 3 { // the endpoint still refuses: every waiter waits
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-waiters:
		t.Fatalf("a waiter went on (%v) while the endpoint was down", err)
	default:
	}
	down.Store(false)
	<-released
	for range cap(waiters) {
		if err := <-waiters; err != nil {
			t.Fatalf("wait: %v", err)
		}
	}
	if ups.Load() != 1 || !p.downSince().IsZero() {
		t.Fatalf("after the endpoint answered: %d releases, down since %v; want 1 and up", ups.Load(), p.downSince())
	}

	// A waiter whose context ends goes with its error.
	down.Store(true)
	p.failed("throttled", time.Now())
	wctx, wcancel := context.WithCancel(ctx)
	wcancel()
	if err := p.wait(wctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a done context during an outage = %v, want context.Canceled", err)
	}
	// So does one whose daemon stops.
	stop := make(chan struct{})
	close(stop)
	if err := p.wait(ctx, stop); !errors.Is(err, errStopping) {
		t.Fatalf("wait of a stopping daemon during an outage = %v, want errStopping", err)
	}
}
