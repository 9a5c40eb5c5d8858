package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

func newManifestCommand() *cli.Command {
	return &cli.Command{
		Name:      "manifest",
		Usage:     "write an S3 Batch Operations manifest of the uploaded objects, to seed a replica",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/ | s3://BUCKET/PREFIX/]",
		Description: `Writes a CSV manifest (bucket,key,versionId; keys URL-encoded) of the objects
the index records as uploaded, from the index alone. Replication copies only
objects written after it was turned on; an S3 Batch Replication job with
this manifest copies the ones written before (docs/bucket.md: "Seeding a replica").
--before keeps only objects uploaded before a time, e.g. when replication
was enabled. --replication-failed lists instead the versions whose replication
FAILED and that s3ferry could not upload again (their files gone or changed
since): a Batch Replication job with it retries them.

Examples:
 1. Every object of the configured sources (one bucket):
    s3ferry manifest --config /etc/s3ferry/s3ferry.yml --out manifest.csv
 2. Only what was uploaded before replication was turned on:
    s3ferry manifest s3://call-recording-backup/recordings/ --config /etc/s3ferry/s3ferry.yml \
        --before 2026-11-22T08:00:00Z --out manifest.csv
 3. The versions whose replication failed for good (doctor and /healthz say when):
    s3ferry manifest --config /etc/s3ferry/s3ferry.yml --replication-failed --out failed.csv`,
		Flags: append(configFlags(),
			&cli.PathFlag{Name: "out", Usage: "manifest `FILE` to write (- for standard output); required"},
			&cli.StringFlag{Name: "before", Usage: "only objects uploaded before `TIME`: RFC 3339, a date, or -DURATION back from now"},
			&cli.BoolFlag{Name: "replication-failed", Usage: "only the versions whose replication FAILED and that could not be uploaded again"},
			jsonFlag("the totals (not with --out -)"),
		),
		Action: func(c *cli.Context) error {
			if c.Path("out") == "" {
				return usageError{fmt.Errorf("--out FILE is required: where to write the manifest (- for standard output)")}
			}
			s, log, err := loadCommand(c, true)
			if err != nil {
				return err
			}
			if err := withRoots(s.sources); err != nil {
				return err
			}
			var before time.Time
			if v := c.String("before"); v != "" {
				if before, err = parseTime(v, time.Now(), time.Local); err != nil {
					return usageError{fmt.Errorf("--before: %w", err)}
				}
			}
			out := c.Path("out")
			if out == "-" && c.Bool(flagJSON) {
				return usageError{fmt.Errorf("--json prints to standard output, where --out - writes the manifest: give --out a file")}
			}
			return manifestCmd{settings: s, out: out, before: before, failed: c.Bool("replication-failed"), json: c.Bool(flagJSON), log: log, stdout: c.App.Writer}.Run(c.Context)
		},
	}
}

// manifestCmd is `s3ferry manifest` with its flags turned into plain values.
type manifestCmd struct {
	settings
	out    string
	before time.Time
	failed bool
	json   bool
	log    *slog.Logger
	stdout io.Writer
}

func (cmd manifestCmd) Run(ctx context.Context) error {
	idx, err := openExistingIndex(cmd.indexDir, cmd.command, cmd.log)
	if err != nil {
		return err
	}
	defer idx.Close()
	m := &bucket.Manifest{Sources: cmd.sources, Index: idx, Before: cmd.before, ReplicationFailed: cmd.failed}
	var st bucket.ManifestStats
	if cmd.out == "-" {
		m.Out = cmd.stdout
		st, err = m.Run(ctx)
	} else {
		st, err = cmd.writeFile(ctx, m)
	}
	if err != nil {
		return err
	}
	cmd.log.Info("manifest written", "file", cmd.out, "bucket", st.Bucket, "objects", st.Objects, "left_out_later", st.Later)
	return show(cmd.stdout, cmd.json, st, func(io.Writer) {})
}

// writeFile writes the manifest to a temporary file beside cmd.out and
// renames it, so cmd.out is never a partial manifest.
func (cmd manifestCmd) writeFile(ctx context.Context, m *bucket.Manifest) (bucket.ManifestStats, error) {
	f, err := os.CreateTemp(filepath.Dir(cmd.out), ".s3ferry-manifest-*")
	if err != nil {
		return bucket.ManifestStats{}, fmt.Errorf("write manifest: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename there is nothing left to remove
	defer f.Close()
	m.Out = f
	st, err := m.Run(ctx)
	if err != nil {
		return st, err
	}
	if err := f.Chmod(0o644); err != nil {
		return st, fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Close(); err != nil {
		return st, fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(f.Name(), cmd.out); err != nil {
		return st, fmt.Errorf("write manifest: %w", err)
	}
	return st, nil
}
