// Command s3ferry-bench measures s3ferry against a local MinIO and prints a
// table (make bench). It is not a test: it asserts nothing, it reports.
//
// Scenario (issue 2): a tree of -scale files of 8 KiB in 365 daily
// partitions is synced once; then, -rounds times, -new files land in today's
// partition and `s3ferry sync` with the look-back window uploads them. The
// floor is the same number of files uploaded by the same pool with no
// detection at all.
//
// With -index-scale N (issue 14), N synthetic records of older partitions
// are then added to the index through its API, and the scenario measured
// again: the cost of a large index without creating its files.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

const fileSize = 8 << 10

type bench struct {
	bin      string
	dir      string
	scale    int
	newN     int
	rounds   int
	workers  int
	daemon   bool
	verify   bool
	faults   bool // the fault scenarios (faults.go)
	only     bool // only the fault scenarios
	incrOnly bool // only the first sync, the no-op and the incremental rounds
	srv      *s3test.Server
	client   *s3.Client
	bucket   string
	rows     [][2]string

	// The peer scenarios (peers.go), only them, the peers' binaries.
	peers, peersOnly bool
	s5cmd, mc        string

	// indexScale: synthetic records added to the index (indexScaleRows);
	// reuse: keep the tree and the settled index in dir between runs.
	indexScale int
	reuse      bool
	inventory  bool // verify --inventory of every record of the large index
	prefilled  bool // the index is a copy of the kept one (restoreSettled)

	// The restore scenarios (restore.go), only them, and their sizes.
	restore, restoreOnly bool
	restoreBigFiles      int
	restoreBigSize       int64
	restoreFiles         int
}

