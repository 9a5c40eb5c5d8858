package agent

import (
	"context"

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
