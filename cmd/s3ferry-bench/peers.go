package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// The peer scenarios (issue 14): s3ferry beside the tools its users would
// otherwise run, each as users run it (its defaults: s3ferry's adaptive
// pool, s5cmd's and mc's own workers and part sizes), on the same MinIO,
// into a fresh prefix every time, the tools alternating within each of
// -rounds rounds; medians are reported, and every upload is checked to have
// landed (objects and bytes) so a tool that failed cannot look fast.
//
//   - backfill: peerFiles files of fileSize into a new prefix (s3ferry with
//     a fresh index) against `s5cmd cp 'DIR/*'`, on loopback and through a
//     proxy adding peerDelay to each request (a distant region);
//   - large files: peerBigFiles of peerBigSize on loopback, s3ferry (and
//     its peak RSS) against `s5cmd cp` and `mc cp`.
const (
	peerFiles    = 3000
	peerBigFiles = 2
	peerBigSize  = 1 << 30
	peerDelay    = 30 * time.Millisecond
	// peerBigRSS is the most s3ferry may hold sending the large files.
	peerBigRSS = 64 << 20
)

// peer is one way of uploading a directory: it runs a tool that sends every
// file of dir below prefix of the bench bucket through endpoint.
type peer struct {
	name string
	run  func(ctx context.Context, dir, prefix, endpoint string) (toolRun, error)
}

// toolRun is how one run of a tool went (or, summarized, several).
type toolRun struct {
	wall   time.Duration
	maxRSS int64 // bytes
	// peakAnon, peakFile: the sampled peaks of anonymous and file-backed
	// resident memory, which VmHWM does not tell apart: the Go heap and
	// runtime, and the pages of the index's memory-mapped tables.
	peakAnon, peakFile int64
	// onDisk is, for a restore, wall and the time a sync of the file
	// system after it took: until what the tool wrote is on disk.
	onDisk time.Duration
}

// peerRows measures the peer scenarios and adds their rows: rates, the
// ratios of the targets, and every tool's peak RSS.
func (b *bench) peerRows(ctx context.Context) error {
	var err error
	if b.s5cmd, err = exec.LookPath(b.s5cmd); err != nil {
		return fmt.Errorf("s5cmd for the peer scenarios: %w (make bench builds the pinned one; or -peers=false)", err)
	}
	if b.mc, err = s3test.MC(); err != nil {
		return fmt.Errorf("mc for the peer scenarios: %w", err)
	}
	s5cmd := peer{"s5cmd cp", b.s5cmdCp}
	dir := filepath.Join(b.dir, "peers", "backfill")
	if err := writeFiles(dir, "call-", peerFiles, 3_000_000_000); err != nil {
		return err
	}
	small := int64(peerFiles) * fileSize
	proxy, stop, err := delayingProxy(b.srv.Endpoint, peerDelay)
	if err != nil {
		return err
	}
	defer stop()
	for _, at := range []struct{ where, endpoint string }{
		{"loopback", b.srv.Endpoint},
		{fmt.Sprintf("+%s per request", peerDelay), proxy},
	} {
		runs, err := b.comparePeers(ctx, dir, at.endpoint, peerFiles, small, []peer{{"s3ferry sync", b.s3ferrySync}, s5cmd})
		if err != nil {
			return err
		}
		ours, theirs := summarize(runs[0]), summarize(runs[1])
		rate := func(d time.Duration) float64 { return peerFiles / d.Seconds() }
		what := fmt.Sprintf("backfill %d × %d KiB, %s", peerFiles, fileSize>>10, at.where)
		b.add(what+": s3ferry sync", fmt.Sprintf("%.0f files/s (median of %d), peak RSS %.0f MiB", rate(ours.wall), b.rounds, mib(ours.maxRSS)))
		b.add(what+": s5cmd cp", fmt.Sprintf("%.0f files/s (median of %d), peak RSS %.0f MiB", rate(theirs.wall), b.rounds, mib(theirs.maxRSS)))
		b.add(what+": s3ferry / s5cmd cp (target ≥ 1.0)", fmt.Sprintf("%.2f", theirs.wall.Seconds()/ours.wall.Seconds()))
	}

	dir = filepath.Join(b.dir, "peers", "large")
	for i := range peerBigFiles {
		if err := writeRandom(filepath.Join(dir, fmt.Sprintf("cam%d.mp4", i)), peerBigSize); err != nil {
			return err
		}
	}
	big := int64(peerBigFiles) * peerBigSize
	peers := []peer{{"s3ferry sync", b.s3ferrySync}, s5cmd, {"mc cp", b.mcCp}}
	runs, err := b.comparePeers(ctx, dir, b.srv.Endpoint, peerBigFiles, big, peers)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d × %d MiB, loopback", peerBigFiles, peerBigSize>>20)
	rate := func(d time.Duration) float64 { return float64(big) / 1e6 / d.Seconds() }
	ours := summarize(runs[0])
	var best float64
	for i, p := range peers {
		m := summarize(runs[i])
		b.add(fmt.Sprintf("%s: %s", what, p.name), fmt.Sprintf("%.0f MB/s (median of %d), peak RSS %.0f MiB", rate(m.wall), b.rounds, mib(m.maxRSS)))
		if i > 0 {
			best = max(best, rate(m.wall))
		}
	}
	b.add(fmt.Sprintf("%s: s3ferry / best peer, s3ferry peak RSS ≤ %d MiB (target ≥ 1.0)", what, peerBigRSS>>20),
		fmt.Sprintf("%.2f, peak RSS %.0f MiB", rate(ours.wall)/best, mib(ours.maxRSS)))
	return nil
}

