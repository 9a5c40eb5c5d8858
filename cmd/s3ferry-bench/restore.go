package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// The restore scenarios (issue 25): s3ferry restore beside s5cmd cp (and
// aws s3 cp when the AWS CLI is installed), each with its defaults, from
// the same MinIO into a fresh directory every time, the tools alternating
// within each of -rounds rounds; medians are reported, and every restore
// is checked to have written every file and byte.
//
//   - large files: -restore-big-files files of -restore-big-size, on
//     loopback and through a proxy that adds restoreDelay to each request
//     and caps each TCP stream at restoreStreamRate (a distant region,
//     whose window bounds one stream);
//   - small files: -restore-files files of fileSize, on loopback.
const (
	restoreDelay      = 30 * time.Millisecond
	restoreStreamRate = 20 << 20
	// restoreRSS is the most s3ferry may hold restoring.
	restoreRSS = 128 << 20
)

// restoreTool is one way of restoring a prefix: it writes every object
// below prefix of the bench bucket into dir, through endpoint.
type restoreTool struct {
	name string
	run  func(ctx context.Context, prefix, dir, endpoint string) (toolRun, error)
}

// restoreRows measures the restore scenarios and adds their rows.
func (b *bench) restoreRows(ctx context.Context) error {
	var err error
	if b.s5cmd, err = exec.LookPath(b.s5cmd); err != nil {
		return fmt.Errorf("s5cmd for the restore scenarios: %w (make bench builds the pinned one; or -restore=false)", err)
	}
	tools := []restoreTool{{"s3ferry restore", b.s3ferryRestore}, {"s5cmd cp", b.s5cmdGet}}
	if aws, err := exec.LookPath("aws"); err == nil && exec.CommandContext(ctx, aws, "--version").Run() == nil {
		tools = append(tools, restoreTool{"aws s3 cp", func(ctx context.Context, prefix, dir, endpoint string) (toolRun, error) {
			return b.runTool(ctx, nil, nil, aws, "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--only-show-errors",
				"s3://"+b.bucket+"/"+prefix, dir+"/")
		}})
	} else {
		fmt.Fprintln(os.Stderr, "restore: no aws CLI here, measuring s3ferry beside s5cmd only")
	}

	big := filepath.Join(b.dir, "restore", "large")
	for i := range b.restoreBigFiles {
		if err := writeRandom(filepath.Join(big, fmt.Sprintf("cam%d.mp4", i)), b.restoreBigSize); err != nil {
			return err
		}
	}
	if _, err := b.s3ferrySync(ctx, big, "restore/large/", b.srv.Endpoint); err != nil {
		return err
	}
	if err := os.RemoveAll(big); err != nil {
		return err
	}
	proxy, err := s3test.StartFaultProxy(b.srv.Endpoint, 25)
	if err != nil {
		return err
	}
	defer proxy.Close()
	proxy.Set(s3test.Faults{Latency: restoreDelay, StreamRate: restoreStreamRate})
	bigBytes := int64(b.restoreBigFiles) * b.restoreBigSize
	for _, at := range []struct{ where, endpoint string }{
		{"loopback", b.srv.Endpoint},
		{fmt.Sprintf("+%s per request, %d MiB/s per stream", restoreDelay, restoreStreamRate>>20), proxy.URL},
	} {
		what := fmt.Sprintf("restore %d × %d MiB, %s", b.restoreBigFiles, b.restoreBigSize>>20, at.where)
		runs, err := b.compareRestores(ctx, "restore/large/", at.endpoint, b.restoreBigFiles, bigBytes, tools)
		if err != nil {
			return err
		}
		b.restoreRatios(what, runs, tools, func(d time.Duration) string {
			return fmt.Sprintf("%.0f MB/s", float64(bigBytes)/1e6/d.Seconds())
		})
	}

	small := filepath.Join(b.dir, "restore", "small")
	if err := writeFiles(small, "call-", b.restoreFiles, 4_000_000_000); err != nil {
		return err
	}
	if _, err := b.s3ferrySync(ctx, small, "restore/small/", b.srv.Endpoint); err != nil {
		return err
	}
	if err := os.RemoveAll(small); err != nil {
		return err
	}
	what := fmt.Sprintf("restore %d × %d KiB, loopback", b.restoreFiles, fileSize>>10)
	runs, err := b.compareRestores(ctx, "restore/small/", b.srv.Endpoint, b.restoreFiles, int64(b.restoreFiles)*fileSize, tools)
	if err != nil {
		return err
	}
	b.restoreRatios(what, runs, tools, func(d time.Duration) string {
		return fmt.Sprintf("%.0f files/s", float64(b.restoreFiles)/d.Seconds())
	})
	return nil
}

