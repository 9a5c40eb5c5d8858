package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// The fault scenarios (issue 12), through the tests' fault proxy:
//
//   - resume: a 1 GiB file is synced, the sync killed with SIGKILL once 60%
//     of it went out, and synced again; the bytes sent after the restart
//     over the file's size (target ≤ 0.45: only the parts S3 did not hold).
//   - 5xx: 2,000 files of 64 KiB synced with 10% of requests answered
//     500/503, against the same clean (target ≤ 2.0).
const (
	resumeFileSize = 1 << 30
	resumeKillAt   = 0.60
	errorFiles     = 2000
	errorFileSize  = 64 << 10
	errorFraction  = 0.10
)

func (b *bench) faultRows(ctx context.Context) error {
	proxy, err := s3test.StartFaultProxy(b.srv.Endpoint, 12)
	if err != nil {
		return err
	}
	defer proxy.Close()

	fmt.Fprintf(os.Stderr, "resume: a %d MiB file killed at %.0f%%...\n", resumeFileSize>>20, resumeKillAt*100)
	root := filepath.Join(b.dir, "faults", "resume")
	if err := writeRandom(filepath.Join(root, "cam.mp4"), resumeFileSize); err != nil {
		return err
	}
	idx := filepath.Join(b.dir, "faults", "resume-index")
	args := []string{root, "s3://" + b.bucket + "/faults/resume/", "--index-dir", idx, "--settle", "0s", "--endpoint-url", proxy.URL}
	cmd := exec.CommandContext(ctx, b.bin, append([]string{"sync", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), b.srv.Env()...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	size := float64(resumeFileSize)
	killAt := int64(resumeKillAt * size)
	for proxy.Stats().BytesForwarded < killAt {
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	before := proxy.Stats().BytesForwarded
	if _, err := b.syncVia(ctx, proxy, append([]string{"sync"}, args...)); err != nil {
		return err
	}
	again := proxy.Stats().BytesForwarded - before
	b.add(fmt.Sprintf("%d MiB file killed at %.0f%%: bytes re-sent / size (target ≤ 0.45)", resumeFileSize>>20, resumeKillAt*100),
		fmt.Sprintf("%.2f (%d MiB sent before the kill, %d MiB after)", float64(again)/resumeFileSize, before>>20, again>>20))

	fmt.Fprintf(os.Stderr, "5xx: %d files of %d KiB, clean and with %.0f%% errors...\n", errorFiles, errorFileSize>>10, errorFraction*100)
	root = filepath.Join(b.dir, "faults", "errors")
	for i := range errorFiles {
		if err := writeRandom(filepath.Join(root, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("call-%04d.wav", i)), errorFileSize); err != nil {
			return err
		}
	}
	var took [2]time.Duration
	for i, frac := range []float64{0, errorFraction} {
		proxy.Set(s3test.Faults{ServerErrors: frac})
		args := []string{"sync", root, fmt.Sprintf("s3://%s/faults/errors-%d/", b.bucket, i), "--settle", "0s", "--json",
			"--index-dir", filepath.Join(b.dir, "faults", fmt.Sprintf("errors-index-%d", i)), "--workers", fmt.Sprint(b.workers)}
		start := time.Now()
		st, err := b.syncVia(ctx, proxy, args)
		if err != nil {
			return err
		}
		took[i] = time.Since(start)
		if st.Uploaded != errorFiles || st.Failed != 0 {
			return fmt.Errorf("sync with %.0f%% 5xx: %d uploaded, %d failed; want %d and 0", frac*100, st.Uploaded, st.Failed, errorFiles)
		}
	}
	proxy.Set(s3test.Faults{})
	b.add(fmt.Sprintf("%d files, %.0f%% 5xx: time / clean time (target ≤ 2.0)", errorFiles, errorFraction*100),
		fmt.Sprintf("%.2f (%.1f s, clean %.1f s)", took[1].Seconds()/took[0].Seconds(), took[1].Seconds(), took[0].Seconds()))
	return nil
}

// syncVia runs the binary with args and the proxy as its endpoint; with
// --json among args it returns the totals.
func (b *bench) syncVia(ctx context.Context, proxy *s3test.FaultProxy, args []string) (agent.Stats, error) {
	args = append(args, "--endpoint-url", proxy.URL, "--log-level", "warn")
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(os.Environ(), b.srv.Env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return agent.Stats{}, fmt.Errorf("s3ferry %s: %w", args[0], err)
	}
	var st agent.Stats
	if bytes.HasPrefix(bytes.TrimSpace(out.Bytes()), []byte("{")) {
		if err := json.Unmarshal(out.Bytes(), &st); err != nil {
			return agent.Stats{}, fmt.Errorf("decode totals %q: %w", out.String(), err)
		}
	}
	return st, nil
}

// writeRandom writes size random bytes to path.
func writeRandom(path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
