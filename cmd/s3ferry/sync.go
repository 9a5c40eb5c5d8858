package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

func newSyncCommand() *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "upload what is new or changed, once, and exit",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Finds the files that are new or changed since the last run and uploads them.
The first run walks the whole tree; later runs walk only the date partitions
inside the look-back window (with --partition-layout) and read no file whose
size, mtime and inode match the index.

Examples:
 1. Back up a recordings tree with daily folders, looking two days back:
    s3ferry sync /home/archive/RECORDINGS s3://call-recording-backup/recordings/ \
        --partition-layout 2006-01-02 --lookback 48h
 2. Walk the whole tree (an audit after an outage), still reading only changed files:
    s3ferry sync --config /etc/s3ferry/s3ferry.yml --full
 3. See what would be uploaded, as JSON totals:
    s3ferry sync --config /etc/s3ferry/s3ferry.yml --dry-run --json
 4. Against MinIO or another S3-compatible store:
    s3ferry sync ./data s3://backup/ --endpoint-url http://127.0.0.1:9000 --path-style
 5. In a script that must know the uploads are in both regions (at most 2 hours):
    s3ferry sync --config /etc/s3ferry/s3ferry.yml --wait-replication=2h`,
		Flags: append(append(configFlags(), replicationFlags()...),
			&cli.BoolFlag{Name: "full", Usage: "walk every source's whole tree, not only recent partitions"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list what would be uploaded; change nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print the totals as one JSON object at the end"},
			&cli.BoolFlag{Name: "no-progress", Usage: "no progress display, even on a terminal"},
			&cli.BoolFlag{Name: flagAllowUnversioned, Usage: "upload to a bucket without versioning (an upload then replaces the object, a delete loses it)"},
			&cli.GenericFlag{Name: flagWaitReplication, Value: &waitFlag{}, Usage: "return once S3 says the replication of every upload COMPLETED, re-sending what FAILED (`[=TIMEOUT]`: exit 1 when it passes first)"},
		),
		Action: func(c *cli.Context) error {
			s, log, err := loadCommand(c, false)
			if errors.As(err, new(noSourcesError)) {
				return configError{err} // as run's: the catch-up unit's file is not ready
			} else if err != nil {
				return err
			}
			if err := checkRoots(s.sources); err != nil {
				return usageError{err}
			}
			s.allowUnversioned = s.allowUnversioned || c.Bool(flagAllowUnversioned)
			bar, log, err := progressFor(c, s, log)
			if err != nil {
				return err
			}
			var lookback time.Duration
			if c.IsSet(flagLookback) {
				lookback = flagDuration(c, flagLookback)
			}
			return syncCmd{
				settings: s,
				full:     c.Bool("full"),
				lookback: lookback,
				dryRun:   c.Bool("dry-run"),
				json:     c.Bool("json"),
				bar:      bar,
				human:    humanSummary(c, s),
				wait:     *c.Generic(flagWaitReplication).(*waitFlag),
				log:      log,
				stdout:   c.App.Writer,
				stderr:   c.App.ErrWriter,
			}.Run(c.Context)
		},
	}
}

// flagAllowUnversioned lets sync upload to a bucket without versioning.
const flagAllowUnversioned = "allow-unversioned"

// syncCmd is `s3ferry sync` with its flags turned into plain values.
type syncCmd struct {
	settings
	full, dryRun, json bool
	bar                *progress     // the display on a terminal; nil: none
	human              bool          // the totals for a person, not as a log line (humanSummary)
	lookback           time.Duration // --lookback, when given: passed to a daemon that runs the sync
	wait               waitFlag
	log                *slog.Logger
	stdout, stderr     io.Writer
}

func (cmd syncCmd) Run(ctx context.Context) error {
	env, err := openEnvChecked(ctx, cmd.settings, cmd.log, cmd.checkBuckets)
	if errors.Is(err, index.ErrLocked) && !cmd.dryRun && cmd.wait.on {
		return fmt.Errorf("--wait-replication cannot run through the daemon that holds the index: it tracks replication itself (s3ferry status, /metrics s3ferry_replication_pending): %w", err)
	}
	if locked := (*index.LockedError)(nil); errors.As(err, &locked) && !cmd.dryRun {
		// The daemon holds the index: ask it to do the catch-up.
		stats, derr := cmd.viaDaemon(ctx, locked)
		if derr == nil {
			return cmd.report(stats, nil)
		}
		if !errors.Is(derr, errNoDaemon) {
			return derr
		}
		return heldError(locked)
	}
	if err != nil {
		return err
	}
	defer env.Close()
	replicas, err := openReplicas(ctx, cmd.settings, cmd.log)
	if err != nil {
		return usageError{err}
	}
	sync := &agent.Sync{
		Sources:  cmd.sources,
		Index:    env.index,
		Uploader: env.uploader,
		Full:     cmd.full,
		Adopt:    adoptFirstRun(env, cmd.settings, cmd.log),

		WaitReplication:    cmd.wait.on,
		ReplicationTimeout: cmd.wait.timeout,
		Buckets:            env.open,
		Replica:            replicas,
		Replication:        cmd.replication,
		Options:            cmd.uploadOptions(cmd.log, env.client),
	}
	sync.Options.DryRun, sync.Options.DryRunOut = cmd.dryRun, cmd.stdout
	if cmd.bar != nil {
		sync.Options.DryRunOut = cmd.bar.above(cmd.stdout)
	}
	if cmd.bar != nil {
		sync.Options.Transfers = cmd.bar.tr
		sync.Progress = func(s agent.Stats) { cmd.bar.draw(syncCounts(s)) }
	}
	stats, err := sync.Run(ctx)
	if cmd.bar != nil {
		cmd.bar.finish() // cleared for good: the summary stands alone
	}
	return cmd.report(stats, err)
}

// checkBuckets is what sync asks the buckets before it walks (openEnvChecked
// runs it while the index opens): their versioning, which it refuses to do
// without unless told, their Object Lock for a source that locks, and
// their replication rules when uploads are to be tracked to a replica.
func (cmd syncCmd) checkBuckets(ctx context.Context, open func(bucket string) uploader.Bucket) error {
	if cmd.allowUnversioned || cmd.dryRun {
		warnUnversioned(ctx, open, cmd.sources, cmd.log)
	} else if err := refuseUnversioned(ctx, open, cmd.sources, cmd.log); err != nil {
		return usageError{err}
	}
	if err := refuseUnlocked(ctx, open, cmd.sources, cmd.log); err != nil {
		return usageError{err}
	}
	if needsReplication(cmd.sources, cmd.wait.on) {
		markReplicated(ctx, open, cmd.sources, cmd.log)
	}
	return nil
}

// viaDaemon runs the catch-up in the daemon that holds the index (locked
// says which, and its admin socket) and waits for it, when the daemon
// serves every source the sync names (same root and destination);
// otherwise it refuses, with an error that matches index.ErrLocked.
func (cmd syncCmd) viaDaemon(ctx context.Context, locked *index.LockedError) (agent.Stats, error) {
	var stats agent.Stats
	client, err := newDaemonClient(locked.Holder)
	if err != nil {
		return stats, err
	}
	st, err := client.status(ctx)
	if err != nil {
		return stats, err
	}
	if src := notServed(cmd.sources, st.Sources); src != nil {
		return stats, &daemonSourceError{src: src, pid: st.PID, socket: locked.Admin, indexDir: cmd.indexDir,
			fix: "give this sync another --index-dir, or add the source to the daemon's config"}
	}
	q := url.Values{}
	if cmd.full {
		q.Set("full", "1")
	}
	if cmd.lookback > 0 {
		q.Set("lookback", cmd.lookback.String())
	}
	path := "/sync"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	cmd.log.Info("the daemon holds the index: asking it to run the catch-up", "pid", locked.PID, "socket", locked.Admin, "full", cmd.full)
	err = client.call(ctx, http.MethodPost, path, &stats)
	return stats, err
}

// notServed returns the first of sources that served does not list (by
// root and destination), nil when the daemon serves them all.
func notServed(sources []*local.Source, served []admin.SourceStatus) *local.Source {
	for _, src := range sources {
		if !slices.ContainsFunc(served, func(s admin.SourceStatus) bool {
			return s.Root == src.Root && s.Destination == src.Destination()
		}) {
			return src
		}
	}
	return nil
}

// daemonSourceError is a sync or verify of a source the daemon holding the
// index does not serve; fix says what to do instead.
type daemonSourceError struct {
	src      *local.Source
	pid      int
	socket   string
	indexDir string
	fix      string
}

func (e *daemonSourceError) Error() string {
	return fmt.Sprintf("index %s is held by the s3ferry daemon (pid %d, admin socket %s), which does not serve %s: %s",
		e.indexDir, e.pid, e.socket, e.src, e.fix)
}

func (e *daemonSourceError) Unwrap() error { return index.ErrLocked }

// report prints the totals and turns them into the command's result.
func (cmd syncCmd) report(stats agent.Stats, err error) error {
	if cmd.json {
		enc := json.NewEncoder(cmd.stdout)
		if jerr := enc.Encode(stats); jerr != nil && err == nil {
			err = fmt.Errorf("write totals: %w", jerr)
		}
	}
	if le := (*local.LayoutError)(nil); errors.As(err, &le) {
		return usageError{err} // nothing was done: no totals to show
	}
	msg := "sync done"
	if errors.Is(err, context.Canceled) {
		msg = "sync interrupted"
	}
	if cmd.human {
		fmt.Fprintln(cmd.stderr, syncSummary(msg, stats))
	} else {
		cmd.log.Info(msg, "scanned", stats.Scanned, "unchanged", stats.Unchanged, "uploaded", stats.Uploaded,
			"touched", stats.Touched, "deferred", stats.Deferred, "failed", stats.Failed, "pending", stats.Pending, "bytes", stats.Bytes,
			"seconds", fmt.Sprintf("%.1f", stats.Seconds))
	}
	if err != nil {
		return err
	}
	if stats.Failed > 0 {
		return errFilesFailed
	}
	if stats.Retention != nil && stats.Retention.Blocked > 0 && !cmd.dryRun {
		return errDeletesBlocked
	}
	return nil
}

// humanSummary says whether a command ends with its totals written for a
// person rather than as a log line: when its log goes to a terminal as
// text. A log read by a program (not a terminal, --log-format json) keeps
// the line.
func humanSummary(c *cli.Context, s settings) bool {
	return s.logFormat == "text" && isTerminal(c.App.ErrWriter)
}

// syncSummary is a sync's totals for a person:
//
//	sync done in 1m12s: 3 files uploaded (40.0 MiB, 3.3 MiB/s), 1,204 unchanged, 1 failed
func syncSummary(msg string, s agent.Stats) string {
	took := time.Duration(s.Seconds * float64(time.Second))
	uploaded := local.Plural(s.Uploaded, "file", "files") + " uploaded"
	if s.Uploaded > 0 {
		sent := s.Bytes - s.Kept
		detail := size(s.Bytes)
		if s.Seconds > 0 {
			detail += ", " + size(int64(float64(sent)/s.Seconds)) + "/s"
		}
		if s.Kept > 0 {
			detail += ", " + size(s.Kept) + " of it sent by an earlier run"
		}
		uploaded += " (" + detail + ")"
	}
	parts := append([]string{uploaded}, counts(
		count{s.WouldSend, "to upload (dry run)"},
		count{s.Unchanged, "unchanged"},
		count{s.Touched, "with new metadata only"},
		count{s.Deferred, "still being written, left for the next run"},
		count{s.Vanished, "deleted before they were read"},
		count{s.Failed, "failed (each is logged above)"},
		count{s.Pending, "left pending for the next run"},
	)...)
	return fmt.Sprintf("%s in %s: %s", msg, humanDuration(took), strings.Join(parts, ", "))
}

// isTerminal reports whether w is a terminal a progress display can redraw.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
