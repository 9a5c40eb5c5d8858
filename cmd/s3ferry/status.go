package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

func newStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show what the daemon is doing, or what the index knows when none runs",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Asks the daemon holding the index for its state, through the admin socket
the index's lock file names (never over TCP): per source the watched
directories, files pending, the last upload and error, upload rate. With no
daemon running it reads the index directly. With no source (no SRC DEST and
no --config) it lists every source the index knows.

Examples:
 1. s3ferry status --config /etc/s3ferry/s3ferry.yml
 2. s3ferry status --config /etc/s3ferry/s3ferry.yml --json | jq .sources
 3. Every source an index holds, daemon or not:
    s3ferry status --index-dir /var/lib/s3ferry`,
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "json", Usage: "print the state as JSON"},
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c)
			all := errors.Is(err, errNoSource)
			if err != nil && !all {
				return usageError{err}
			}
			return statusCmd{settings: s, all: all, json: c.Bool("json"), stdout: c.App.Writer}.Run(c.Context)
		},
	}
}

// statusCmd is `s3ferry status` with its flags turned into plain values.
type statusCmd struct {
	settings
	all    bool // no source given: every source the index knows
	json   bool
	stdout io.Writer
}

func (cmd statusCmd) Run(ctx context.Context) error {
	st, err := daemonStatus(ctx, cmd.indexDir)
	if errors.Is(err, errNoDaemon) {
		st, err = cmd.fromIndex()
	}
	if err != nil {
		return err
	}
	if cmd.json {
		enc := json.NewEncoder(cmd.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(cmd.stdout, st, time.Now())
	return nil
}

func (cmd statusCmd) fromIndex() (admin.Status, error) {
	idx, err := openExistingIndex(cmd.indexDir, cmd.command, nil)
	if err != nil {
		if locked := (*index.LockedError)(nil); errors.As(err, &locked) {
			return admin.Status{}, heldError(locked)
		}
		return admin.Status{}, err
	}
	defer idx.Close()
	if cmd.all {
		return admin.KnownStatus(idx)
	}
	return admin.IndexStatus(idx, cmd.sources)
}

func printStatus(w io.Writer, st admin.Status, now time.Time) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return humanize.RelTime(t, now, "ago", "from now")
	}
	if st.Daemon {
		health := "healthy"
		if strings.HasPrefix(st.Health, "warning") {
			health = "healthy, " + st.Health
		}
		if !st.Healthy {
			health = "UNHEALTHY: " + st.Health
		}
		fmt.Fprintf(w, "daemon pid %d, %s, started %s, %s\n", st.PID, st.Version, ago(st.Started), health)
		fmt.Fprintf(w, "watching %d directories", st.WatchedDirs)
		if st.WatchLimitReached {
			fmt.Fprint(w, " (inotify watch limit reached: raise fs.inotify.max_user_watches)")
		}
		fmt.Fprintf(w, "; %d uploads in flight (%s); %d uploaded (%s) since start; %d failed; %d watch overflows\n",
			st.InFlight, humanize.IBytes(uint64(st.PendingBytes)), st.Totals.Uploaded, humanize.IBytes(uint64(st.Totals.Bytes)), st.Totals.Failed, st.Overflows)
		if st.Stuck > 0 || !st.OldestInFlight.IsZero() {
			fmt.Fprintf(w, "oldest upload in flight queued %s; %d stuck\n", ago(st.OldestInFlight), st.Stuck)
		}
		if !st.EndpointDownSince.IsZero() {
			why := ""
			if st.EndpointError != "" {
				why = " (" + local.Printable(st.EndpointError) + ")"
			}
			fmt.Fprintf(w, "the endpoint has been failing since %s%s: uploads wait while it is probed\n", ago(st.EndpointDownSince), why)
		}
		for kind, r := range st.Rescans {
			fmt.Fprintf(w, "last %s rescan %s: %d files in %.1f s\n", kind, ago(r.At), r.Scanned, r.Seconds)
		}
		if r := st.ReadCheck; r != nil {
			printReadCheck(w, r, ago)
		}
	} else {
		fmt.Fprintln(w, "no daemon running; from the index:")
		if len(st.Sources) == 0 {
			fmt.Fprintln(w, "no source yet: s3ferry sync or s3ferry run records its sources here")
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range st.Sources {
		fmt.Fprintf(tw, "\n%s -> %s\n", local.Printable(s.Root), local.Printable(s.Destination))
		fmt.Fprintf(tw, "  files recorded\t%s\n", humanize.Comma(s.Records))
		fmt.Fprintf(tw, "  pending\t%s\n", humanize.Comma(s.Pending))
		fmt.Fprintf(tw, "  to retry\t%s\n", humanize.Comma(s.Retry))
		fmt.Fprintf(tw, "  last full walk\t%s\n", ago(s.LastFullWalk))
		if r := s.Replication; r != nil {
			oldest := ""
			if r.Pending > 0 {
				oldest = " (the oldest uploaded " + ago(r.OldestPending) + ")"
			}
			fmt.Fprintf(tw, "  not yet replicated\t%s%s\n", humanize.Comma(r.Pending), oldest)
			if r.Failed > 0 {
				fmt.Fprintf(tw, "  REPLICATION FAILED\t%s versions whose files are gone or changed: s3ferry manifest --replication-failed\n", humanize.Comma(r.Failed))
			}
		}
		if !s.NextFullWalk.IsZero() {
			fmt.Fprintf(tw, "  next full walk\t%s\n", ago(s.NextFullWalk))
		}
		if s.RescanError != "" {
			fmt.Fprintf(tw, "  RESCANS FAILING\t%s\n", local.Printable(s.RescanError))
		}
		if st.Daemon {
			fmt.Fprintf(tw, "  watched directories\t%d\n", s.WatchedDirs)
			fmt.Fprintf(tw, "  last upload\t%s (%d in the last minute)\n", ago(s.LastUpload), s.UploadsPerMinute)
			if s.LastError != "" {
				fmt.Fprintf(tw, "  last error\t%s: %s\n", ago(s.LastErrorAt), local.Printable(s.LastError))
			}
		}
	}
	tw.Flush()
}

// printReadCheck writes where the daemon's restore drills stand.
func printReadCheck(w io.Writer, r *admin.ReadCheckStatus, ago func(time.Time) string) {
	fmt.Fprintf(w, "restore drill (%s every %s): last clean %s", r.Sample, time.Duration(r.Interval*float64(time.Second)), ago(r.LastSuccess))
	switch {
	case r.Running && r.LastEnded.IsZero():
		fmt.Fprint(w, "; the first is running")
	case !r.LastEnded.IsZero():
		fmt.Fprintf(w, "; the last ended %s: %d versions read (%s), %d corrupt, %d gone, %d unreadable",
			ago(r.LastEnded), r.Objects, humanize.IBytes(uint64(r.Bytes)), r.Corrupt, r.Missing, r.Unreadable)
	}
	fmt.Fprintln(w)
	if r.Error != "" {
		fmt.Fprintf(w, "  LAST DRILL STOPPED: %s\n", local.Printable(r.Error))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %-16s %s: %s\n", p.Kind, local.Printable(filepath.Join(p.Root, p.Path)), local.Printable(p.Detail))
	}
}

// errNoDaemon means no daemon answered on the admin socket of the index's
// holder (or nothing holds the index).
var errNoDaemon = errors.New("no daemon running")

// daemonStatus asks the daemon holding the index in indexDir for its
// status.
func daemonStatus(ctx context.Context, indexDir string) (admin.Status, error) {
	client, err := newDaemonClient(index.ReadHolder(indexDir))
	if err != nil {
		return admin.Status{}, err
	}
	return client.status(ctx)
}

// status asks the daemon for its status.
func (c daemonClient) status(ctx context.Context) (admin.Status, error) {
	var st admin.Status
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.call(ctx, http.MethodGet, "/status", &st)
	return st, err
}