// comparePeers uploads dir (files objects, size bytes) with each peer
// through endpoint, b.rounds times, the order alternating from round to
// round; it returns each peer's runs. Every upload is checked to have
// landed in full, then removed, versions and all.
func (b *bench) comparePeers(ctx context.Context, dir, endpoint string, files int, size int64, peers []peer) ([][]toolRun, error) {
	runs := make([][]toolRun, len(peers))
	for r := range b.rounds {
		for j := range peers {
			i := j
			if r%2 == 1 {
				i = len(peers) - 1 - j
			}
			p := peers[i]
			prefix := fmt.Sprintf("peers/%s/%d-%s/", filepath.Base(dir), r, strings.Fields(p.name)[0])
			fmt.Fprintf(os.Stderr, "peers: %s of %s via %s, round %d of %d...\n", p.name, filepath.Base(dir), endpoint, r+1, b.rounds)
			run, err := p.run(ctx, dir, prefix, endpoint)
			if err != nil {
				return nil, err
			}
			n, bytes, err := b.listed(ctx, b.client, prefix)
			if err != nil {
				return nil, err
			}
			if n != int64(files) || bytes != size {
				return nil, fmt.Errorf("%s into %s: %d objects of %d bytes landed, want %d of %d", p.name, prefix, n, bytes, files, size)
			}
			if err := b.purge(ctx, prefix); err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], run)
		}
	}
	return runs, nil
}

// s3ferrySync is `s3ferry sync` of dir into a new prefix with a fresh
// index and s3ferry's defaults.
func (b *bench) s3ferrySync(ctx context.Context, dir, prefix, endpoint string) (toolRun, error) {
	idx, err := os.MkdirTemp(b.dir, "peers-index-")
	if err != nil {
		return toolRun{}, err
	}
	defer os.RemoveAll(idx)
	var out bytes.Buffer
	run, err := b.runTool(ctx, &out, nil, b.bin, "sync", dir, "s3://"+b.bucket+"/"+prefix,
		"--index-dir", idx, "--settle", "0s", "--endpoint-url", endpoint, "--json", "--log-level", "warn")
	if err != nil {
		return run, err
	}
	var st agent.Stats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return run, fmt.Errorf("decode totals %q: %w", out.String(), err)
	}
	if st.Failed != 0 {
		return run, fmt.Errorf("s3ferry sync of %s: %d files failed", dir, st.Failed)
	}
	return run, nil
}

