package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
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

--read SAMPLE is a restore drill: it also downloads a random sample of the
versions the index recorded at upload (1%, 500, or all), each by its
recorded VersionId, streaming (nothing is written to disk), and checks its
bytes against the index's xxhash64. A version that reads back with other
bytes (read-corrupt), is gone (read-missing) or cannot be read to its end
(read-unreadable) is a problem; --repair uploads the local file of the first
two again. --read-workers versions are read at once, all together no faster
than --read-rate (verify.read-rate, 16MiB/s). The summary says how many
objects and bytes were read.

While the daemon (s3ferry run) holds the index, verify asks it, on its
admin socket, to run the verify against its open index and prints what it
answers: the same findings, output and exit code, with backups going on.
--deep and --inventory go with it (the daemon reads the files and the
report with its own access); --repair, --replica and --read need the index
to themselves: stop the daemon for them (the daemon runs its own drill,
verify.read-interval).

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
      --inventory s3://inventory-reports/call-recording-backup/daily/2026-11-29T01-00Z/manifest.json
 7. A restore drill: read 1% of the backup back, at most 50 MiB/s:
    s3ferry verify --config /etc/s3ferry/s3ferry.yml --read 1% --read-rate 50MiB/s`,
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "deep", Usage: "also read every local file again and compare its hash with the index"},
			&cli.BoolFlag{Name: "repair", Usage: "upload again what is missing or wrong in the bucket; with --deep, restore damaged local files"},
			&cli.StringFlag{Name: "replaced", Value: "version", Usage: "where --deep --repair keeps a damaged file's bytes before restoring it: `version` (of its key in the bucket) or beside (NAME.s3ferry-replaced-TIME)"},
			&cli.StringFlag{Name: "inventory", Usage: "read the S3 Inventory report (CSV) whose manifest is `s3://BUCKET/PATH/manifest.json` instead of listing the bucket"},
			listWorkersFlag(),
			jsonFlag("the report"),
			&cli.StringFlag{Name: flagRead, Usage: "also read back `SAMPLE` of the recorded versions and check their bytes: 1%, 500 or all"},
			&cli.IntFlag{Name: flagReadWorkers, Value: bucket.DefaultReadWorkers, Usage: "versions --read reads at once"},
			&cli.StringFlag{Name: flagReadRate, Usage: "bytes per second `RATE` of all of --read's reads, e.g. 50MiB/s (default: verify.read-rate, 16MiB/s)"},
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
			var read bucket.ReadSample
			if v := c.String(flagRead); v != "" {
				if read, err = bucket.ParseReadSample(v); err != nil {
					return usageError{fmt.Errorf("--read: %w", err)}
				}
			}
			readRate, err := pickSize(c, flagReadRate, byteSize(s.read.rate), bucket.DefaultReadRate)
			if err != nil {
				return usageError{err}
			}
			if c.Int(flagReadWorkers) < 1 {
				return usageError{fmt.Errorf("--read-workers %d: want 1 or more", c.Int(flagReadWorkers))}
			}
			replica, err := newReplicaTarget(resolveReplica(c, nil), s.s3)
			if err != nil {
				return usageError{err}
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
				read:        read,
				readWorkers: c.Int(flagReadWorkers),
				readRate:    readRate,
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
	read               bucket.ReadSample // zero: no --read
	readWorkers        int
	readRate           int64 // bytes per second
	log                *slog.Logger
	stdout             io.Writer
	repairLine         string // this verify with --repair, to suggest
}

func (cmd verifyCmd) Run(ctx context.Context) error {
	if err := requireIndex(cmd.indexDir); err != nil {
		return err
	}
	rep, err := cmd.viaDaemon(ctx)
	if errors.Is(err, errNoDaemon) {
		rep, err = cmd.alone(ctx)
	}
	if err != nil {
		return err
	}
	return cmd.finish(rep)
}

