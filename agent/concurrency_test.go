package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// latencyUploader answers every upload after a fixed wait, as a distant
// link does (no bandwidth limit: more uploads at once end more per
// second), or with err.
type latencyUploader struct {
	wait time.Duration
	err  error
}

func (u latencyUploader) Upload(ctx context.Context, job uploader.Job) (uploader.Result, error) {
	select {
	case <-time.After(u.wait):
	case <-ctx.Done():
		return uploader.Result{}, ctx.Err()
	}
	if u.err != nil {
		return uploader.Result{}, u.err
	}
	return uploader.Result{Size: 1, ETag: "e", VersionID: "v"}, nil
}

// adaptUntil runs an adaptive pipeline fed with files until cond holds
// of its Workers, and fails the test if it never does.
func adaptUntil(t *testing.T, up Uploader, opts Options, what string, cond func(workers int) bool) {
	t.Helper()
	root := t.TempDir()
	agenttest.WriteFile(t, root, "f", "x")
	info, err := os.Lstat(filepath.Join(root, "f"))
	if err != nil {
		t.Fatal(err)
	}
	src := agenttest.NewSource(t, root, "")
	opts.AutoWorkers, opts.AdaptInterval = true, 10*time.Millisecond
	p := NewPipeline(index.NewMemory(), up, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(time.Minute) // against a hang, not a speed
	for i := 0; !cond(p.Workers()); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d files, %d uploads at once: want %s", i, p.Workers(), what)
		}
		// Distinct paths with the same stat: each one is new to the index.
		if _, err := p.Consider(ctx, Candidate{Source: src, Path: fmt.Sprintf("f-%d", i), Info: info}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAutoWorkersGrowOnALatencyBoundLink: when more uploads at once end
// more files per second, the pool grows beyond where it started, and
// never beyond MaxWorkers.
func TestAutoWorkersGrowOnALatencyBoundLink(t *testing.T) {
	var most int
	adaptUntil(t, latencyUploader{wait: 5 * time.Millisecond}, Options{Workers: 4, MaxWorkers: 24}, "more than 4 (the link is latency-bound)", func(n int) bool {
		most = max(most, n)
		if most > 24 {
			t.Fatalf("%d uploads at once, above MaxWorkers 24", most)
		}
		return n >= 16
	})
}

// TestAutoWorkersBackOffWhenThrottled: uploads that S3 throttles (503
// SlowDown) halve the pool.
func TestAutoWorkersBackOffWhenThrottled(t *testing.T) {
	slow := buckettest.SlowDown()
	adaptUntil(t, latencyUploader{wait: time.Millisecond, err: slow}, Options{Workers: 16}, "fewer than 16 (throttled)", func(n int) bool {
		return n < 16
	})
}

// TestAutoWorkersCountSDKRetries: throttling the SDK retried away
// (Options.Throttled) backs the pool off too, though every upload succeeds.
func TestAutoWorkersCountSDKRetries(t *testing.T) {
	var n int64
	throttled := func() int64 { n++; return n } // one more at every look
	adaptUntil(t, latencyUploader{wait: time.Millisecond}, Options{Workers: 16, Throttled: throttled}, "fewer than 16 (throttled requests retried)", func(w int) bool {
		return w < 16
	})
}

// TestLimiterBoundsUploads: however the limit changes and waiters give up,
// no more slots are held at once than the limit allows, a raised limit
// lets waiters in, and a waiter that gave up holds no slot.
func TestLimiterBoundsUploads(t *testing.T) {
	l := newLimiter(3)
	var held, most atomic.Int64
	var limitNow atomic.Int64
	limitNow.Store(3)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				wctx, cancel := context.WithCancel(ctx)
				switch (g + i) % 5 {
				case 0:
					cancel() // gives up before it waits
				case 1:
					go cancel() // gives up while it waits, or as it is given a slot
				}
				if l.acquire(wctx) == nil {
					n := held.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					if lim := limitNow.Load(); n > 8 {
						t.Errorf("%d slots held at once, limit at most 8 (now %d)", n, lim)
					}
					runtime.Gosched()
					held.Add(-1)
					l.release()
				}
				cancel()
			}
		}()
	}
	for _, n := range []int{1, 8, 2, 5} {
		limitNow.Store(int64(n))
		l.set(n)
		runtime.Gosched()
	}
	wg.Wait()
	l.mu.Lock()
	active, waiting := l.active, l.waiters.Len()
	l.mu.Unlock()
	if active != 0 || waiting != 0 {
		t.Fatalf("after every worker left: %d slots held, %d waiters; want none", active, waiting)
	}

	// A raised limit lets a waiter in; one that gave up left no slot taken.
	l.set(1)
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.acquire(gaveUp); err == nil {
		t.Fatal("acquire with every slot taken and ctx done returned nil")
	}
	in := make(chan error, 1)
	go func() { in <- l.acquire(ctx) }()
	l.set(2)
	if err := <-in; err != nil {
		t.Fatal(err)
	}
	l.release()
	l.release()
	if l.active != 0 {
		t.Fatalf("%d slots held after every release", l.active)
	}
}

