package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
)

func newDoctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check that the backup can work and that the bucket keeps it safe",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/ | s3://BUCKET/PREFIX/]",
		Description: `Checks, each reported as ok, info, warning or error with its fix: the
credentials; the bucket exists and answers; write access (a probe object
that is deleted again); versioning (an error if off: an overwrite would
destroy the backup); a replication rule covering the prefix; a lifecycle
rule that aborts incomplete multipart uploads; noncurrent-version
expiration and Object Lock (info); the clock against the server's; the
source directories, the index directory, and the inotify limit against the
directories run watches. Exits 5 when any check is an error.

With --probe, doctor also tests what the endpoint does, once per bucket,
below PREFIX.s3ferry-doctor/: a Put with the configured checksum (and under
Object Lock), an overwrite and the version history restore --at relies on,
a two-part multipart upload (ListParts' part checksums, and a completion as
a resumed upload sends it). It writes about 5 MiB and deletes every version
again (s3:DeleteObjectVersion), saying what stays when it cannot; a replica
keeps its copies.

Examples:
 1. Check everything the configuration uses:
    s3ferry doctor --config /etc/s3ferry/s3ferry.yml
 2. Check a destination before the first sync:
    s3ferry doctor /home/archive/RECORDINGS s3://call-recording-backup/recordings/
 3. Only the bucket side, for monitoring, as JSON:
    s3ferry doctor s3://call-recording-backup/recordings/ --json
 4. Test a new S3-compatible endpoint before trusting it:
    s3ferry doctor s3://backup/recordings/ --endpoint-url https://s3.example.net --probe`,
		Flags: append(configFlags(), jsonFlag("the checks"),
			&cli.BoolFlag{Name: flagProbe, Usage: "also write, read back and delete probe objects to test what the endpoint can do (about 5 MiB)"}),
		Action: func(c *cli.Context) error {
			s, _, err := loadCommand(c, true)
			if err != nil {
				return err
			}
			return doctorCmd{settings: s, json: c.Bool(flagJSON), probe: c.Bool(flagProbe), stdout: c.App.Writer}.Run(c.Context)
		},
	}
}

// doctorCmd is `s3ferry doctor` with its flags turned into plain values.
type doctorCmd struct {
	settings
	json   bool
	probe  bool
	stdout io.Writer
}

const flagProbe = "probe"

func (cmd doctorCmd) Run(ctx context.Context) error {
	// No bucket check first: doctor reports a bucket it cannot reach.
	client, _, err := newBuckets(ctx, cmd.settings)
	if err != nil {
		return err
	}
	open := client.Bucket
	markReplicated(ctx, open, cmd.sources, slog.New(slog.DiscardHandler))
	d := &bucket.Doctor{Sources: cmd.sources, Open: open, IndexDir: cmd.indexDir, AlertAfter: cmd.replication.AlertAfter,
		Replication: cmd.replicationOf(ctx), Probe: cmd.probe, Checksum: cmd.upload.Checksum}
	checks := d.Run(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	err = show(cmd.stdout, cmd.json, map[string]any{"checks": checks}, func(w io.Writer) {
		for _, c := range checks {
			msg := c.Message
			if c.Target != "" {
				msg = c.Target + ": " + msg
			}
			fmt.Fprintf(w, "%-8s %-13s %s\n", c.Status, c.Name, local.Printable(msg))
			if c.Fix != "" {
				fmt.Fprintf(w, "%-8s %-13s fix: %s\n", "", "", local.Printable(c.Fix))
			}
		}
	})
	if err != nil {
		return err
	}
	errs := 0
	for _, c := range checks {
		if c.Status == bucket.CheckError {
			errs++
		}
	}
	if errs > 0 {
		return problemsError{fmt.Sprintf("doctor found %s: fix as shown above and run doctor again", local.Plural(errs, "error", "errors"))}
	}
	return nil
}

// replicationOf reads where each source's uploads stand in replication:
// from the daemon that holds the index, or from the index itself when it
// exists; nil when neither can say.
func (cmd doctorCmd) replicationOf(ctx context.Context) func(*local.Source) (replication.Summary, bool) {
	st, err := daemonStatus(ctx, cmd.indexDir)
	if errors.Is(err, errNoDaemon) {
		if _, serr := os.Stat(cmd.indexDir); serr != nil {
			return nil
		}
		st, err = statusCmd{settings: cmd.settings}.fromIndex()
	}
	if err != nil {
		return nil
	}
	return func(src *local.Source) (replication.Summary, bool) {
		for _, ss := range st.Sources {
			if ss.Root == src.Root && ss.Destination == src.Destination() && ss.Replication != nil {
				return *ss.Replication, true
			}
		}
		return replication.Summary{}, false
	}
}