// viaDaemon has the daemon holding the index run the verify, and returns
// its report; errNoDaemon when no daemon holds the index or answers on its
// socket, or when the verify is one it does not run (--repair, --replica,
// --read: the daemon runs its own drill).
func (cmd verifyCmd) viaDaemon(ctx context.Context) (bucket.VerifyReport, error) {
	var rep bucket.VerifyReport
	holder := index.ReadHolder(cmd.indexDir)
	if !holder.Daemon() || cmd.repair || cmd.replica.bucket != "" || !cmd.read.IsZero() {
		return rep, errNoDaemon
	}
	client, err := newDaemonClient(holder)
	if err != nil {
		return rep, err
	}
	st, err := client.status(ctx)
	if err != nil {
		return rep, err
	}
	if src := notServed(cmd.sources, st.Sources); src != nil {
		return rep, &daemonSourceError{src: src, pid: st.PID, socket: holder.Admin, indexDir: cmd.indexDir,
			fix: "verify the sources of the daemon's config (--config), or stop the daemon to verify this one"}
	}
	req := admin.VerifyRequest{Deep: cmd.deep, Inventory: cmd.inventory, ListWorkers: cmd.listWorkers}
	for _, src := range cmd.sources {
		req.Sources = append(req.Sources, admin.SourceName{Root: src.Root, Destination: src.Destination()})
	}
	cmd.log.Info("the daemon holds the index: asking it to run the verify", "pid", holder.PID, "socket", holder.Admin)
	err = client.send(ctx, http.MethodPost, "/verify", req, &rep)
	return rep, err
}

// alone runs the verify with the index to itself.
func (cmd verifyCmd) alone(ctx context.Context) (bucket.VerifyReport, error) {
	env, err := openEnv(ctx, cmd.settings, cmd.log)
	if err != nil {
		var locked *index.LockedError
		switch {
		case cmd.repair:
			return bucket.VerifyReport{}, needsIndexAlone(err, "verify --repair")
		case cmd.replica.bucket != "":
			return bucket.VerifyReport{}, needsIndexAlone(err, "verify --replica")
		case !cmd.read.IsZero():
			return bucket.VerifyReport{}, needsIndexAlone(err, "verify --read")
		case errors.As(err, &locked):
			return bucket.VerifyReport{}, heldError(locked)
		}
		return bucket.VerifyReport{}, err
	}
	defer env.Close()
	var replica uploader.Bucket
	if cmd.replica.bucket != "" {
		if replica, err = cmd.replica.open(ctx); err != nil {
			return bucket.VerifyReport{}, err
		}
		if err := replica.Check(ctx); err != nil {
			return bucket.VerifyReport{}, fmt.Errorf("replica: %w", err)
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
		Download:      cmd.download.parts,
		Options:       agent.Options{Workers: cmd.workers, Settle: agentSettle(cmd.settle), Logger: cmd.log},
		ListWorkers:   cmd.listWorkers,
		Inventory:     cmd.inventory,
		Read:          cmd.read,
		ReadWorkers:   cmd.readWorkers,
		ReadRate:      float64(cmd.readRate),
	}
	return v.Run(ctx)
}

// finish prints rep and says whether a problem is left (exit 5).
func (cmd verifyCmd) finish(rep bucket.VerifyReport) error {
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
	if r := rep.Read; r != nil {
		fmt.Fprintf(w, "read back %d of %d recorded versions (%s): %d objects, %s in %.1f s (%s/s): %d corrupt, %d gone, %d unreadable\n",
			r.Sampled, r.Records, r.Sample, r.Objects, humanize.IBytes(uint64(r.Bytes)), r.Seconds, humanize.IBytes(uint64(float64(r.Bytes)/max(r.Seconds, 0.001))),
			r.Corrupt, r.Missing, r.Unreadable)
	}
}

// verify --read's flags.
const (
	flagRead        = "read"
	flagReadWorkers = "read-workers"
	flagReadRate    = "read-rate"
)
