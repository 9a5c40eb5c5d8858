package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

func newRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "write the files of a destination as they were at a point in time",
		ArgsUsage: "[s3://BUCKET/PREFIX/ | SRC s3://BUCKET/PREFIX/]",
		Description: `Reads the bucket's version history and writes, below --to, every file as it
was at --at: the version current then, so a file overwritten later comes
back with its old content, a file deleted later comes back, and a file
created later does not appear. Downloads run in parallel, are verified
(S3 checksum, s3ferry's xxhash64, or the MD5 ETag) and appear only once
complete, with the mtime the file had. An existing file is never replaced
without --overwrite; restoring into the source tree itself also needs it.

The bucket's word is not trusted. --to is opened once, through no symbolic
link, and refused below a directory another user owns or may write
(--allow-shared-parent accepts it); a missing --to is created 0700. Files
are written 0600 and directories 0700 until each has its final mode.
setuid, setgid and write for others are removed from what the bucket
records (--keep-special-bits keeps them). Keys s3ferry does not write
(a//b, a/./b, a/../b) are refused, and mtimes past 2262 ignored.

--at takes RFC 3339 (2026-11-22T08:00:00+01:00), a date (2026-11-22, local
midnight) or a time back from now (-24h, -2d); without it, the current versions.

Examples:
 1. Yesterday's state of one day's recordings, into a scratch directory:
    s3ferry restore s3://call-recording-backup/recordings/ --prefix 2026-11-21/ \
        --at -24h --to /srv/restore
 2. Everything of the configured source as of a moment:
    s3ferry restore --config /etc/s3ferry/s3ferry.yml --at 2026-11-22T08:00:00Z --to /srv/restore
 3. Roll one file in the source tree back (replaces it):
    s3ferry restore /home/archive/RECORDINGS s3://call-recording-backup/recordings/ \
        --prefix 2026-11-22/agent07/call-1.wav --at -2h --to /home/archive/RECORDINGS --overwrite`,
		Flags: append(configFlags(),
			&cli.PathFlag{Name: "to", Usage: "directory to write the files into (created if needed); required"},
			&cli.StringFlag{Name: "at", Usage: "point in `TIME` to restore: RFC 3339, a date, or -DURATION back from now (default: now)"},
			&cli.StringFlag{Name: "prefix", Usage: "restore only paths starting with `P` (relative to the destination)"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace existing files; needed to restore into the source tree"},
			&cli.BoolFlag{Name: "keep-special-bits", Usage: "restore setuid, setgid and world-write as the bucket records them (default: removed)"},
			&cli.BoolFlag{Name: "allow-shared-parent", Usage: "accept a --to below a directory another user owns or may write"},
			&cli.BoolFlag{Name: "no-progress", Usage: "no progress display, even on a terminal"},
			listWorkersFlag(),
			jsonFlag("the totals"),
		),
		Action: func(c *cli.Context) error {
			if c.Path("to") == "" {
				return usageError{fmt.Errorf("--to DIR is required: the directory to write the restored files into")}
			}
			s, log, err := loadCommand(c, true)
			if err != nil {
				return err
			}
			bar, log, err := progressFor(c, s, log)
			if err != nil {
				return err
			}
			if len(s.sources) != 1 {
				return usageError{fmt.Errorf("the configuration has %d sources: restore one at a time, given as s3://BUCKET/PREFIX/", len(s.sources))}
			}
			at := time.Time{}
			if v := c.String("at"); v != "" {
				if at, err = parseTime(v, time.Now(), time.Local); err != nil {
					return usageError{fmt.Errorf("--at: %w", err)}
				}
			}
			to, err := filepath.Abs(c.Path("to"))
			if err != nil {
				return usageError{fmt.Errorf("--to %s: %w", c.Path("to"), err)}
			}
			src := s.sources[0]
			if src.Root != "" && !c.Bool("overwrite") && inside(realPath(to), realPath(src.Root)) {
				return usageError{fmt.Errorf("--to %s is in the source tree %s: restoring there replaces files s3ferry backs up; add --overwrite if that is what you want", to, src.Root)}
			}
			under := c.String("prefix")
			if strings.HasPrefix(under, "/") {
				return usageError{fmt.Errorf("--prefix %q starts with /: give it relative to the destination, like 2026-11-22/", under)}
			}
			return restoreCmd{
				settings:    s,
				src:         src,
				at:          at,
				to:          to,
				under:       under,
				overwrite:   c.Bool("overwrite"),
				keepSpecial: c.Bool("keep-special-bits"),
				allowShared: c.Bool("allow-shared-parent"),
				json:        c.Bool(flagJSON),
				bar:         bar,
				listWorkers: c.Int(flagListWorkers),
				log:         log,
				stdout:      c.App.Writer,
				stderr:      c.App.ErrWriter,
			}.Run(c.Context)
		},
	}
}

