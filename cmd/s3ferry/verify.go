package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

func newVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "compare the index with the bucket: missing, different and unknown objects",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Lists the bucket once, in parts listed in parallel, and compares every object
with what the index recorded at upload: objects missing from the bucket,
of another size, or whose content (ETag, then s3ferry's xxhash metadata and
checksum) differs are problems; objects the index does not know are
reported for information. --deep also reads every local file again and
compares its hash with the index: a file whose bytes changed while its size
and mtime did not is damaged. Exits 5 when a problem remains.

--inventory reads an S3 Inventory report (CSV) of the bucket instead of
listing it: one pass over its data files, streamed and checked against the
MD5s of its manifest, costs their GETs instead of a LIST per 1,000 objects.
It also reports objects whose replication FAILED (a problem) and whose
current version is not the one s3ferry uploaded (for information).

--repair uploads again, through the same pipeline as sync, every file whose
object is missing or wrong, and with --deep writes the recorded version from
the bucket over a damaged local file. Its bytes are kept first (the file may
have been edited by a tool that keeps the mtime): --replaced version (the
default) uploads them as a new version of its key, below the recorded
content uploaded again; --replaced beside keeps them next to it as
NAME.s3ferry-replaced-TIME. The finding's repair line says where.

--replica s3://REPLICA-BUCKET/PREFIX/ also lists the bucket the destination
replicates to, beside it, and reports each recorded version the replica lacks
or holds with another size or ETag; --repair uploads those files again (a new
version, which replicates), or lists a version whose file is gone for
s3ferry manifest --replication-failed. --replica-endpoint-url, -profile and
-region reach a replica in another account or region.

Examples:
 1. Check the backup of every source:
    s3ferry verify --config /etc/s3ferry/s3ferry.yml
 2. Also re-read the local files (reads every byte of the tree):
    s3ferry verify --config /etc/s3ferry/s3ferry.yml --deep
 3. Fix what it finds, then check again:
    s3ferry verify --config /etc/s3ferry/s3ferry.yml --repair && s3ferry verify --config /etc/s3ferry/s3ferry.yml
 4. One source, as JSON:
    s3ferry verify /home/archive/RECORDINGS s3://call-recording-backup/recordings/ --json
 5. Is every upload in the second region?
    s3ferry verify --config /etc/s3ferry/s3ferry.yml --replica s3://call-recording-replica/recordings/ \
        --replica-region eu-central-1 --replica-profile replica-reader
 6. A bucket of 100 million objects, from last night's inventory report:
    s3ferry verify --config /etc/s3ferry/s3ferry.yml \
      --inventory s3://inventory-reports/call-recording-backup/daily/2026-11-29T01-00Z/manifest.json`,
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "deep", Usage: "also read every local file again and compare its hash with the index"},
			&cli.BoolFlag{Name: "repair", Usage: "upload again what is missing or wrong in the bucket; with --deep, restore damaged local files"},
			&cli.StringFlag{Name: "replaced", Value: "version", Usage: "where --deep --repair keeps a damaged file's bytes before restoring it: `version` (of its key in the bucket) or beside (NAME.s3ferry-replaced-TIME)"},
			&cli.StringFlag{Name: "inventory", Usage: "read the S3 Inventory report (CSV) whose manifest is `s3://BUCKET/PATH/manifest.json` instead of listing the bucket"},
			listWorkersFlag(),
			jsonFlag("the report"),
			&cli.StringFlag{Name: "replica", Usage: "also compare with the replica at `s3://BUCKET/PREFIX/`"},
			&cli.StringFlag{Name: "replica-endpoint-url", Usage: "S3 endpoint `URL` of the replica (default: the bucket's)"},
			&cli.StringFlag{Name: "replica-profile", Usage: "shared config `PROFILE` for the replica's credentials (default: the bucket's)"},
			&cli.StringFlag{Name: "replica-region", Usage: "`REGION` of the replica (default: the bucket's)"},
		),
		Action: func(c *cli.Context) error {
			s, log, err := loadCommand(c, false)
			if err != nil {
				return err
			}
			var inv *bucket.Inventory
			if a := c.String("inventory"); a != "" {
				b, key, ok := strings.Cut(strings.TrimPrefix(a, "s3://"), "/")
				if !strings.HasPrefix(a, "s3://") || !ok || b == "" || key == "" || strings.HasSuffix(key, "/") {
					return usageError{fmt.Errorf("--inventory %q: want the s3://BUCKET/PATH/manifest.json of an S3 Inventory report", a)}
				}
				inv = &bucket.Inventory{Bucket: b, Manifest: key}
			}
			var replaced bucket.Replaced
			switch v := c.String("replaced"); v {
			case "version":
			case "beside":
				replaced = bucket.ReplacedBeside
			default:
				return usageError{fmt.Errorf("--replaced %q: want version or beside", v)}
			}
			var replica replicaTarget
			if v := c.String("replica"); v != "" {
				if replica.bucket, replica.prefix, err = local.ParseDestination(v); err != nil {
					return usageError{fmt.Errorf("--replica: %w", err)}
				}
				replica.s3 = s.s3
				replica.s3.EndpointURL = cmp.Or(c.String("replica-endpoint-url"), s.s3.EndpointURL)
				replica.s3.Profile = cmp.Or(c.String("replica-profile"), s.s3.Profile)
				replica.s3.Region = cmp.Or(c.String("replica-region"), s.s3.Region)
			}
			return verifyCmd{
				replica:     replica,
				settings:    s,
				inventory:   inv,
				deep:        c.Bool("deep"),
				repair:      c.Bool("repair"),
				replaced:    replaced,
				json:        c.Bool(flagJSON),
				listWorkers: c.Int(flagListWorkers),
				log:         log,
				stdout:      c.App.Writer,
				repairLine:  suggest(c, "verify", "--repair"),
			}.Run(c.Context)
		},
	}
}

