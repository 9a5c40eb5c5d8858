package agent

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
)

// RunPool runs work on each job that produce sends, in workers goroutines
// at once, and returns when produce has returned and every job is done.
// send blocks while every worker is busy. The first error of produce or
// work cancels the context the others got, and is returned.
func RunPool[J any](ctx context.Context, workers int, produce func(ctx context.Context, send func(J) error) error, work func(ctx context.Context, j J) error) error {
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan J)
	for range max(workers, 1) {
		g.Go(func() error {
			for j := range jobs {
				if err := work(gctx, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(jobs)
		return produce(gctx, func(j J) error {
			select {
			case jobs <- j:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	return g.Wait()
}

// PoolOptions is the width of RunAdaptivePool's pool: Workers jobs at
// once, or with Auto from Workers on, adapting like the upload pool
// (Pipeline.adapt) to the rate jobs end at and to throttling, up to
// MaxWorkers, every AdaptInterval.
type PoolOptions struct {
	Workers       int // 0: DefaultWorkers
	Auto          bool
	MaxWorkers    int           // 0: DefaultMaxWorkers
	AdaptInterval time.Duration // 0: DefaultAdaptInterval
	// Throttled, when set, counts the requests S3 throttled so far (the
	// ones the SDK retried too).
	Throttled func() int64
	Logger    *slog.Logger
	// What names the pool in the debug message of a change ("download
	// concurrency").
	What string
}

// withDefaults returns o with every zero value replaced by its default.
func (o PoolOptions) withDefaults() PoolOptions {
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
	if o.Throttled == nil {
		o.Throttled = func() int64 { return 0 }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Done is what one job of RunAdaptivePool did, which its controller
// weighs: the files and bytes it moved, and whether S3 throttled it.
type Done struct {
	Files, Bytes int64
	Throttled    bool
}

// RunAdaptivePool is RunPool whose width adapts with Options.Auto (see
// PoolOptions); without it, RunPool of Workers. A job's Done feeds the
// controller.
func RunAdaptivePool[J any](ctx context.Context, o PoolOptions, produce func(ctx context.Context, send func(J) error) error, work func(ctx context.Context, j J) (Done, error)) error {
	o = o.withDefaults()
	if !o.Auto {
		return RunPool(ctx, o.Workers, produce, func(ctx context.Context, j J) error {
			_, err := work(ctx, j)
			return err
		})
	}
	lim := newLimiter(o.Workers)
	actx, stop := context.WithCancel(ctx)
	adapted := make(chan struct{})
	go func() {
		defer close(adapted)
		adaptLimit(actx, lim, adaptConfig{
			start: o.Workers, max: o.MaxWorkers, interval: o.AdaptInterval,
			throttles: o.Throttled, log: o.Logger, what: o.What, set: func(int) {},
		})
	}()
	defer func() {
		stop()
		<-adapted
	}()
	// MaxWorkers goroutines, of which the limiter lets as many work as
	// the controller decides.
	return RunPool(ctx, o.MaxWorkers, produce, func(ctx context.Context, j J) error {
		if err := lim.acquire(ctx); err != nil {
			return err
		}
		defer lim.release()
		lim.started()
		d, err := work(ctx, j)
		lim.count(d)
		return err
	})
}
