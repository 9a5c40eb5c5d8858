package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// errDamaged ends an `index check` that found problems (exit 1: each is
// printed).
var errDamaged = fmt.Errorf("the index is damaged: rebuild it from the bucket with 's3ferry index rebuild'")

func newIndexCommand() *cli.Command {
	return &cli.Command{
		Name:  "index",
		Usage: "check the local index, or rebuild it from the bucket",
		Description: `The index is a cache of what the bucket holds. A damaged one (a disk error,
a file cut short) is reported by every command in one line; rebuilding it
costs a listing of the bucket, never a re-upload.`,
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "read the whole index back; exit 0 when healthy, 1 with one line per problem",
				Description: `Opens the index (verifying the checksum of every table) and reads every
entry back. Prints "index DIR: healthy", or one line per problem and exits 1.
While the daemon (s3ferry run) holds the index, it is asked on its admin
socket to check the index it has open, as it goes on writing: same output,
same exit code.

Examples:
 1. sudo -u s3ferry s3ferry index check --config /etc/s3ferry/s3ferry.yml
 2. s3ferry index check --index-dir ~/.local/state/s3ferry`,
				Flags:  configFlags(),
				Action: func(c *cli.Context) error { return indexCheck(c) },
			},
			{
				Name:      "rebuild",
				Usage:     "move the index aside and rebuild it from the bucket (adopt); uploads nothing",
				ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
				Description: `Moves INDEX_DIR to INDEX_DIR.damaged-<time> (or, where the directory cannot
be renamed, its files into INDEX_DIR/damaged-<time>), then lists each
source's prefix and records every object that holds its local file (same
size, and s3ferry's xxhash64 metadata or the MD5 ETag), as adopt does. The
next sync uploads only what the bucket lacks. Stop the daemon first.

Examples:
 1. sudo systemctl stop s3ferry
    sudo -u s3ferry s3ferry index rebuild --config /etc/s3ferry/s3ferry.yml
    sudo systemctl start s3ferry
 2. s3ferry index rebuild /home/archive/RECORDINGS s3://call-recording-backup/recordings/`,
				Flags: append(configFlags(), listWorkersFlag(), jsonFlag("the totals")),
				Action: func(c *cli.Context) error {
					s, log, err := loadCommand(c, false)
					if err != nil {
						return err
					}
					return rebuildCmd{adoptCmd{settings: s, json: c.Bool(flagJSON), listWorkers: c.Int(flagListWorkers), log: log, stdout: c.App.Writer}}.Run(c.Context)
				},
			},
		},
	}
}

// indexCheck is `s3ferry index check`: it needs only the index directory.
func indexCheck(c *cli.Context) error {
	var fc fileConfig
	if p := c.Path(flagConfig); p != "" {
		var err error
		if fc, err = loadFile(p); err != nil {
			return usageError{err}
		}
	}
	dir := pick(c, flagIndexDir, fc.IndexDir, defaultIndexDir())
	if err := requireIndex(dir); err != nil {
		return err
	}
	problems, err := checkViaDaemon(c.Context, dir)
	if errors.Is(err, errNoDaemon) {
		problems, err = checkAlone(dir, commandName(c))
	}
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(c.App.Writer, "index %s: %s\n", dir, local.Printable(p))
	}
	if len(problems) > 0 {
		return errDamaged
	}
	fmt.Fprintf(c.App.Writer, "index %s: healthy\n", dir)
	return nil
}

// checkViaDaemon has the daemon holding the index in dir check it;
// errNoDaemon when no daemon holds it or answers on its socket.
func checkViaDaemon(ctx context.Context, dir string) ([]string, error) {
	client, err := newDaemonClient(index.ReadHolder(dir))
	if err != nil {
		return nil, err
	}
	var answer admin.IndexCheck
	err = client.send(ctx, http.MethodPost, "/index/check", nil, &answer)
	return answer.Problems, err
}

// checkAlone checks the index in dir with the index to itself.
func checkAlone(dir, command string) ([]string, error) {
	if err := checkIndexOwner(dir, os.Geteuid()); err != nil {
		return nil, err
	}
	problems, err := index.Check(dir, index.Options{Command: command})
	if locked := (*index.LockedError)(nil); errors.As(err, &locked) {
		return nil, heldError(locked)
	}
	return problems, err
}

// rebuildCmd is `s3ferry index rebuild`: adopt, into a new index.
type rebuildCmd struct{ adoptCmd }

func (cmd rebuildCmd) Run(ctx context.Context) error {
	if err := checkIndexOwner(cmd.indexDir, os.Geteuid()); err != nil {
		return err
	}
	aside, err := index.MoveAside(cmd.indexDir, time.Now())
	if err != nil {
		return needsIndexAlone(err, cmd.command)
	}
	if aside != "" {
		cmd.log.Info("moved the index aside; delete it once the rebuilt one serves", "from", cmd.indexDir, "to", aside)
	}
	return cmd.adoptCmd.Run(ctx)
}
