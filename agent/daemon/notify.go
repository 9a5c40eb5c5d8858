package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
)

// DefaultStatusInterval is how often the daemon tells its Notifier the
// one-line summary.
const DefaultStatusInterval = 5 * time.Second

// Notifier tells a service manager how the daemon is doing: systemd's
// sd_notify protocol (READY=1, STATUS=, STOPPING=1, WATCHDOG=1), which
// cmd/s3ferry implements. Errors are logged once and never stop the daemon.
// Each method is called from one goroutine at a time.
type Notifier interface {
	// Ready says the daemon serves: the index is open, the uploads a stop
	// left pending are queued again and the watches are placed.
	Ready() error
	// Status sets the one-line summary (systemctl status shows it).
	Status(line string) error
	// Stopping says the daemon takes no more files and drains.
	Stopping() error
	// Watchdog says the daemon makes progress; a service manager that
	// stops hearing it within its timeout restarts the service.
	Watchdog() error
}

// liveness is what the watchdog judges: the event loop's heartbeat and the
// upload pool's progress. The loop, the workers and the notifier update it
// concurrently; every field is atomic or under mu.
type liveness struct {
	beat  atomic.Int64 // the loop's last heartbeat, Unix ns (its ready, its checks, the notifier's asks)
	ended atomic.Int64 // uploads ended, whatever their outcome
	ready atomic.Bool  // Ready was sent
	// notifyFailed: a notification failed and was logged.
	notifyFailed atomic.Bool

	mu         sync.Mutex
	day        string // the local date uploadsDay counts
	uploadsDay int64  // files uploaded on day
}

// observe counts the end of one upload.
func (l *liveness) observe(ev agent.Event, now time.Time) {
	l.ended.Add(1)
	if ev.Outcome != agent.Uploaded {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := now.Format(time.DateOnly); d != l.day {
		l.day, l.uploadsDay = d, 0
	}
	l.uploadsDay++
}

// today is how many files were uploaded on now's date.
func (l *liveness) today(now time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Format(time.DateOnly) != l.day {
		return 0
	}
	return l.uploadsDay
}

// tick records the event loop's heartbeat.
func (l *liveness) tick(now time.Time) { l.beat.Store(now.UnixNano()) }

// progressJudge decides, at each watchdog check, whether the daemon makes
// progress. Only the notifier goroutine uses it.
//
//	condition at a check                                          progress
//	Ready not sent yet (systemd's start timeout guards the start)  yes
//	the event loop has not answered a heartbeat for the timeout    no (loop stuck)
//	no upload in flight (an idle pool)                             yes
//	uploads in flight, and a byte moved to or from S3 or an upload
//	  ended within the timeout (the clock starts when the pool is
//	  first seen busy)                                             yes
//	otherwise: uploads in flight, nothing moved for the timeout    no (pool stuck)
type progressJudge struct {
	timeout  time.Duration
	busy     bool      // uploads were in flight at the last check
	moved    int64     // the pool's progress counter at the last change
	movingAt time.Time // when the pool was last seen idle or moving
}

// judge returns "" when the daemon makes progress, else what is stuck.
func (j *progressJudge) judge(now time.Time, l *liveness, inFlight int, moved int64) string {
	if !l.ready.Load() {
		j.busy = false
		return ""
	}
	if idle := now.Sub(time.Unix(0, l.beat.Load())); idle > j.timeout {
		return fmt.Sprintf("event loop stuck: no heartbeat for %s", idle.Round(time.Second))
	}
	// The clock starts when uploads are first seen in flight.
	busy := inFlight > 0
	if !busy || !j.busy || moved != j.moved {
		j.busy, j.moved, j.movingAt = busy, moved, now
		return ""
	}
	if idle := now.Sub(j.movingAt); idle > j.timeout {
		return fmt.Sprintf("upload pool stuck: %s in flight, no byte moved for %s", local.Plural(inFlight, "upload", "uploads"), idle.Round(time.Second))
	}
	return ""
}

// notifyReady tells the Notifier the daemon serves.
func (d *Daemon) notifyReady() {
	d.live.tick(d.Options.Now())
	d.live.ready.Store(true)
	if d.Notifier != nil {
		d.notifyErr("ready", d.Notifier.Ready())
	}
}

// notifyStopping tells the Notifier the daemon drains.
func (d *Daemon) notifyStopping() {
	if d.Notifier != nil {
		d.notifyErr("stopping", d.Notifier.Stopping())
	}
}

// notifier sends the summary every StatusInterval and, with a
// WatchdogTimeout, a watchdog ping every half of it while progressJudge
// sees progress, until ctx ends.
func (d *Daemon) notifier(ctx context.Context) {
	if d.Notifier == nil {
		return
	}
	status := time.NewTicker(d.StatusInterval)
	defer status.Stop()
	var pingC <-chan time.Time
	if d.WatchdogTimeout > 0 {
		ping := time.NewTicker(d.WatchdogTimeout / 2)
		defer ping.Stop()
		pingC = ping.C
	}
	judge := progressJudge{timeout: d.WatchdogTimeout}
	stuck := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-status.C:
			line := d.summaryLine(d.Options.Now())
			if stuck != "" {
				line = "watchdog withheld: " + stuck + "; " + line
			}
			d.notifyErr("status", d.Notifier.Status(line))
		case <-pingC:
			// The loop's answer is judged at the next ping, half a
			// timeout from now.
			select {
			case d.heartbeat <- struct{}{}:
			default:
			}
			n, _, _ := d.pipe.InFlight()
			var moved int64
			if d.Progress != nil {
				moved = d.Progress()
			}
			was := stuck
			stuck = judge.judge(d.Options.Now(), d.live, n, moved+d.live.ended.Load())
			switch {
			case stuck == "":
				if was != "" {
					d.Options.Logger.Info("progress again: watchdog pings resume")
				}
				d.notifyErr("watchdog", d.Notifier.Watchdog())
			case was == "":
				d.Options.Logger.Error("withholding the watchdog ping: the service manager will restart s3ferry unless it recovers", "why", stuck)
				d.notifyErr("status", d.Notifier.Status("watchdog withheld: "+stuck))
			}
		}
	}
}

// summaryLine is the one-line state: "watching 1,234 dirs; 0 pending;
// last upload 3 s ago; 12,345 today".
func (d *Daemon) summaryLine(now time.Time) string {
	st := admin.Status{Sources: make([]admin.SourceStatus, len(d.Sources))}
	d.state.snapshot(&st, now)
	_, pending := d.counts()
	var lastAt time.Time
	for _, s := range st.Sources {
		if s.LastUpload.After(lastAt) {
			lastAt = s.LastUpload
		}
	}
	last := "no upload yet"
	if !lastAt.IsZero() {
		last = fmt.Sprintf("last upload %s ago", now.Sub(lastAt).Round(time.Second))
	}
	line := fmt.Sprintf("watching %s; %s pending; %s; %s today",
		local.Plural(st.WatchedDirs, "dir", "dirs"), humanize.Comma(pending), last, humanize.Comma(d.live.today(now)))
	if h := d.health(now); !h.OK {
		line = "UNHEALTHY: " + h.Why + "; " + line
	}
	return line
}

// notifyErr logs the first failure to notify the service manager.
func (d *Daemon) notifyErr(what string, err error) {
	if err != nil && d.live.notifyFailed.CompareAndSwap(false, true) {
		d.Options.Logger.Warn("notify the service manager", "what", what, "err", err)
	}
}