func main() {
	var b bench
	minio := flag.String("minio", "", "MinIO binary (default: as the tests find it)")
	flag.StringVar(&b.bin, "s3ferry", "bin/s3ferry", "s3ferry binary to measure")
	flag.StringVar(&b.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	flag.IntVar(&b.scale, "scale", 100_000, "files already backed up")
	flag.IntVar(&b.newN, "new", 500, "new files per incremental round")
	flag.IntVar(&b.rounds, "rounds", 7, "incremental rounds, each against its own floor; the medians are reported")
	flag.IntVar(&b.workers, "workers", agent.DefaultWorkers, "upload workers, for s3ferry and the floor alike")
	flag.BoolVar(&b.verify, "verify", true, "also measure s3ferry verify: parallel listing against one sequential loop")
	flag.BoolVar(&b.daemon, "daemon", true, "also measure s3ferry run: latency at a steady rate, idle CPU")
	flag.IntVar(&b.indexScale, "index-scale", 0, "then add this many synthetic records of old partitions to the index (no files) and measure again")
	flag.BoolVar(&b.reuse, "reuse", false, "with -dir and -index-scale: keep the tree and the settled large index in -dir, and start the next run's large-index rows from a copy of them (building a 10M index takes minutes)")
	flag.BoolVar(&b.inventory, "inventory", true, "with -index-scale: also measure verify --inventory of every record")
	flag.BoolVar(&b.faults, "faults", true, "also measure the fault scenarios: a 1 GiB upload killed and resumed, 2,000 files under 5xx")
	flag.BoolVar(&b.only, "faults-only", false, "measure only the fault scenarios")
	flag.BoolVar(&b.incrOnly, "incremental-only", false, "measure only the first sync, the no-op and the incremental rounds (with -index-scale, those again)")
	flag.BoolVar(&b.peers, "peers", true, "also measure s3ferry beside s5cmd cp and mc cp: backfill on loopback and at +30 ms, 2 × 1 GiB")
	flag.BoolVar(&b.peersOnly, "peers-only", false, "measure only the peer scenarios")
	flag.StringVar(&b.s5cmd, "s5cmd", "s5cmd", "s5cmd binary, for the peer scenarios")
	mc := flag.String("mc", "", "mc binary, for the peer scenarios (default: as the tests find it)")
	flag.BoolVar(&b.restore, "restore", true, "also measure s3ferry restore beside s5cmd cp (and aws s3 cp when installed): large files on loopback and through a stream-capped +30 ms link, small files")
	flag.BoolVar(&b.restoreOnly, "restore-only", false, "measure only the restore scenarios")
	flag.IntVar(&b.restoreBigFiles, "restore-big-files", 2, "large files of the restore scenarios")
	bigMiB := flag.Int64("restore-big-mib", 1024, "size of each large file of the restore scenarios, in MiB")
	flag.IntVar(&b.restoreFiles, "restore-files", 20_000, "small files of the restore scenario")
	flag.Parse()
	b.restoreBigSize = *bigMiB << 20
	if *minio != "" {
		os.Setenv("S3FERRY_MINIO", *minio)
	}
	if *mc != "" {
		os.Setenv("S3FERRY_MC", *mc)
	}
	if err := b.run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "s3ferry-bench:", err)
		os.Exit(1)
	}
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.bin, err = filepath.Abs(b.bin); err != nil {
		return err
	}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "s3ferry-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(b.dir)
	}
	srv, stop, err := s3test.StartMain()
	if err != nil {
		return err
	}
	defer stop()
	b.srv = srv
	if b.client, err = srv.NewClient(ctx, srv.Config()); err != nil {
		return err
	}
	b.bucket = "bench"
	if err := srv.CreateBucket(ctx, b.bucket, true); err != nil {
		return err
	}

	if b.only {
		if err := b.faultRows(ctx); err != nil {
			return err
		}
		b.print()
		return nil
	}
	if b.peersOnly {
		if err := b.peerRows(ctx); err != nil {
			return err
		}
		b.print()
		return nil
	}
	if b.restoreOnly {
		if err := b.restoreRows(ctx); err != nil {
			return err
		}
		b.print()
		return nil
	}

	root := filepath.Join(b.dir, "RECORDINGS")
	idx := filepath.Join(b.dir, "index")
	if b.reuse {
		kept, err := b.restoreSettled(root, idx)
		if err != nil {
			return err
		}
		if kept {
			if err := b.indexScaleRows(ctx, root, idx); err != nil {
				return err
			}
			b.print()
			return nil
		}
	}
	fmt.Fprintf(os.Stderr, "generating %d files of %d KiB in 365 daily partitions...\n", b.scale, fileSize>>10)
	if err := generate(root, b.scale); err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "first sync (full walk, uploads everything)...")
	first, err := b.sync(ctx, root, idx)
	if err != nil {
		return err
	}
	b.add("first sync: files/s", fmt.Sprintf("%.0f (%d files in %.1f s)", float64(first.stats.Uploaded)/first.wall.Seconds(), first.stats.Uploaded, first.wall.Seconds()))
	b.add("first sync: peak RSS (target ≤ 128 MiB at 1M)", first.rss())
	size, err := dirSize(idx)
	if err != nil {
		return err
	}
	b.add("index bytes per file", fmt.Sprintf("%.0f (%.1f MiB for %d files)", float64(size)/float64(b.scale), float64(size)/(1<<20), b.scale))

	if err := b.noop(ctx, root, idx, "", "≤ 0.06 s at 100k"); err != nil {
		return err
	}

	if err := b.incremental(ctx, root, idx, ""); err != nil {
		return err
	}
	// Again after the rounds, which left their tables, and the
	// compactions they call for, to the runs after them.
	if err := b.noop(ctx, root, idx, "after the incremental rounds: ", "≤ 0.06 s at 100k"); err != nil {
		return err
	}
	if b.incrOnly {
		b.verify, b.daemon, b.faults, b.peers, b.restore = false, false, false, false, false
	}
	if b.verify {
		if err := b.verifyRows(ctx, root, idx); err != nil {
			return err
		}
	}
	if b.daemon {
		if err := b.daemonRows(ctx, root, idx); err != nil {
			return err
		}
	}
	if b.indexScale > 0 {
		if err := b.indexScaleRows(ctx, root, idx); err != nil {
			return err
		}
	}
	if b.faults {
		if err := b.faultRows(ctx); err != nil {
			return err
		}
	}
	if b.peers {
		if err := b.peerRows(ctx); err != nil {
			return err
		}
	}
	if b.restore {
		if err := b.restoreRows(ctx); err != nil {
			return err
		}
	}
	b.print()
	return nil
}

