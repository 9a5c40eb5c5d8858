package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/index"
)

// errDeletesBlocked ends a sync whose retention or propagation a
// mass-deletion guard stopped (exit 3, as for files that failed: work the
// run was asked to do and did not).
var errDeletesBlocked = fmt.Errorf("%w: a mass-deletion guard stopped deletes (s3ferry retention confirm)", errFilesFailed)

func newRetentionCommand() *cli.Command {
	return &cli.Command{
		Name:  "retention",
		Usage: "confirm deletes a mass-deletion guard stopped; lengthen the Object Lock of recorded versions",
		Description: `A local retention or delete propagation pass that would delete more than
max-delete files, or more than max-delete-fraction of a source, stops before
it deletes any, and the source stays unhealthy until confirmed here (or the
limit is raised). A root that looks unmounted (empty, another device, a
recent partition missing) propagates no delete until it looks mounted again.`,
		Subcommands: []*cli.Command{
			{
				Name:      "confirm",
				Usage:     "let the next pass make the deletes a guard stopped",
				ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
				Description: `Lists the guards that stopped deletes of the sources, and lets the next pass
of each go on with as many deletes as it would have made. Stop the daemon
first (it holds the index), or run it with the daemon's index stopped.

Examples:
 1. sudo -u s3ferry s3ferry retention confirm --config /etc/s3ferry/s3ferry.yml
 2. s3ferry retention confirm /home/archive/RECORDINGS s3://call-recording-backup/recordings/`,
				Flags: configFlags(),
				Action: func(c *cli.Context) error {
					s, _, err := loadCommand(c, false)
					if err != nil {
						return err
					}
					return confirmDeletes(s, c.App.Writer)
				},
			},
			newExtendCommand(),
		},
	}
}

// confirmDeletes is `s3ferry retention confirm`.
func confirmDeletes(s settings, out io.Writer) error {
	idx, err := openIndexWith(s.indexDir, index.Options{})
	if err != nil {
		return err
	}
	defer idx.Close()
	blocked, err := retention.BlockedOf(idx, s.sources)
	if err != nil {
		return err
	}
	if len(blocked) == 0 {
		fmt.Fprintln(out, "no deletes are stopped")
		return nil
	}
	done, err := retention.Confirm(idx, s.sources)
	if err != nil {
		return err
	}
	for _, b := range blocked {
		verdict := "confirmed: the next pass goes on"
		if !containsBlocked(done, b) {
			verdict = "not confirmed: mount the source; the next sweep clears it"
		}
		fmt.Fprintf(out, "%s: %s\n", b, verdict)
	}
	if len(done) < len(blocked) {
		return errors.New("a source root looks unmounted: mount it and sweep again")
	}
	return nil
}

func containsBlocked(list []retention.Blocked, b retention.Blocked) bool {
	for _, d := range list {
		if d.Source == b.Source && d.Name == b.Name {
			return true
		}
	}
	return false
}
