package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

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
of each go on with as many deletes as it would have made: on the index, or,
while the daemon holds it, through the daemon's admin socket.

Examples:
 1. sudo -u s3ferry s3ferry retention confirm --config /etc/s3ferry/s3ferry.yml
 2. s3ferry retention confirm /home/archive/RECORDINGS s3://call-recording-backup/recordings/`,
				Flags: configFlags(),
				Action: func(c *cli.Context) error {
					s, _, err := loadCommand(c, false)
					if err != nil {
						return err
					}
					return confirmDeletes(c.Context, s, c.App.Writer)
				},
			},
			newExtendCommand(),
		},
	}
}

// confirmDeletes is `s3ferry retention confirm`: on the index, or
// through the daemon that holds it.
func confirmDeletes(ctx context.Context, s settings, out io.Writer) error {
	var lines []string
	idx, err := openIndexWith(s.indexDir, index.Options{})
	if locked := (*index.LockedError)(nil); errors.As(err, &locked) {
		client, cerr := newDaemonClient(index.Holder{PID: locked.PID, Admin: locked.Admin})
		if cerr == nil {
			cerr = client.call(ctx, http.MethodPost, "/retention/confirm", &lines)
		}
		if errors.Is(cerr, errNoDaemon) {
			return heldError(locked)
		} else if cerr != nil {
			return cerr
		}
	} else if err != nil {
		return err
	} else {
		defer idx.Close()
		if lines, err = retention.ConfirmLines(idx, s.sources); err != nil {
			return err
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(out, "no deletes are stopped")
		return nil
	}
	unmounted := false
	for _, l := range lines {
		fmt.Fprintln(out, l)
		unmounted = unmounted || strings.HasSuffix(l, "not confirmed: mount the source; the next sweep clears it")
	}
	if unmounted {
		return errors.New("a source root looks unmounted: mount it and sweep again")
	}
	return nil
}
