package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/index"
)

func newStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show what the daemon is doing, or what the index knows when none runs",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Asks the running daemon (found through the admin address it writes into the
index directory, or admin.listen) for its state: per source the watched
directories, files pending, the last upload and error, upload rate. With no
daemon running it reads the index directly.

Examples:
 1. s3ferry status --config /etc/s3ferry/s3ferry.yml
 2. s3ferry status --config /etc/s3ferry/s3ferry.yml --json | jq .sources`,
		Flags: append(configFlags(),
			&cli.StringFlag{Name: flagAdminListen, Usage: "the daemon's admin endpoint `ADDR` (default: from the index directory, then the config)"},
			&cli.BoolFlag{Name: "json", Usage: "print the state as JSON"},
		),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c)
			if err != nil {
				return usageError{err}
			}
			return statusCmd{settings: s, json: c.Bool("json"), stdout: c.App.Writer}.Run(c.Context)
		},
	}
}

// statusCmd is `s3ferry status` with its flags turned into plain values.
type statusCmd struct {
	settings
	json   bool
	stdout io.Writer
}

func (cmd statusCmd) Run(ctx context.Context) error {
	st, err := daemonStatus(ctx, cmd.settings)
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

func (cmd statusCmd) fromIndex() (agent.Status, error) {
	idx, err := openIndex(cmd.indexDir, nil)
	if err != nil {
		if errors.Is(err, index.ErrLocked) {
			return agent.Status{}, fmt.Errorf("%w; its admin endpoint does not answer (is admin.listen off?)", err)
		}
		return agent.Status{}, err
	}
	defer idx.Close()
	return agent.IndexStatus(idx, cmd.sources)
}

func printStatus(w io.Writer, st agent.Status, now time.Time) {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return humanize.RelTime(t, now, "ago", "from now")
	}
	if st.Daemon {
		health := "healthy"
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
			fmt.Fprintf(w, "the endpoint has been failing since %s: uploads wait while it is probed\n", ago(st.EndpointDownSince))
		}
		for kind, r := range st.Rescans {
			fmt.Fprintf(w, "last %s rescan %s: %d files in %.1f s\n", kind, ago(r.At), r.Scanned, r.Seconds)
		}
	} else {
		fmt.Fprintln(w, "no daemon running; from the index:")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range st.Sources {
		fmt.Fprintf(tw, "\n%s -> %s\n", s.Root, s.Destination)
		fmt.Fprintf(tw, "  files recorded\t%s\n", humanize.Comma(s.Records))
		fmt.Fprintf(tw, "  pending\t%s\n", humanize.Comma(s.Pending))
		fmt.Fprintf(tw, "  last full walk\t%s\n", ago(s.LastFullWalk))
		if st.Daemon {
			fmt.Fprintf(tw, "  watched directories\t%d\n", s.WatchedDirs)
			fmt.Fprintf(tw, "  last upload\t%s (%d in the last minute)\n", ago(s.LastUpload), s.UploadsPerMinute)
			if s.LastError != "" {
				fmt.Fprintf(tw, "  last error\t%s: %s\n", ago(s.LastErrorAt), s.LastError)
			}
		}
	}
	tw.Flush()
}

// errNoDaemon means no daemon answered at the admin address.
var errNoDaemon = errors.New("no daemon running")

// daemonURL finds the running daemon's admin endpoint: the address it wrote
// into the index directory, else the configured one.
func daemonURL(s settings) (string, error) {
	addr := s.admin
	if b, err := os.ReadFile(adminAddrFile(s.indexDir)); err == nil {
		addr = strings.TrimSpace(string(b))
	}
	if addr == "" {
		return "", errNoDaemon
	}
	return "http://" + addr, nil
}

// daemonStatus asks the daemon for its status.
func daemonStatus(ctx context.Context, s settings) (agent.Status, error) {
	var st agent.Status
	base, err := daemonURL(s)
	if err != nil {
		return st, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = callDaemon(ctx, http.MethodGet, base+"/status", &st)
	return st, err
}

// callDaemon sends one request to the admin endpoint and decodes the JSON
// answer into out. A daemon that does not answer is errNoDaemon.
func callDaemon(ctx context.Context, method, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errNoDaemon
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon at %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read daemon answer from %s: %w", url, err)
	}
	return nil
}
