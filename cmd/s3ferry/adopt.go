package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
)

func newAdoptCommand() *cli.Command {
	return &cli.Command{
		Name:      "adopt",
		Usage:     "record in the index the files another tool already copied to the bucket",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `For a tree already mirrored with aws s3 sync, rclone or mc mirror: lists the
bucket once and records in the index every local file whose object holds
the same bytes (same size, and an ETag that is the file's MD5, a multipart
ETag of a usual part size, or s3ferry's own metadata that matches), so the
first sync uploads only what is really missing instead of every file.
Files whose content cannot be compared are left for sync to upload.

--trust-size accepts an object of the same size without reading the local
file: much faster on a large tree, and weaker, since a file changed in
place with the same size is then never uploaded until its mtime changes.

Examples:
 1. Take over a bucket filled by aws s3 sync, then sync what is missing:
    s3ferry adopt /home/archive/RECORDINGS s3://call-recording-backup/recordings/
    s3ferry sync /home/archive/RECORDINGS s3://call-recording-backup/recordings/
 2. Every source of the configuration, by size alone:
    s3ferry adopt --config /etc/s3ferry/s3ferry.yml --trust-size`,
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "trust-size", Usage: "accept an object of the same size without comparing content (weaker, much faster)"},
			listWorkersFlag(),
			jsonFlag("the totals"),
		),
		Action: func(c *cli.Context) error {
			s, log, err := loadCommand(c, false)
			if err != nil {
				return err
			}
			return adoptCmd{
				settings:    s,
				trustSize:   c.Bool("trust-size"),
				json:        c.Bool(flagJSON),
				listWorkers: c.Int(flagListWorkers),
				log:         log,
				stdout:      c.App.Writer,
			}.Run(c.Context)
		},
	}
}

// adoptCmd is `s3ferry adopt` with its flags turned into plain values.
type adoptCmd struct {
	settings
	trustSize, json bool
	listWorkers     int
	log             *slog.Logger
	stdout          io.Writer
}

func (cmd adoptCmd) Run(ctx context.Context) error {
	env, err := openEnv(ctx, cmd.settings, cmd.log)
	if err != nil {
		return needsIndexAlone(err, cmd.command)
	}
	defer env.Close()
	a := &bucket.Adopt{
		Sources:     cmd.sources,
		Index:       env.index,
		Open:        env.open,
		TrustSize:   cmd.trustSize,
		Options:     agent.Options{Workers: cmd.workers, Settle: agentSettle(cmd.settle), Logger: cmd.log},
		ListWorkers: cmd.listWorkers,
	}
	st, err := a.Run(ctx)
	if err != nil {
		return err
	}
	err = show(cmd.stdout, cmd.json, st, func(w io.Writer) {
		fmt.Fprintf(w, "listed %d objects in %.1f s: %d adopted, %d already in the index, %d differ and %d could not be compared (sync uploads them), %d not on disk, %d excluded, %d still being written, %d failed\n",
			st.Listed, st.Seconds, st.Adopted, st.Known, st.Differs, st.Unverified, st.NotLocal, st.Excluded, st.Deferred, st.Failed)
	})
	if err != nil {
		return err
	}
	if st.Failed > 0 {
		return errFilesFailed
	}
	return nil
}
