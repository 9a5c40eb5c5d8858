package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
)

// checks are the admin socket's long reads of the daemon's index (POST
// /verify, POST /index/check): one at a time, never once the daemon is
// stopping, and Run waits for the one running before it returns, so the
// index its caller then closes is no longer read.
type checks struct {
	stopping <-chan struct{} // the daemon's: closed once it takes no more work
	now      func() time.Time

	mu      sync.Mutex
	stopped bool   // set by stop; guarded by mu
	running string // what runs ("verify", "index check"), "" when none; guarded by mu
	since   time.Time
	done    sync.WaitGroup
}

// start begins check what: it returns ctx, cancelled when the daemon
// stops as well as with the caller, and end, which the caller defers; or
// a *admin.RefusedError when another check runs or the daemon is stopping.
func (c *checks) start(ctx context.Context, what string) (context.Context, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped:
		return nil, nil, &admin.RefusedError{Code: http.StatusServiceUnavailable, Reason: "the daemon is stopping: run the " + what + " again once it has stopped (it then opens the index itself) or restarted"}
	case c.running != "":
		return nil, nil, &admin.RefusedError{Code: http.StatusConflict, Reason: fmt.Sprintf("the daemon is already running a %s, asked at %s: wait for it to end, then ask again", c.running, c.since.Format(time.TimeOnly))}
	}
	c.running, c.since = what, c.now()
	c.done.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	ended := make(chan struct{})
	go func() { // ends with the check
		select {
		case <-c.stopping:
			cancel()
		case <-ended:
		}
	}()
	end := func() {
		close(ended)
		cancel()
		c.mu.Lock()
		c.running = ""
		c.mu.Unlock()
		c.done.Done()
	}
	return ctx, end, nil
}

// stop refuses every check from now on and waits for the one running,
// which the daemon's stopping has cancelled.
func (c *checks) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.done.Wait()
}

// Verify runs verify (bucket.Verify) of the sources req names against the
// daemon's open index, with its buckets; see admin.Server. Every source
// must be one of the daemon's, matched by root and destination, so a
// caller cannot have it read a tree or list a prefix of its choosing.
func (d *Daemon) Verify(ctx context.Context, req admin.VerifyRequest) (bucket.VerifyReport, error) {
	if len(req.Sources) == 0 {
		return bucket.VerifyReport{}, &admin.RefusedError{Code: http.StatusBadRequest, Reason: "the verify request names no source: name the sources of the daemon to verify"}
	}
	if d.Buckets == nil {
		return bucket.VerifyReport{}, &admin.RefusedError{Code: http.StatusServiceUnavailable, Reason: "this daemon opens no bucket: stop it to run verify"}
	}
	var sources []*local.Source
	for _, n := range req.Sources {
		src := d.source(n)
		if src == nil {
			return bucket.VerifyReport{}, &admin.RefusedError{Code: http.StatusBadRequest, Reason: fmt.Sprintf("the daemon does not back up %s -> %s: verify the sources of its configuration (--config), or stop it to verify another", local.Printable(n.Root), local.Printable(n.Destination))}
		}
		sources = append(sources, src)
	}
	ctx, end, err := d.checks.start(ctx, "verify")
	if err != nil {
		return bucket.VerifyReport{}, err
	}
	defer end()
	log := d.Options.Logger.With(peerAttrs(ctx)...)
	log.Info("verify asked on the admin socket", "sources", len(sources), "deep", req.Deep, "inventory", req.Inventory != nil)
	opts := d.Options
	opts.Observe, opts.Gate = nil, nil // the run's counters and probe are the daemon's uploads'
	v := &bucket.Verify{
		Sources:     sources,
		Index:       d.Index,
		Open:        d.Buckets,
		Deep:        req.Deep,
		Options:     opts,
		ListWorkers: req.ListWorkers,
		Inventory:   req.Inventory,
	}
	rep, err := v.Run(ctx)
	if err != nil {
		log.Warn("verify asked on the admin socket failed", "err", err)
		return bucket.VerifyReport{}, fmt.Errorf("verify: %w", err)
	}
	log.Info("verify asked on the admin socket done", "problems", rep.Problems(), "seconds", rep.Seconds)
	return rep, nil
}

// source returns the daemon's source n names, nil if none.
func (d *Daemon) source(n admin.SourceName) *local.Source {
	for _, src := range d.Sources {
		if src.Root == n.Root && src.Destination() == n.Destination {
			return src
		}
	}
	return nil
}

// indexChecker is an index that can read itself back while open
// (index.DB).
type indexChecker interface {
	Check(ctx context.Context) ([]string, error)
}

// CheckIndex reads the daemon's open index back; see admin.Server.
func (d *Daemon) CheckIndex(ctx context.Context) ([]string, error) {
	c, ok := d.Index.(indexChecker)
	if !ok {
		return nil, &admin.RefusedError{Code: http.StatusServiceUnavailable, Reason: "this daemon's index cannot be checked while it runs: stop it to run index check"}
	}
	ctx, end, err := d.checks.start(ctx, "index check")
	if err != nil {
		return nil, err
	}
	defer end()
	log := d.Options.Logger.With(peerAttrs(ctx)...)
	log.Info("index check asked on the admin socket")
	problems, err := c.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("index check: %w", err)
	}
	log.Info("index check asked on the admin socket done", "problems", len(problems))
	return problems, nil
}

// peerAttrs are the log attributes of who asked, on the admin socket, for
// what ctx carries out.
func peerAttrs(ctx context.Context) []any {
	p, ok := admin.PeerFrom(ctx)
	if !ok {
		return nil
	}
	return []any{"peer_pid", p.PID, "peer_uid", p.UID}
}