// s5cmdCp is `s5cmd cp 'DIR/*' s3://bucket/prefix/` with s5cmd's defaults.
func (b *bench) s5cmdCp(ctx context.Context, dir, prefix, endpoint string) (toolRun, error) {
	return b.runTool(ctx, nil, nil, b.s5cmd, "--endpoint-url", endpoint, "cp", dir+"/*", "s3://"+b.bucket+"/"+prefix)
}

// mcCp is `mc cp` of every file of dir with mc's defaults, the server
// given as an alias by MC_HOST_<alias>, as s3test.Server.MC does.
func (b *bench) mcCp(ctx context.Context, dir, prefix, endpoint string) (toolRun, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return toolRun{}, err
	}
	args := []string{"--config-dir", filepath.Join(b.dir, "mc"), "--quiet", "--no-color", "cp"}
	for _, e := range entries {
		args = append(args, filepath.Join(dir, e.Name()))
	}
	args = append(args, s3test.Alias+"/"+b.bucket+"/"+prefix)
	host, err := url.Parse(endpoint)
	if err != nil {
		return toolRun{}, err
	}
	host.User = url.UserPassword(b.srv.AccessKey, b.srv.SecretKey)
	return b.runTool(ctx, nil, []string{"MC_HOST_" + s3test.Alias + "=" + host.String()}, b.mc, args...)
}

// runTool runs bin with args and the server's environment plus env,
// stdout into out (nil: discarded), and returns its wall time and peak RSS.
func (b *bench) runTool(ctx context.Context, out *bytes.Buffer, env []string, bin string, args ...string) (toolRun, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), b.srv.Env()...), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out != nil {
		cmd.Stdout = out
	}
	run, err := measure(cmd)
	if err != nil {
		return toolRun{}, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return run, nil
}

// rssSample is how often measure reads a child's peak RSS.
const rssSample = 10 * time.Millisecond

// measure runs cmd and returns its wall time and peak RSS, the kernel's
// high-water mark of its memory (VmHWM) read every rssSample while it
// runs. Not wait4's ru_maxrss: Linux carries the parent's high-water mark
// into a child across exec (Go starts children with vfork), so every child
// of a bench holding 200 MiB would report at least 200 MiB.
func measure(cmd *exec.Cmd) (toolRun, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return toolRun{}, err
	}
	var run toolRun
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(rssSample)
		defer t.Stop()
		for {
			if m, err := readMem(cmd.Process.Pid); err == nil {
				run.maxRSS, run.peakAnon, run.peakFile = max(run.maxRSS, m.hwm), max(run.peakAnon, m.anon), max(run.peakFile, m.file)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	<-sampled
	run.wall = wall
	return run, err
}

// listed counts the objects below prefix and their bytes.
// One listing of one part (Depth 0), page after page: emit is never
// called concurrently.
func (b *bench) listed(ctx context.Context, client *s3.Client, prefix string) (n, size int64, err error) {
	err = client.Bucket(b.bucket).List(ctx, prefix, uploader.ListOptions{Workers: 1}, func(o uploader.Object) error {
		n++
		size += o.Size
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	return n, size, nil
}

// purge deletes every version below prefix, so the peers' runs do not
// fill the disk.
func (b *bench) purge(ctx context.Context, prefix string) error {
	return b.srv.DeleteAll(ctx, b.bucket, prefix)
}

// summarize is the median wall time of runs and their peak RSS.
func summarize(runs []toolRun) toolRun {
	var s toolRun
	walls, onDisk := make([]time.Duration, len(runs)), make([]time.Duration, len(runs))
	for i, r := range runs {
		walls[i], onDisk[i] = r.wall, r.onDisk
		s.maxRSS = max(s.maxRSS, r.maxRSS)
	}
	s.wall, s.onDisk = median(walls), median(onDisk)
	return s
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