// restoreRatios adds the rows of one scenario: each tool's rate until it
// exits and until what it wrote is on disk, its peak RSS, and s3ferry's
// rates over the best peer's, round by round (a ratio within a round is
// what compares on a shared machine).
func (b *bench) restoreRatios(what string, runs [][]toolRun, tools []restoreTool, rate func(time.Duration) string) {
	for i, t := range tools {
		m := summarize(runs[i])
		b.add(what+": "+t.name, fmt.Sprintf("%s until it exits, %s on disk (medians of %d), peak RSS %.0f MiB",
			rate(m.wall), rate(m.onDisk), len(runs[i]), mib(m.maxRSS)))
	}
	for _, until := range []struct {
		name string
		of   func(toolRun) time.Duration
	}{
		{"until it exits", func(r toolRun) time.Duration { return r.wall }},
		{"until on disk (the peers do not sync; a sync after each tool is counted)", func(r toolRun) time.Duration { return r.onDisk }},
	} {
		var ratios []float64
		for r := range runs[0] {
			best := time.Duration(1<<63 - 1)
			for i := 1; i < len(tools); i++ {
				best = min(best, until.of(runs[i][r]))
			}
			ratios = append(ratios, best.Seconds()/until.of(runs[0][r]).Seconds())
		}
		b.add(fmt.Sprintf("%s: s3ferry / best peer %s, same round (target ≥ 1.0, RSS ≤ %d MiB)", what, until.name, restoreRSS>>20),
			fmt.Sprintf("%.2f (median; rounds %s), peak RSS %.0f MiB", medianFloat(ratios), formatRatios(ratios), mib(summarize(runs[0]).maxRSS)))
	}
}

func formatRatios(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, " ")
}

// compareRestores restores prefix with each tool through endpoint,
// b.rounds times, the order alternating from round to round, each into a
// new directory that is checked (files objects, size bytes) and removed;
// it returns each tool's runs.
//
// The file system of b.dir is synced before each run, untimed, so that no
// run writes back what the one before left dirty (s3ferry's syncfs would
// pay for a peer's bytes), and after it, timed: toolRun.onDisk is the
// time until what the tool wrote is on disk. s3ferry syncs every file
// before it links it into place; s5cmd and aws leave their bytes in the
// page cache when they exit.
func (b *bench) compareRestores(ctx context.Context, prefix, endpoint string, files int, size int64, tools []restoreTool) ([][]toolRun, error) {
	runs := make([][]toolRun, len(tools))
	for r := range b.rounds {
		for j := range tools {
			i := j
			if r%2 == 1 {
				i = len(tools) - 1 - j
			}
			t := tools[i]
			dir := filepath.Join(b.dir, "restored", fmt.Sprintf("%d-%s", r, strings.Fields(t.name)[0]))
			fmt.Fprintf(os.Stderr, "restore: %s of %s via %s, round %d of %d...\n", t.name, prefix, endpoint, r+1, b.rounds)
			if _, err := syncFS(b.dir); err != nil {
				return nil, err
			}
			run, err := t.run(ctx, prefix, dir, endpoint)
			if err != nil {
				return nil, err
			}
			took, err := syncFS(b.dir)
			if err != nil {
				return nil, err
			}
			run.onDisk = run.wall + took
			n, got, err := treeSize(dir)
			if err != nil {
				return nil, err
			}
			if n != int64(files) || got != size {
				return nil, fmt.Errorf("%s of %s: %d files of %d bytes written, want %d of %d", t.name, prefix, n, got, files, size)
			}
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], run)
		}
	}
	return runs, nil
}

// s3ferryRestore is `s3ferry restore` of prefix into dir with s3ferry's
// defaults.
func (b *bench) s3ferryRestore(ctx context.Context, prefix, dir, endpoint string) (toolRun, error) {
	var out bytes.Buffer
	run, err := b.runTool(ctx, &out, nil, b.bin, "restore", "s3://"+b.bucket+"/"+prefix, "--to", dir,
		"--endpoint-url", endpoint, "--json", "--log-level", "warn")
	if err != nil {
		return run, err
	}
	var st bucket.RestoreStats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return run, fmt.Errorf("decode totals %q: %w", out.String(), err)
	}
	if st.Failed != 0 {
		return run, fmt.Errorf("s3ferry restore of %s: %d files failed", prefix, st.Failed)
	}
	return run, nil
}

// s5cmdGet is `s5cmd cp 's3://bucket/prefix/*' dir/` with s5cmd's defaults.
func (b *bench) s5cmdGet(ctx context.Context, prefix, dir, endpoint string) (toolRun, error) {
	return b.runTool(ctx, nil, nil, b.s5cmd, "--endpoint-url", endpoint, "cp", "s3://"+b.bucket+"/"+prefix+"*", dir+"/")
}

// treeSize counts the regular files below dir and their bytes.
func treeSize(dir string) (n, size int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		return nil
	})
	return n, size, err
}

// syncFS writes back every dirty page of the file system dir is on
// (syncfs(2)) and says how long that took.
func syncFS(dir string) (time.Duration, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return 0, fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return time.Since(start), nil
}
