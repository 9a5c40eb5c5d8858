package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

const (
	flagPrefix   = "prefix"
	flagFrom     = "from"
	flagTo       = "to"
	flagUntil    = "until"
	flagLockRate = "rate"
)

// lockFlags are the flags of hold and retention extend besides the
// configuration's.
func lockFlags() []cli.Flag {
	return append(configFlags(),
		&cli.StringFlag{Name: flagPrefix, Usage: "only the files whose path below the source starts with `P` (e.g. 2026-12-07/agent07/)"},
		&cli.StringFlag{Name: flagFrom, Usage: "only the files of partitions from `DATE` (2006-01-02, the source's partition-layout)"},
		&cli.StringFlag{Name: flagTo, Usage: "only the files of partitions up to `DATE` (2006-01-02), that day included"},
		&cli.Float64Flag{Name: flagLockRate, Usage: "versions a second, at most", Value: bucket.DefaultLockRate},
		jsonFlag("every version and the totals"),
	)
}

func newHoldCommand() *cli.Command {
	sub := func(name, usage string, do func(context.Context, *bucket.LockRun) (bucket.LockStats, error)) *cli.Command {
		return &cli.Command{
			Name:      name,
			Usage:     usage,
			ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
			Flags:     lockFlags(),
			Action: func(c *cli.Context) error {
				cmd, err := newLockCmd(c, "hold "+name)
				if err != nil {
					return err
				}
				return cmd.run(c.Context, do)
			},
		}
	}
	return &cli.Command{
		Name:  "hold",
		Usage: "put, remove or list legal holds on the versions s3ferry recorded for a date range",
		Description: `A legal hold keeps a version from deletion, whatever its retention, until it
is removed (s3:PutObjectLegalHold). hold works on the version the index
records for each file of the range (--prefix, --from, --to): never on
versions s3ferry did not write. It is resumable: a version already as
wanted is not asked again, so an interrupted run is finished by running it
again. It prints the counts, and exits 3 when some versions failed. The
bucket must have Object Lock; stop the daemon first (it holds the index).

Examples:
 1. s3ferry hold set --config /etc/s3ferry/s3ferry.yml --from 2026-11-01 --to 2026-11-30
 2. s3ferry hold clear --config /etc/s3ferry/s3ferry.yml --prefix 2026-11-03/agent07/
 3. s3ferry hold list --config /etc/s3ferry/s3ferry.yml --from 2026-11-01 --to 2026-11-30 --json`,
		Subcommands: []*cli.Command{
			sub("set", "put a legal hold on the recorded versions of the range", func(ctx context.Context, r *bucket.LockRun) (bucket.LockStats, error) {
				return r.Hold(ctx, true)
			}),
			sub("clear", "remove the legal hold of the recorded versions of the range", func(ctx context.Context, r *bucket.LockRun) (bucket.LockStats, error) {
				return r.Hold(ctx, false)
			}),
			sub("list", "print the retention and legal hold of the recorded versions of the range", func(ctx context.Context, r *bucket.LockRun) (bucket.LockStats, error) {
				return r.List(ctx)
			}),
		},
	}
}

