package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/retention"
)

// Status reports the running daemon's state.
func (d *Daemon) Status() (admin.Status, error) {
	st, err := admin.IndexStatus(d.Index, d.Sources)
	if err != nil {
		return admin.Status{}, err
	}
	now := d.Options.Now()
	st.Daemon, st.Version, st.PID = true, d.Version, os.Getpid()
	h := d.health(now)
	st.Healthy, st.Health = h.OK, h.Why
	st.InFlight, st.PendingBytes, _ = d.pipe.InFlight()
	st.Workers = d.pipe.Workers()
	f := d.flight(now)
	st.Stuck, st.OldestInFlight, st.EndpointDownSince = f.stuck, f.oldest, f.downSince
	if _, _, err := d.probe.unreachable(); err != nil {
		st.EndpointError = err.Error()
	}
	st.Totals = d.pipe.Stats()
	st.ReadCheck = d.reads.snapshot()
	d.state.snapshot(&st, now)
	if k, f, ok := d.state.longestFailing(); ok {
		st.LongestFailing = &admin.FailingFile{Root: k.Src.Root, Path: k.Rel, Since: f.since, Attempts: f.attempts, Reason: f.reason, Error: f.err}
	}
	if d.FullRescanInterval > 0 {
		next := d.nextFullRescan()
		for i := range st.Sources {
			st.Sources[i].NextFullWalk = next
		}
	}
	return st, nil
}

// Health is /healthz's verdict now (see health).
func (d *Daemon) Health() admin.Health { return d.health(d.Options.Now()) }

// health is /healthz's verdict (Why names what fails; Anonymous, for TCP,
// says it with counts and durations only):
//
//	condition                                                  healthy
//	a file failed for lack of space under the index, none      no (at once)
//	  succeeded since
//	a source's root is gone: removed, moved away, unmounted    no (at once), until it is back
//	uploads failed for the endpoint, and a check of it failed  no (at once), until a check
//	  (refused, no such host, TLS, no answer)                    succeeds
//	a mass-deletion guard stopped deletes of a source          no, until confirmed or the
//	  (retention.BlockedOf)                                      limit raised
//	a source's last rescan failed (root missing, unmounted,    no, until one completes
//	  a partition layout that reads none of its folders)
//	one file failed every attempt for FileFailAfter            no, until it succeeds or is gone
//	uploads failing, none succeeded for HealthFailAfter        no
//	the oldest upload in flight was queued HealthFailAfter ago no (queue stuck)
//	a restore drill read recorded versions back corrupt or     no, until a drill reads its
//	  gone                                                       sample and those files back
//	                                                             without
//	the last restore drill stopped, or could not read a        yes, 200 with a body
//	  version to its end                                         that starts "warning:"
//	a version not replicated Replication.AlertAfter after its  yes, 200 with a body
//	  upload, or FAILED with its file gone                       that starts "warning:"
//	otherwise                                                  yes
func (d *Daemon) health(now time.Time) admin.Health {
	if msg := d.state.indexFullError(); msg != "" {
		return admin.Health{Why: msg, Anonymous: "index disk full: uploads wait until the index's file system has space"}
	}
	if src, st, since := d.state.rootGone(); src != nil {
		age := now.Sub(since).Round(time.Second)
		return admin.Health{
			Why:       fmt.Sprintf("source root %s is %s, for %s: %s", local.Printable(src.Root), st, age, rootFix(st)),
			Anonymous: fmt.Sprintf("a source root is %s, for %s: s3ferry status names it", st, age),
		}
	}
	if since, checks, err := d.probe.unreachable(); err != nil {
		age := now.Sub(since).Round(time.Second)
		return admin.Health{
			Why:       fmt.Sprintf("the S3 endpoint has failed for %s (%s): %v; uploads wait and go as soon as it answers", age, local.Plural(checks, "check", "checks"), err),
			Anonymous: fmt.Sprintf("the S3 endpoint has failed for %s (%s): s3ferry status says why", age, local.Plural(checks, "check", "checks")),
		}
	}
	if blocked, err := retention.BlockedOf(d.Index, d.Sources); err == nil && len(blocked) > 0 {
		return admin.Health{
			Why:       fmt.Sprintf("%s; check the source, then s3ferry retention confirm or raise max-delete", blocked[0]),
			Anonymous: fmt.Sprintf("deletes stopped by a mass-deletion guard (%s): s3ferry status names the source", blocked[0].Name),
		}
	}
	if src, since, err, anon := d.state.rescanFailing(); src != nil {
		age := now.Sub(since).Round(time.Second)
		h := admin.Health{
			Why:       fmt.Sprintf("rescans of %s failing for %s: %s", src.Root, age, err),
			Anonymous: fmt.Sprintf("rescans of a source failing for %s: s3ferry status names it", age),
		}
		if anon != "" {
			h.Anonymous = fmt.Sprintf("rescans of a source failing for %s: %s", age, anon)
		}
		return h
	}
	if k, f, ok := d.state.longestFailing(); ok && now.Sub(f.since) > d.FileFailAfter {
		age := now.Sub(f.since).Round(time.Second)
		return admin.Health{
			Why:       fmt.Sprintf("%s has failed every upload attempt for %s (%d attempts, reason %s): %s", local.Printable(path.Join(k.Src.Root, k.Rel)), age, f.attempts, f.reason, f.err),
			Anonymous: fmt.Sprintf("a file has failed every upload attempt for %s (reason %s): s3ferry status names it", age, f.reason),
		}
	}
	failing, lastErr := d.state.failing()
	if age := now.Sub(failing).Round(time.Second); !failing.IsZero() && now.Sub(failing) > d.HealthFailAfter {
		return admin.Health{
			Why:       fmt.Sprintf("uploads failing for %s; last error: %s", age, lastErr),
			Anonymous: fmt.Sprintf("uploads failing for %s: s3ferry status shows the last error", age),
		}
	}
	if n, _, oldest := d.pipe.InFlight(); n > 0 && now.Sub(oldest) > d.HealthFailAfter {
		msg := fmt.Sprintf("queue stuck: %s in flight, the oldest for %s", local.Plural(n, "file", "files"), now.Sub(oldest).Round(time.Second))
		return admin.Health{Why: msg, Anonymous: msg}
	}
	if h, ok := d.reads.health(now); ok {
		return h
	}
	if d.replication != nil {
		// Counts and durations only.
		if msg := d.replication.Warning(now); msg != "" {
			return admin.Health{OK: true, Why: msg, Anonymous: msg}
		}
	}
	return admin.Health{OK: true, Why: "ok", Anonymous: "ok"}
}