// TestAdaptivePoolGrowsAndBacksOff: RunAdaptivePool, the pool of the
// bucket-side tools (restore's downloads), grows like the upload pool on
// a latency-bound link, within MaxWorkers, and halves when its jobs are
// throttled.
func TestAdaptivePoolGrowsAndBacksOff(t *testing.T) {
	var inFlight, most atomic.Int64
	var throttle atomic.Bool
	var shrunk atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // against a hang, not a speed
	defer cancel()
	produce := func(ctx context.Context, send func(int) error) error {
		for i := 0; ; i++ {
			if err := send(i); err != nil {
				return nil
			}
			if throttle.Load() && shrunk.Load() {
				return nil
			}
		}
	}
	work := func(ctx context.Context, _ int) (Done, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if most.Load() >= 16 && !throttle.Load() {
			throttle.Store(true)
		}
		if throttle.Load() && most.Load() >= 16 && n <= 8 {
			shrunk.Store(true)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return Done{}, ctx.Err()
		}
		return Done{Files: 1, Bytes: 1, Throttled: throttle.Load()}, nil
	}
	err := RunAdaptivePool(ctx, PoolOptions{Workers: 4, Auto: true, MaxWorkers: 24, AdaptInterval: 10 * time.Millisecond}, produce, work)
	if err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m < 16 || m > 24 {
		t.Errorf("at most %d jobs at once, want 16 to 24 (from 4, up to MaxWorkers 24)", m)
	}
	if !shrunk.Load() {
		t.Error("the pool never came back to 8 or fewer jobs at once while throttled")
	}
}

// TestAutoWorkersControllerSleepsWhileIdle: the controller, which reads
// Options.Throttled at every look, stops looking once no upload runs, and
// looks again when the next one starts.
func TestAutoWorkersControllerSleepsWhileIdle(t *testing.T) {
	root := t.TempDir()
	src := agenttest.NewSource(t, root, "")
	var looks atomic.Int64
	opts := Options{Workers: 2, AutoWorkers: true, AdaptInterval: 10 * time.Millisecond,
		Throttled: func() int64 { looks.Add(1); return 0 }}
	p := NewPipeline(index.NewMemory(), latencyUploader{wait: time.Millisecond}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	upload := func(name string) {
		t.Helper()
		agenttest.WriteFile(t, root, name, "x")
		info, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		want := p.Stats().Uploaded + 1
		if _, err := p.Consider(ctx, Candidate{Source: src, Path: name, Info: info}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, name+" uploaded", func() bool { return p.Stats().Uploaded == want })
	}
	// quiet waits until the controller has not looked for 20 intervals.
	quiet := func() int64 {
		t.Helper()
		last, since := looks.Load(), time.Now()
		waitUntil(t, "the controller to stop looking", func() bool {
			if n := looks.Load(); n != last {
				last, since = n, time.Now()
			}
			return time.Since(since) > 20*opts.AdaptInterval
		})
		return last
	}

	upload("a")
	asleep := quiet()
	// The upload wakes it; it looks at its next tick, which may come after
	// a 1 ms upload has ended (it then counts the file that ended).
	upload("b")
	waitUntil(t, "the controller to look again after an upload woke it", func() bool { return looks.Load() != asleep })
	quiet()
}

// waitUntil waits up to a minute (against a hang, not a speed) for cond.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("waited a minute for %s", what)
		}
	}
}

// TestAutoWorkersStartAsTheLimitGrows: an adaptive pool with nothing to
// upload runs its starting Workers goroutines, not MaxWorkers (a sync
// with nothing new paid for 256 goroutines' stacks); the growth above
// starts the rest (TestAutoWorkersGrowOnALatencyBoundLink).
func TestAutoWorkersStartAsTheLimitGrows(t *testing.T) {
	before := runtime.NumGoroutine()
	p := NewPipeline(index.NewMemory(), latencyUploader{}, Options{Workers: 4, MaxWorkers: 256, AutoWorkers: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let Run start what it starts
	n := runtime.NumGoroutine() - before
	p.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cancel()
	if n > 32 {
		t.Errorf("%d goroutines while an adaptive pool of 4 had nothing to do, want about 4 (not MaxWorkers, 256)", n)
	}
}
