// Command s3ferry-demo is `make run`: it starts a local MinIO on loopback,
// creates a versioned bucket, generates a small recordings tree and runs
// s3ferry sync on it twice (everything, then only what is new). Then it
// starts the daemon, s3ferry run, drops a new recording into today's folder
// and prints how soon it is in the bucket, the daemon's status and the
// metrics that matter, and keeps both running until Ctrl-C (-wait=false:
// it stops them and exits, for a test).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

func main() {
	bin := flag.String("s3ferry", "bin/s3ferry", "s3ferry binary")
	minio := flag.String("minio", "", "MinIO binary")
	dir := flag.String("dir", "demo", "where the demo tree and index go")
	wait := flag.Bool("wait", true, "keep MinIO and the daemon running until Ctrl-C so you can look at them")
	flag.Parse()
	if *minio != "" {
		os.Setenv("S3FERRY_MINIO", *minio)
	}
	if err := run(os.Stdout, *bin, *dir, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, bin, dir string, wait bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	root := filepath.Join(dir, "RECORDINGS")
	idx := filepath.Join(dir, "index")

	step(out, "starting MinIO on loopback")
	srv, stopMinIO, err := s3test.StartMain()
	if err != nil {
		return err
	}
	defer stopMinIO()
	client, err := srv.NewClient(ctx, srv.Config())
	if err != nil {
		return err
	}
	const bucket = "call-recording-backup"
	if err := srv.CreateBucket(ctx, bucket, true); err != nil {
		return err
	}
	b := client.Bucket(bucket)
	fmt.Fprintf(out, "   bucket %s (versioned) at %s\n", bucket, srv.Endpoint)

	step(out, "generating a recordings tree: 7 days x 3 agents x 10 calls")
	for d := range 7 {
		day := time.Now().AddDate(0, 0, -d).Format("2006-01-02")
		for a := 1; a <= 3; a++ {
			for c := range 10 {
				p := filepath.Join(root, day, fmt.Sprintf("agent%02d", a), fmt.Sprintf("call-%s-%03d.wav", day, c))
				if err := write(p, fmt.Sprintf("RIFF demo recording %s %d %d", day, a, c)); err != nil {
					return err
				}
			}
		}
	}

	args := []string{"sync", root, "s3://" + bucket + "/recordings/", "--partition-layout", "2006-01-02",
		"--lookback", "48h", "--settle", "0s", "--index-dir", idx, "--no-progress"}
	env := append(os.Environ(), srv.Env()...)

	step(out, "first run: empty index, so a full walk uploads everything")
	if err := show(ctx, out, bin, env, args); err != nil {
		return err
	}
	step(out, "a new call lands in today's folder; the next run walks only the last 48h")
	today := time.Now().Format("2006-01-02")
	if err := write(filepath.Join(root, today, "agent07", "call-new.wav"), "RIFF a brand new call"); err != nil {
		return err
	}
	if err := show(ctx, out, bin, env, args); err != nil {
		return err
	}

	step(out, "the daemon: s3ferry run watches the tree and uploads each new file once it settles (1s here)")
	runArgs := []string{"run", root, "s3://" + bucket + "/recordings/", "--partition-layout", "2006-01-02",
		"--lookback", "48h", "--settle", "1s", "--index-dir", idx, "--admin-listen", "127.0.0.1:0"}
	d, err := startDaemon(ctx, bin, env, runArgs, filepath.Join(dir, "run.log"), filepath.Join(idx, "admin.addr"))
	if err != nil {
		return err
	}
	defer d.stop()
	fmt.Fprintf(out, "   $ s3ferry %s\n   (pid %d, logging to %s, admin endpoint %s)\n", strings.Join(runArgs, " "), d.cmd.Process.Pid, d.log, d.admin)

	step(out, "a call is recorded into today's folder while the daemon runs")
	key := "recordings/" + today + "/agent03/call-live.wav"
	written := time.Now()
	if err := os.MkdirAll(filepath.Join(root, today, "agent03"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, today, "agent03", "call-live.wav"), []byte("RIFF a call recorded just now"), 0o644); err != nil {
		return err
	}
	for {
		if _, err := b.Head(ctx, key, ""); err == nil {
			break
		}
		if time.Since(written) > time.Minute {
			return fmt.Errorf("%s is not in the bucket a minute after it was written; see %s", key, d.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "   s3://%s/%s is in the bucket %.1f s after it was written (settle 1s: a file must stop changing first)\n", bucket, key, time.Since(written).Seconds())

	step(out, "what the daemon says about itself")
	if err := show(ctx, out, bin, env, []string{"status", "--index-dir", idx}); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n   $ curl -s %s/metrics | grep ^s3ferry_   (the lines that matter)\n", d.admin)
	lines, err := d.metrics(ctx, demoMetrics)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintf(out, "   %s\n", l)
	}

	var awsEnv []string
	for _, kv := range srv.Env() {
		if strings.HasPrefix(kv, "AWS_") {
			awsEnv = append(awsEnv, kv)
		}
	}
	if !wait {
		return nil // the deferred stops end the daemon, then MinIO
	}
	step(out, "poke at it: the daemon and MinIO keep running until you press Ctrl-C")
	fmt.Fprintf(out, "   drop a file:   echo hello > %s\n", filepath.Join(root, today, "agent03", "call-mine.wav"))
	fmt.Fprintf(out, "   status:        %s status --index-dir %s\n", bin, idx)
	fmt.Fprintf(out, "   metrics:       curl -s %s/metrics | grep ^s3ferry_\n", d.admin)
	fmt.Fprintf(out, "   health:        curl -s %s/healthz\n", d.admin)
	fmt.Fprintf(out, "   daemon log:    tail -f %s\n", d.log)
	fmt.Fprintf(out, "   the bucket:    %s aws s3 ls --recursive s3://%s/recordings/%s/\n", strings.Join(awsEnv, " "), bucket, today)
	fmt.Fprintf(out, "                  (or any S3 client: endpoint %s, path-style)\n", srv.Endpoint)
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping the daemon (it drains its uploads) and MinIO")
	return nil
}

// demoMetrics are the s3ferry_* series the demo shows.
var demoMetrics = []string{
	"s3ferry_uploaded_files_total", "s3ferry_uploaded_bytes_total", "s3ferry_detection_to_upload_seconds_count",
	"s3ferry_detection_to_upload_seconds_sum", "s3ferry_queue_depth", "s3ferry_watched_directories",
	"s3ferry_index_records", "s3ferry_healthy",
}

// daemon is the demo's s3ferry run.
type daemon struct {
	cmd   *exec.Cmd
	log   string
	admin string // http://host:port
	done  chan struct{}
}

// startDaemon starts s3ferry with args, its output in logPath, and waits
// until it wrote its admin address to addrFile and answers /healthz.
func startDaemon(ctx context.Context, bin string, env, args []string, logPath, addrFile string) (*daemon, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start s3ferry run: %w", err)
	}
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	for deadline := time.Now().Add(time.Minute); ; {
		if b, err := os.ReadFile(addrFile); err == nil {
			d.admin = "http://" + strings.TrimSpace(string(b))
			if resp, err := http.Get(d.admin + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return d, nil
				}
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("s3ferry run exited: see %s", logPath)
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("s3ferry run did not answer on its admin endpoint within a minute: see %s", logPath)
		}
	}
}

// metrics returns the lines of /metrics for names, in their order.
func (d *daemon) metrics(ctx context.Context, names []string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", d.admin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", d.admin, err)
	}
	var lines []string
	for _, name := range names {
		for line := range strings.Lines(string(body)) {
			if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
				lines = append(lines, strings.TrimSpace(line))
			}
		}
	}
	return lines, nil
}

// stop ends the daemon with SIGTERM (it drains) and waits for it.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func step(out io.Writer, s string) { fmt.Fprintf(out, "\n== %s\n", s) }

func show(ctx context.Context, out io.Writer, bin string, env, args []string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	fmt.Fprintf(out, "   $ s3ferry %s\n", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("s3ferry %s: %w", args[0], err)
	}
	return nil
}

func write(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return err
	}
	old := time.Now().Add(-time.Minute)
	return os.Chtimes(p, old, old)
}