// verifyCmd is `s3ferry verify` with its flags turned into plain values.
type verifyCmd struct {
	settings
	deep, repair, json bool
	replaced           bucket.Replaced
	inventory          *bucket.Inventory // nil: list the bucket
	listWorkers        int
	replica            replicaTarget
	log                *slog.Logger
	stdout             io.Writer
	repairLine         string // this verify with --repair, to suggest
}

func (cmd verifyCmd) Run(ctx context.Context) error {
	if err := requireIndex(cmd.indexDir); err != nil {
		return err
	}
	env, err := openEnv(ctx, cmd.settings, cmd.log)
	if err != nil {
		return err
	}
	defer env.Close()
	var replica uploader.Bucket
	if cmd.replica.bucket != "" {
		client, err := s3.NewClient(ctx, cmd.replica.s3)
		if err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		replica = client.Bucket(cmd.replica.bucket)
		if err := replica.Check(ctx); err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		markReplicated(ctx, env.open, cmd.sources, cmd.log)
	}
	v := &bucket.Verify{
		Replica:       replica,
		ReplicaPrefix: cmd.replica.prefix,
		Sources:       cmd.sources,
		Index:         env.index,
		Open:          env.open,
		Deep:          cmd.deep,
		Repair:        cmd.repair,
		Replaced:      cmd.replaced,
		Uploader:      env.uploader,
		Options:       agent.Options{Workers: cmd.workers, Settle: agentSettle(cmd.settle), Logger: cmd.log},
		ListWorkers:   cmd.listWorkers,
		Inventory:     cmd.inventory,
	}
	rep, err := v.Run(ctx)
	if err != nil {
		return err
	}
	if err := show(cmd.stdout, cmd.json, rep, func(w io.Writer) { cmd.print(w, rep) }); err != nil {
		return err
	}
	switch left := rep.Unrepaired(); {
	case left > 0 && cmd.repair:
		return problemsError{fmt.Sprintf("verify found %s, %d could not be repaired: see each above", local.Plural(rep.Problems(), "problem", "problems"), left)}
	case left > 0:
		return problemsError{fmt.Sprintf("verify found %s: run %s to fix them", local.Plural(left, "problem", "problems"), cmd.repairLine)}
	}
	return nil
}

func (cmd verifyCmd) print(w io.Writer, rep bucket.VerifyReport) {
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%-16s %s: %s\n", f.Kind, local.Printable(f.Key), local.Printable(f.Detail))
		if f.Repair != "" {
			fmt.Fprintf(w, "%-16s repair: %s\n", "", local.Printable(f.Repair))
		}
	}
	if rep.InfoOmitted > 0 {
		fmt.Fprintf(w, "(%d more findings for information not shown)\n", rep.InfoOmitted)
	}
	from := "listing"
	if cmd.inventory != nil {
		from = "inventory"
	}
	fmt.Fprintf(w, "verified %d objects against %d records in %.1f s (%s: %.0f objects/s): %d missing, %d size and %d content mismatches, %d unknown to the index",
		rep.Listed, rep.Records, rep.Seconds, from, rep.ObjectsPerSec, rep.Missing, rep.SizeMismatch, rep.ContentMismatch, rep.Unknown)
	if cmd.inventory != nil {
		fmt.Fprintf(w, ", %d failed replication, %d other versions", rep.Replication, rep.OtherVersion)
	}
	if rep.Pending+rep.Retrying > 0 {
		fmt.Fprintf(w, "; not yet in the bucket: %d pending, %d passed over by walks (the log of sync or run says why)", rep.Pending, rep.Retrying)
	}
	if cmd.deep {
		fmt.Fprintf(w, "; %d local files read: %d damaged, %d unreadable, %d changed since upload, %d deleted locally",
			rep.Hashed, rep.LocalCorrupt, rep.LocalUnreadable, rep.LocalChanged, rep.LocalMissing)
	}
	if cmd.replica.bucket != "" {
		fmt.Fprintf(w, "; replica: %d versions listed, %d missing, %d different, %d keys with untrustworthy version times", rep.ReplicaListed, rep.ReplicaMissing, rep.ReplicaDiffers, rep.ReplicaHistory)
	}
	if cmd.repair {
		fmt.Fprintf(w, "; %d repaired", rep.Repaired)
	}
	fmt.Fprintln(w)
}

// replicaTarget is verify --replica: where the replica is and how to reach
// it.
type replicaTarget struct {
	bucket, prefix string
	s3             s3.Config
}
