package uploader

import (
	"context"
	"fmt"
	"time"
)

// PlacerOptions say how large a Placer's batches grow.
type PlacerOptions struct {
	// Files is how many finished files a batch holds before it is
	// placed; 0: DefaultPlaceFiles.
	Files int
	// Wait is the longest the first file of a batch waits for more
	// before the batch is placed; 0: DefaultPlaceWait.
	Wait time.Duration
}

// The defaults of PlacerOptions: at 8 KiB a file a batch is about 1 MiB;
// a file waits a tenth of a second at most for company.
const (
	DefaultPlaceFiles = 128
	DefaultPlaceWait  = 100 * time.Millisecond
)

func (o PlacerOptions) withDefaults() PlacerOptions {
	if o.Files <= 0 {
		o.Files = DefaultPlaceFiles
	}
	if o.Wait <= 0 {
		o.Wait = DefaultPlaceWait
	}
	return o
}

// Placer moves finished downloads (DownloadJob.Placer) into their names in
// batches, so a file is durable before it appears under its name while
// the sync that makes it so is paid once per batch, not once per file.
// A batch is placed when it holds Files files, when its first has waited
// Wait, or at Close:
//
//  1. one syncfs(2) per file system the batch is on makes every file's
//     bytes, mode and mtime durable;
//  2. each is linked (renamed, with Overwrite) into place within its
//     directory's fd, as Download does alone;
//  3. each directory the batch placed files in is synced once;
//  4. each DownloadJob.Placed is told how its file ended.
//
// A crash or kill before step 2 leaves only the private temporary
// files; a cancelled ctx discards the batches not yet placed (their
// temporary files are removed, Placed is told ctx's error). One batch is
// placed while the next fills; a third waits, which holds back Download.
// Run's goroutine owns the filling batch, a second one it starts places
// them.
type Placer struct {
	opts PlacerOptions
	in   chan *staged
}

// NewPlacer returns a Placer; Run it, hand it downloads, then Close it.
func NewPlacer(opts PlacerOptions) *Placer {
	return &Placer{opts: opts.withDefaults(), in: make(chan *staged)}
}

// Close says no more downloads are handed over: Run places what it holds
// and returns. Call it once, after the last Download given p returned.
func (p *Placer) Close() { close(p.in) }

// add hands s over to be placed; on ctx's end it discards s instead.
func (p *Placer) add(ctx context.Context, s *staged) error {
	select {
	case p.in <- s:
		return nil
	case <-ctx.Done():
		s.discard()
		return ctx.Err()
	}
}

// Run places batches until Close, and returns once the last is placed,
// with nil: how each file ended is told its DownloadJob.Placed.
func (p *Placer) Run(ctx context.Context) error {
	batches := make(chan []*staged, 1)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for b := range batches {
			p.flush(ctx, b)
		}
	}()
	var batch []*staged
	var timer *time.Timer
	var timeout <-chan time.Time
	send := func() {
		if timer != nil {
			timer.Stop()
		}
		timeout = nil
		batches <- batch // the placer drains batches whatever ctx says
		batch = nil
	}
	for {
		select {
		case s, ok := <-p.in:
			if !ok {
				if len(batch) > 0 {
					send()
				}
				close(batches)
				<-flushed
				return nil
			}
			batch = append(batch, s)
			if len(batch) == 1 {
				timer = time.NewTimer(p.opts.Wait)
				timeout = timer.C
			}
			if len(batch) >= p.opts.Files {
				send()
			}
		case <-timeout:
			send()
		}
	}
}

// flush places one batch (see Placer).
func (p *Placer) flush(ctx context.Context, batch []*staged) {
	errs := make([]error, len(batch))
	defer func() {
		for i, s := range batch {
			s.discard()
			if s.placed != nil {
				s.placed(s.res, errs[i])
			}
		}
	}()
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	synced := map[uint64]bool{}
	for _, s := range batch {
		dev, err := s.dir.Device()
		if err == nil && !synced[dev] {
			err = s.dir.SyncFS()
			synced[dev] = true
		}
		if err != nil {
			fail(fmt.Errorf("sync: %w", err))
			return
		}
	}
	dirs := map[string]int{} // a directory placed into: the first file placed there
	for i, s := range batch {
		if errs[i] = s.place(); errs[i] == nil {
			if _, ok := dirs[s.dir.Rel()]; !ok {
				dirs[s.dir.Rel()] = i
			}
		}
	}
	for rel, first := range dirs {
		if err := batch[first].dir.Sync(); err != nil {
			for i, s := range batch {
				if errs[i] == nil && s.dir.Rel() == rel {
					errs[i] = err
				}
			}
		}
	}
}