func newExtendCommand() *cli.Command {
	return &cli.Command{
		Name:      "extend",
		Usage:     "lengthen the Object Lock retention of the recorded versions of a range; never shortens",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Sets the retention of each version the index records for the files of the
range (--prefix, --from, --to) to --until, where it ends earlier: a
retention that ends later is left alone, so extend never shortens (S3
refuses to shorten a COMPLIANCE retention to anyone). A version without a
retention gets the source's object-lock mode. Resumable; prints the counts,
and exits 3 when some versions failed.

Examples:
 1. s3ferry retention extend --config /etc/s3ferry/s3ferry.yml --until 2036-01-01 --from 2026-11-01 --to 2026-11-30`,
		Flags: append(lockFlags(), &cli.StringFlag{Name: flagUntil, Usage: "retain until `DATE` (2006-01-02, UTC midnight, or RFC 3339)", Required: true}),
		Action: func(c *cli.Context) error {
			cmd, err := newLockCmd(c, "retention extend")
			if err != nil {
				return err
			}
			until, err := parseUntil(c.String(flagUntil))
			if err != nil {
				return usageError{err}
			}
			if !until.After(time.Now()) {
				return usageError{fmt.Errorf("--%s %s is not in the future", flagUntil, c.String(flagUntil))}
			}
			return cmd.run(c.Context, func(ctx context.Context, r *bucket.LockRun) (bucket.LockStats, error) {
				return r.Extend(ctx, until)
			})
		},
	}
}

// lockCmd is `s3ferry hold ...` and `s3ferry retention extend`.
type lockCmd struct {
	settings
	name     string
	prefix   string
	from, to time.Time
	rate     float64
	json     bool
	log      *slog.Logger
	stdout   io.Writer
}

func newLockCmd(c *cli.Context, name string) (lockCmd, error) {
	s, log, err := loadCommand(c, false)
	if err != nil {
		return lockCmd{}, err
	}
	cmd := lockCmd{settings: s, name: name, prefix: c.String(flagPrefix), rate: c.Float64(flagLockRate),
		json: c.Bool(flagJSON), log: log, stdout: c.App.Writer}
	for flag, t := range map[string]*time.Time{flagFrom: &cmd.from, flagTo: &cmd.to} {
		if v := c.String(flag); v != "" {
			d, err := time.ParseInLocation("2006-01-02", v, time.Local)
			if err != nil {
				return lockCmd{}, usageError{fmt.Errorf("--%s %q: want a date such as 2026-12-07", flag, v)}
			}
			*t = d
		}
	}
	if !cmd.to.IsZero() {
		cmd.to = cmd.to.AddDate(0, 0, 1) // the day included
	}
	if (!cmd.from.IsZero() || !cmd.to.IsZero()) && !hasLayouts(s) {
		return lockCmd{}, usageError{fmt.Errorf("--%s and --%s need the source's partition-layout", flagFrom, flagTo)}
	}
	return cmd, nil
}

func hasLayouts(s settings) bool {
	for _, src := range s.sources {
		if src.Layout.IsZero() {
			return false
		}
	}
	return len(s.sources) > 0
}

// parseUntil reads a date (UTC midnight) or an RFC 3339 time.
func parseUntil(v string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a date such as 2033-12-31 or an RFC 3339 time", flagUntil, v)
}

func (cmd lockCmd) run(ctx context.Context, do func(context.Context, *bucket.LockRun) (bucket.LockStats, error)) error {
	if err := requireIndex(cmd.indexDir); err != nil {
		return err
	}
	idx, err := openIndexWith(cmd.indexDir, index.Options{Logger: cmd.log})
	if err != nil {
		return err
	}
	defer idx.Close()
	client, _, err := openBucket(ctx, cmd.settings)
	if err != nil {
		return err
	}
	var items []bucket.LockItem
	r := &bucket.LockRun{Sources: cmd.sources, Index: idx, Open: client.Bucket, Prefix: cmd.prefix, From: cmd.from, To: cmd.to,
		Rate: cmd.rate, Logger: cmd.log,
		Each: func(it bucket.LockItem) {
			if cmd.json {
				items = append(items, it)
				return
			}
			if cmd.name == "hold list" || it.Outcome == "failed" {
				fmt.Fprintln(cmd.stdout, lockLine(it))
			}
		}}
	st, err := do(ctx, r)
	if cmd.json {
		out := struct {
			Versions []bucket.LockItem `json:"versions"`
			bucket.LockStats
		}{items, st}
		if jerr := json.NewEncoder(cmd.stdout).Encode(out); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		fmt.Fprintf(cmd.stdout, "%s: %d versions, %d changed, %d already so, %d failed\n", cmd.name, st.Versions, st.Changed, st.Already, st.Failed)
	}
	if errors.Is(err, bucket.ErrLockFailed) {
		return fmt.Errorf("%w: %w", errFilesFailed, err)
	}
	return err
}

// lockLine is one version as hold list prints it.
func lockLine(it bucket.LockItem) string {
	s := it.State
	retention := "no retention"
	if !s.Lock.IsZero() {
		retention = fmt.Sprintf("%s until %s", s.Mode, s.RetainUntil.UTC().Format(time.RFC3339))
	}
	hold := "no legal hold"
	if s.LegalHold {
		hold = "legal hold"
	}
	line := fmt.Sprintf("%s version %s: %s, %s", local.Printable(it.Key), it.VersionID, retention, hold)
	if it.Err != "" {
		line += ": failed: " + it.Err
	}
	return line
}