// noop runs the no-op sync once after the first sync, which verifies the
// tables that one wrote, then -rounds times, and adds their rows, named
// after tag.
func (b *bench) noop(ctx context.Context, root, idx, tag, target string) error {
	first, err := b.sync(ctx, root, idx)
	if err != nil {
		return err
	}
	var runs []syncResult
	for range b.rounds {
		res, err := b.sync(ctx, root, idx)
		if err != nil {
			return err
		}
		runs = append(runs, res)
	}
	walls := make([]time.Duration, len(runs))
	for i, r := range runs {
		walls[i] = r.wall
	}
	b.add(tag+"incremental sync, nothing new, first after the writes (verifies the new tables)", fmt.Sprintf("%.3f s (%d scanned)", first.wall.Seconds(), first.stats.Scanned))
	b.add(fmt.Sprintf("%sincremental sync, nothing new (target %s)", tag, target), fmt.Sprintf("%.3f s (median of %d; min %.3f, max %.3f)", median(walls).Seconds(), len(walls), slices.Min(walls).Seconds(), slices.Max(walls).Seconds()))
	b.add(tag+"incremental sync, nothing new: peak RSS", peaks(runs))
	return nil
}

// peaks formats the peak RSS of runs: the median round's and the worst
// round's, with the worst's parts.
func peaks(runs []syncResult) string {
	byRSS := slices.Clone(runs)
	slices.SortFunc(byRSS, func(a, b syncResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
	med, worst := byRSS[len(byRSS)/2], byRSS[len(byRSS)-1]
	return fmt.Sprintf("median %.0f MiB, worst %s of %d rounds", float64(med.maxRSS)/(1<<20), worst.rss(), len(runs))
}

// incremental runs the rounds of the incremental scenario, each against
// its own floor, and adds their rows, each named after tag.
func (b *bench) incremental(ctx context.Context, root, idx, tag string) error {
	var runs, floors []time.Duration
	var results []syncResult
	today := time.Now().Format("2006-01-02")
	for r := range b.rounds {
		if err := writeFiles(filepath.Join(root, today, "agent99"), fmt.Sprintf("new%s-%d-", tag, r), b.newN, 1_000_000_000+r*b.newN); err != nil {
			return err
		}
		res, err := b.sync(ctx, root, idx)
		if err != nil {
			return err
		}
		if res.stats.Uploaded != int64(b.newN) {
			return fmt.Errorf("round %d uploaded %d files, want %d", r, res.stats.Uploaded, b.newN)
		}
		runs = append(runs, res.wall)
		results = append(results, res)

		floorDir := filepath.Join(b.dir, "floor"+tag, fmt.Sprint(r))
		if err := writeFiles(floorDir, "f-", b.newN, 2_000_000_000+r*b.newN); err != nil {
			return err
		}
		d, err := b.floor(ctx, floorDir, fmt.Sprintf("floor%s/%d/", tag, r))
		if err != nil {
			return err
		}
		floors = append(floors, d)
	}
	run, floor := median(runs), median(floors)
	b.add(fmt.Sprintf("%sincremental sync, %d new files", tag, b.newN), fmt.Sprintf("%.3f s (median of %d)", run.Seconds(), b.rounds))
	b.add(fmt.Sprintf("%sfloor: %d files, same pool, no detection", tag, b.newN), fmt.Sprintf("%.3f s (median of %d)", floor.Seconds(), b.rounds))
	ratios := make([]float64, len(runs))
	for i := range runs {
		ratios[i] = runs[i].Seconds() / floors[i].Seconds()
	}
	slices.Sort(ratios)
	b.add(tag+"incremental / floor (target ≤ 1.10 at 100k, ≤ 1.15 at 1M and 10M indexed)", fmt.Sprintf("%.2f (of the medians; rounds' own ratios %.2f–%.2f)", run.Seconds()/floor.Seconds(), ratios[0], ratios[len(ratios)-1]))
	b.add(tag+"incremental sync: peak RSS (target ≤ 64 MiB at 10M indexed, every round)", peaks(results))
	return nil
}

func (b *bench) add(what, value string) { b.rows = append(b.rows, [2]string{what, value}) }

func (b *bench) print() {
	if b.only {
		fmt.Printf("\ns3ferry bench: fault scenarios only, %d workers, %d cores\n\n", b.workers, runtime.NumCPU())
	} else if b.peersOnly {
		fmt.Printf("\ns3ferry bench: peer scenarios only, each tool with its defaults, %d cores\n\n", runtime.NumCPU())
	} else if b.restoreOnly {
		fmt.Printf("\ns3ferry bench: restore scenarios only, each tool with its defaults, %d rounds, %d cores\n\n", b.rounds, runtime.NumCPU())
	} else {
		fmt.Printf("\ns3ferry bench: %d files already backed up, %d workers, %d cores\n\n", b.scale, b.workers, runtime.NumCPU())
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(w, "| measure\t value\t")
	fmt.Fprintln(w, "|---\t---\t")
	for _, r := range b.rows {
		fmt.Fprintf(w, "| %s\t %s\t\n", r[0], r[1])
	}
	w.Flush()
}

type syncResult struct {
	toolRun
	stats agent.Stats
}

// rss formats a run's peak RSS with its parts.
func (r toolRun) rss() string {
	return fmt.Sprintf("%.0f MiB (sampled peaks: anonymous %.0f, file-backed %.0f)", float64(r.maxRSS)/(1<<20), float64(r.peakAnon)/(1<<20), float64(r.peakFile)/(1<<20))
}

// sync runs the binary as a user would, with the look-back window.
func (b *bench) sync(ctx context.Context, root, idx string) (syncResult, error) {
	cmd := exec.CommandContext(ctx, b.bin, "sync", root, "s3://"+b.bucket+"/rec/",
		"--partition-layout", "2006-01-02", "--lookback", "48h", "--settle", "0s",
		"--index-dir", idx, "--workers", fmt.Sprint(b.workers), "--json", "--log-level", "warn")
	cmd.Env = append(os.Environ(), b.srv.Env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	run, err := measure(cmd)
	if err != nil {
		return syncResult{}, fmt.Errorf("s3ferry sync: %w", err)
	}
	res := syncResult{toolRun: run}
	if err := json.Unmarshal(out.Bytes(), &res.stats); err != nil {
		return syncResult{}, fmt.Errorf("decode totals %q: %w", out.String(), err)
	}
	return res, nil
}

// floor uploads every file of dir with the uploader s3ferry uses and the
// same number of workers, with no index and no walk of the tree: the least
// any tool could take for these files.
func (b *bench) floor(ctx context.Context, dir, prefix string) (time.Duration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	client, err := b.srv.NewClient(ctx, b.srv.Config())
	if err != nil {
		return 0, err
	}
	up := uploader.New(client.Bucket, client, uploader.Config{})
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(b.workers)
	for _, e := range entries {
		g.Go(func() error {
			_, err := up.Upload(ctx, uploader.Job{Bucket: b.bucket, Key: prefix + e.Name(), Path: filepath.Join(dir, e.Name())})
			return err
		})
	}
	err = g.Wait()
	return time.Since(start), err
}

// generate writes n files in 365 daily partitions ending today, spread over
// 20 agents a day, with mtimes an hour old so they are settled.
func generate(root string, n int) error {
	now := time.Now()
	perDay := n / 365
	g := errgroup.Group{}
	g.SetLimit(4)
	for d := range 365 {
		count := perDay
		if d == 0 {
			count += n - perDay*365
		}
		day := now.AddDate(0, 0, -364+d).Format("2006-01-02")
		g.Go(func() error {
			for a := range 20 {
				k := count / 20
				if a == 0 {
					k += count % 20
				}
				dir := filepath.Join(root, day, fmt.Sprintf("agent%02d", a))
				if err := writeFiles(dir, "call-", k, d*1_000_000+a*10_000); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// writeFiles writes n files of fileSize with distinct content.
func writeFiles(dir, prefix string, n, seed int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := make([]byte, fileSize)
	old := time.Now().Add(-time.Hour)
	for i := range n {
		binary.LittleEndian.PutUint64(buf, uint64(seed+i))
		p := filepath.Join(dir, fmt.Sprintf("%s%07d.wav", prefix, i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, old, old); err != nil {
			return err
		}
	}
	return nil
}

func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512 // allocated, not apparent: Badger preallocates
			return nil
		}
		total += info.Size()
		return nil
	})
	return total, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