// restoreCmd is `s3ferry restore` with its flags turned into plain values.
type restoreCmd struct {
	settings
	src                      *local.Source
	at                       time.Time
	to, under                string
	overwrite, json          bool
	bar                      *progress // the display on a terminal; nil: none
	keepSpecial, allowShared bool
	listWorkers              int
	log                      *slog.Logger
	stdout, stderr           io.Writer
}

func (cmd restoreCmd) Run(ctx context.Context) error {
	client, _, err := openBucket(ctx, cmd.settings)
	if err != nil {
		return err
	}
	open := client.Bucket
	r := &bucket.Restore{
		Bucket:            open(cmd.src.Bucket),
		Prefix:            cmd.src.Prefix,
		Under:             cmd.under,
		At:                cmd.at,
		To:                cmd.to,
		Overwrite:         cmd.overwrite,
		KeepSpecialBits:   cmd.keepSpecial,
		AllowSharedParent: cmd.allowShared,
		Pool: agent.PoolOptions{
			Workers: cmd.workers, Auto: cmd.autoWorkers, MaxWorkers: cmd.maxWorkers,
			Throttled: func() int64 { return client.Counters().Throttled },
		},
		Download:    cmd.download.parts,
		Memory:      cmd.download.memory,
		ListWorkers: cmd.listWorkers,
		Depth:       cmd.src.Layout.Depth(),
		Logger:      cmd.log,
	}
	if cmd.bar != nil {
		r.Transfers = cmd.bar.tr
		r.Progress = func(s bucket.RestoreStats) { cmd.bar.draw(restoreCounts(s)) }
	}
	when := "now"
	if !cmd.at.IsZero() {
		when = cmd.at.Format(time.RFC3339)
	}
	cmd.log.Info("restoring", "from", "s3://"+cmd.src.Bucket+"/"+cmd.src.Prefix+cmd.under, "at", when, "to", cmd.to)
	st, err := r.Run(ctx)
	if cmd.bar != nil {
		cmd.bar.finish() // cleared for good: the summary stands alone
	}
	switch {
	case errors.Is(err, beneath.ErrSharedParent):
		return usageError{fmt.Errorf("%w; if you trust it, add --allow-shared-parent", err)}
	case errors.Is(err, beneath.ErrSymlink):
		return usageError{fmt.Errorf("%w: give --to as a path with no symbolic link", err)}
	case err != nil:
		return err
	}
	err = show(cmd.stdout, cmd.json, st, func(w io.Writer) {
		fmt.Fprintln(w, restoreSummary(st, when, cmd.to))
		if st.Untrusted > 0 {
			fmt.Fprintf(w, "%d keys not restored: the endpoint's version timestamps cannot be trusted for them (each is logged with what to do)\n", st.Untrusted)
		}
		if st.Sanitized > 0 {
			fmt.Fprintf(w, "removed setuid, setgid or write for others from %d files and directories, as the bucket's metadata is not trusted (--keep-special-bits keeps them)\n", st.Sanitized)
		}
	})
	if err != nil {
		return err
	}
	if st.Failed > 0 || st.Untrusted > 0 {
		return errFilesFailed
	}
	return nil
}

// restoreCounts is what a restore's display adds to the transfers.
func restoreCounts(s bucket.RestoreStats) string {
	return strings.Join(counts(count{s.Existing, "exist"}, count{s.Failed, "failed"}), ", ")
}

// restoreSummary is a restore's totals for a person:
//
//	restored 3 files (1.8 MiB, 2.1 MiB/s) as of now into /srv/restore in 0.9s; 1 left alone (...)
func restoreSummary(st bucket.RestoreStats, when, to string) string {
	took := time.Duration(st.Seconds * float64(time.Second))
	detail := size(st.Bytes)
	if st.Seconds > 0 && st.Bytes > 0 {
		detail += ", " + size(int64(float64(st.Bytes)/st.Seconds)) + "/s"
	}
	s := fmt.Sprintf("restored %s (%s) as of %s into %s in %s", local.Plural(st.Restored, "file", "files"), detail, when, local.Printable(to), humanDuration(took))
	more := counts(
		count{st.Existing, "left alone (they exist; --overwrite replaces them)"},
		count{st.Deleted, "deleted then"},
		count{st.Later, "created later"},
		count{st.Failed, "failed (each is logged)"},
		count{st.Leftovers, "temporary files of a killed restore removed"},
	)
	if len(more) > 0 {
		s += "; " + strings.Join(more, ", ")
	}
	return s
}

// realPath resolves links in p as far as it exists, so a link cannot hide
// that two paths are the same directory.
func realPath(p string) string {
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