// resend hands a file whose version failed to replicate to the submitter,
// to be uploaded again though the index says it is unchanged.
func (d *Daemon) resend(_ context.Context, src *local.Source, rel string, info fs.FileInfo) error {
	d.submit.Push(agent.Candidate{Source: src, Path: rel, Info: info, Resend: true, Detected: d.Options.Now()})
	return nil
}

// retain sweeps the sources with a local retention (or that propagate
// deletes) at start and every RetentionInterval until ctx ends. A failed
// sweep is logged and tried again at the next.
func (d *Daemon) retain(ctx context.Context) error {
	if !slices.ContainsFunc(d.Sources, retention.Applies) {
		return nil
	}
	o := d.Options
	sw := &retention.Sweeper{Sources: d.Sources, Index: d.Index, Open: d.Buckets, Replica: d.Replica, CheckRate: d.Replication.CheckRate, Location: d.Location,
		DryRun: o.DryRun, DryRunOut: o.DryRunOut, Logger: o.Logger, Now: o.Now,
		Deleted: d.metrics.LocalDeleted, Marked: d.metrics.DeleteMarked}
	t := time.NewTicker(d.RetentionInterval)
	defer t.Stop()
	for {
		st, err := sw.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.Options.Logger.Error("local retention sweep failed; trying again at the next", "err", err)
		case st != (retention.Stats{}):
			d.Options.Logger.Info("local sweep", "deleted", st.Deleted, "bytes", st.Bytes, "kept", st.Kept, "dirs_removed", st.DirsRemoved, "vanished", st.Vanished, "delete_markers", st.Propagated)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
