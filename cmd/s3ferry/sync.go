package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/index"
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
    s3ferry sync ./data s3://backup/ --endpoint-url http://127.0.0.1:9000 --path-style`,
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "full", Usage: "walk every source's whole tree, not only recent partitions"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list what would be uploaded; change nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print the totals as one JSON object at the end"},
			&cli.BoolFlag{Name: "no-progress", Usage: "no progress display, even on a terminal"},
		),
		Action: func(c *cli.Context) error {
			s, log, err := loadCommand(c, false)
			if err != nil {
				return err
			}
			if err := checkRoots(s.sources); err != nil {
				return usageError{err}
			}
			progress := !c.Bool("no-progress") && !c.Bool("json") && isTerminal(c.App.ErrWriter)
			return syncCmd{
				settings: s,
				full:     c.Bool("full"),
				dryRun:   c.Bool("dry-run"),
				json:     c.Bool("json"),
				progress: progress,
				log:      log,
				stdout:   c.App.Writer,
				stderr:   c.App.ErrWriter,
			}.Run(c.Context)
		},
	}
}

// syncCmd is `s3ferry sync` with its flags turned into plain values.
type syncCmd struct {
	settings
	full, dryRun, json, progress bool
	log                          *slog.Logger
	stdout, stderr               io.Writer
}

func (cmd syncCmd) Run(ctx context.Context) error {
	env, err := openEnv(ctx, cmd.settings, cmd.log)
	if errors.Is(err, index.ErrLocked) && !cmd.dryRun {
		// The daemon holds the index: ask it to do the catch-up.
		stats, derr := cmd.viaDaemon(ctx)
		if derr == nil {
			return cmd.report(stats, nil)
		}
		if !errors.Is(derr, errNoDaemon) {
			return derr
		}
	}
	if err != nil {
		return err
	}
	defer env.Close()
	warnUnversioned(ctx, env.open, cmd.sources, cmd.log)
	sync := &agent.Sync{
		Sources:  cmd.sources,
		Index:    env.index,
		Uploader: env.uploader,
		Full:     cmd.full,
		Adopt:    adoptFirstRun(env, cmd.settings, cmd.log),
		Options: agent.Options{
			Workers:   cmd.workers,
			Settle:    cmd.settle,
			DryRun:    cmd.dryRun,
			DryRunOut: cmd.stdout,
			Logger:    cmd.log,
		},
	}
	finish := func() {}
	if cmd.progress {
		bar := newProgress(cmd.stderr)
		sync.Progress, finish = bar.update, bar.finish
	}
	stats, err := sync.Run(ctx)
	finish() // the bar ends before the summary line, so the two do not mix
	return cmd.report(stats, err)
}

// viaDaemon runs the catch-up in the daemon that holds the index and waits
// for it.
func (cmd syncCmd) viaDaemon(ctx context.Context) (agent.Stats, error) {
	var stats agent.Stats
	base, err := daemonURL(cmd.settings)
	if err != nil {
		return stats, err
	}
	url := base + "/sync"
	if cmd.full {
		url += "?full=1"
	}
	cmd.log.Info("the daemon holds the index: asking it to run the catch-up", "daemon", base, "full", cmd.full)
	err = callDaemon(ctx, http.MethodPost, url, &stats)
	return stats, err
}

// report prints the totals and turns them into the command's result.
func (cmd syncCmd) report(stats agent.Stats, err error) error {
	if cmd.json {
		enc := json.NewEncoder(cmd.stdout)
		if jerr := enc.Encode(stats); jerr != nil && err == nil {
			err = fmt.Errorf("write totals: %w", jerr)
		}
	}
	cmd.log.Info("sync done", "scanned", stats.Scanned, "unchanged", stats.Unchanged, "uploaded", stats.Uploaded,
		"touched", stats.Touched, "deferred", stats.Deferred, "failed", stats.Failed, "bytes", stats.Bytes,
		"seconds", fmt.Sprintf("%.1f", stats.Seconds))
	if err != nil {
		return err
	}
	if stats.Failed > 0 {
		return errFilesFailed
	}
	return nil
}

// isTerminal reports whether w is a terminal a progress display can redraw.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
