package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// daemonProc is a running `s3ferry run` under test.
type daemonProc struct {
	cmd   *exec.Cmd
	admin string // http://host:port, the TCP endpoint; "" when it is off
	sock  string // the admin socket
	token string // admin bearer token, from --admin-token-file
	out   *syncBuffer
	done  chan struct{}
	err   error // Wait's result, once done is closed
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs s3ferry run on the test's tree and index with a short
// settle, and waits until its admin endpoint answers.
func (e *testEnv) startDaemon(tb testing.TB, flags ...string) *daemonProc {
	tb.Helper()
	return e.startDaemonWith(tb, nil, flags...)
}

// startDaemonWith is startDaemon with env added to the daemon's environment.
func (e *testEnv) startDaemonWith(tb testing.TB, env []string, flags ...string) *daemonProc {
	tb.Helper()
	return e.startDaemonUnder(tb, nil, env, flags...)
}

// startDaemonUnder is startDaemonWith run by the command wrap (prlimit
// ... , which then executes the daemon); nil: none.
func (e *testEnv) startDaemonUnder(tb testing.TB, wrap, env []string, flags ...string) *daemonProc {
	tb.Helper()
	_ = os.Remove(filepath.Join(e.index, "admin.addr"))
	args := append([]string{"run", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index,
		"--admin-listen", "127.0.0.1:0", "--settle", "500ms", "--rescan-interval", "1h", "--log-level", "debug"}, flags...)
	cmd := exec.Command(binary, args...)
	if len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(append(wrap[1:len(wrap):len(wrap)], binary), args...)...)
	}
	d := &daemonProc{cmd: cmd, sock: filepath.Join(e.index, "admin.sock"), out: &syncBuffer{}, done: make(chan struct{})}
	for i, f := range flags {
		if f == "--"+flagAdminTokenFile && i+1 < len(flags) {
			b, err := os.ReadFile(flags[i+1])
			if err != nil {
				tb.Fatal(err)
			}
			d.token = strings.TrimSpace(string(b))
		}
	}
	d.cmd.Env = append(append(os.Environ(), e.srv.Env()...), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	tb.Cleanup(func() { d.kill() })
	// The daemon serves its socket before it listens on TCP and writes
	// the address there: with the helper's own TCP address, wait for that
	// too (a flag of the test's may name one that is taken).
	wantAddr := !slices.Contains(flags, "--"+flagAdminListen)
	eventually(tb, 30*time.Second, "the admin endpoint to answer and the catch-up walk to end", func() bool {
		select {
		case <-d.done:
			tb.Fatalf("s3ferry run exited early: %v\n%s", d.err, d.out)
		default:
		}
		if b, err := os.ReadFile(filepath.Join(e.index, "admin.addr")); err == nil {
			d.admin = "http://" + strings.TrimSpace(string(b))
		}
		resp, err := d.get("/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st admin.Status
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Rescans) > 0 &&
			(d.admin != "" || !wantAddr)
	})
	return d
}

// get sends GET path to the daemon's admin socket.
func (d *daemonProc) get(path string) (*http.Response, error) {
	return socketClient(d.sock).Get("http://s3ferry" + path)
}

// socketClient is an HTTP client of the admin socket sock.
func socketClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
}

// tcpGet sends GET path to the TCP admin endpoint, with the daemon's
// token.
func (d *daemonProc) tcpGet(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, d.admin+path, nil)
	if err != nil {
		return nil, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	return http.DefaultClient.Do(req)
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemonProc) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// stop sends SIGTERM and returns the exit code, failing the test if the
// process does not exit within limit.
func (d *daemonProc) stop(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(limit):
		tb.Fatalf("s3ferry run did not exit within %s of SIGTERM\n%s", limit, d.out)
	}
	return d.cmd.ProcessState.ExitCode()
}

// metric reads one unlabelled metric from /metrics.
func (d *daemonProc) metric(tb testing.TB, name string) float64 {
	tb.Helper()
	for line := range strings.Lines(d.metrics(tb)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return f
		}
	}
	tb.Fatalf("metric %s not found", name)
	return 0
}

func (d *daemonProc) status(tb testing.TB) admin.Status {
	tb.Helper()
	resp, err := d.get("/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st admin.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		tb.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds or within has passed. It waits for
// asynchronous behaviour; it is not a speed assertion (make bench measures).
func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hasKeys reports whether every key is in the bucket under rec/.
func (e *testEnv) hasKeys(tb testing.TB, keys ...string) bool {
	tb.Helper()
	have := map[string]bool{}
	for _, k := range e.keys(tb) {
		have[k] = true
	}
	for _, k := range keys {
		if !have[k] {
			return false
		}
	}
	return true
}

func writeNow(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestRunUploadsNewFilesWherheverTheyAppear(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/agent01/old.wav", "before start", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	// The catch-up walk uploads what was there before the start.
	eventually(t, 30*time.Second, "the file from before the start", func() bool { return e.hasKeys(t, day(0)+"/agent01/old.wav") })

	writeNow(t, filepath.Join(e.root, day(0), "agent01", "new.wav"), "in an existing dir")
	// A new date directory, and nested directories written into at once.
	writeNow(t, filepath.Join(e.root, day(1), "agent02", "tomorrow.wav"), "in a new date dir")
	deep := filepath.Join(e.root, day(0), "agent03", "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		writeNow(t, filepath.Join(deep, fmt.Sprintf("burst-%d.wav", i)), fmt.Sprint("burst ", i))
	}
	// A rename into the tree counts as a new file.
	tmp := filepath.Join(e.root, day(0), "agent01", "rename.wav.tmp")
	writeNow(t, tmp, "renamed in")
	if err := os.Rename(tmp, filepath.Join(e.root, day(0), "agent01", "renamed.wav")); err != nil {
		t.Fatal(err)
	}
	want := []string{day(0) + "/agent01/new.wav", day(1) + "/agent02/tomorrow.wav", day(0) + "/agent01/renamed.wav"}
	for i := range 5 {
		want = append(want, fmt.Sprintf("%s/agent03/a/b/c/burst-%d.wav", day(0), i))
	}
	eventually(t, 30*time.Second, "every new file in the bucket", func() bool { return e.hasKeys(t, want...) })
	if got := e.object(t, day(0)+"/agent03/a/b/c/burst-4.wav"); got != "burst 4" {
		t.Fatalf("burst-4.wav = %q", got)
	}
	if keys := e.keys(t); len(keys) != 9 {
		t.Fatalf("bucket has %q, want the 9 files and no temporary one", keys)
	}

	// Metrics and status agree with the bucket.
	eventually(t, 10*time.Second, "the upload counter", func() bool { return d.metric(t, "s3ferry_uploaded_files_total") == 9 })
	if got := d.metric(t, "s3ferry_watched_directories"); got < 8 {
		t.Errorf("s3ferry_watched_directories = %v, want at least the 8 directories of the tree", got)
	}
	if got := d.metric(t, "s3ferry_index_records"); got != 9 {
		t.Errorf("s3ferry_index_records = %v, want 9", got)
	}
	st := d.status(t)
	if !st.Daemon || !st.Healthy || len(st.Sources) != 1 || st.Sources[0].Records != 9 || st.Sources[0].Pending != 0 || st.Totals.Uploaded != 9 {
		t.Errorf("status = %+v, want a healthy daemon with 9 records and nothing pending", st)
	}
	r := e.run(t, "status", e.root, "s3://"+e.bucket+"/rec/", "--index-dir", e.index, "--json")
	var cli admin.Status
	if err := json.Unmarshal([]byte(r.stdout), &cli); err != nil || !cli.Daemon || cli.Sources[0].Records != 9 {
		t.Errorf("s3ferry status --json = %q (%v), want the daemon's status", r.stdout, err)
	}
	// SIGHUP does not reload, and does not kill the daemon either.
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the SIGHUP to be logged", func() bool { return strings.Contains(d.out.String(), "SIGHUP") })
	if st := d.status(t); !st.Daemon {
		t.Fatal("daemon gone after SIGHUP")
	}
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0\n%s", code, d.out)
	}
	// Without a daemon, status reads the index.
	r = e.run(t, "status", e.root, "s3://"+e.bucket+"/rec/", "--index-dir", e.index)
	if r.code != 0 || !strings.Contains(r.stdout, "no daemon running") || !strings.Contains(r.stdout, "files recorded  9") {
		t.Errorf("status without daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestRunSlowWriterUploadedOnceComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.startDaemon(t, "--settle", "1s")
	path := filepath.Join(e.root, "slow.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 8 { // about 3 s of writing, a chunk every 400 ms
		chunk := fmt.Sprintf("chunk %d of a slow recording\n", i)
		want.WriteString(chunk)
		if _, err := f.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the slow file", func() bool { return e.hasKeys(t, "slow.wav") })
	eventually(t, 10*time.Second, "the upload to be recorded", func() bool { return d.metric(t, "s3ferry_uploaded_files_total") == 1 })
	if got := e.object(t, "slow.wav"); got != want.String() {
		t.Fatalf("object = %q, want the whole file %q", got, want.String())
	}
	if n := e.versions(t, "slow.wav"); n != 1 {
		t.Fatalf("%d versions, want 1: a file being written is uploaded once, after it settles", n)
	}
	// Rewritten later: a new version with the new content.
	writeNow(t, path, "a new take")
	eventually(t, 30*time.Second, "the second version", func() bool { return e.versions(t, "slow.wav") == 2 })
	if got := e.object(t, "slow.wav"); got != "a new take" {
		t.Fatalf("object = %q after rewrite", got)
	}
}

// lowerInotifyQueue sets fs.inotify.max_queued_events to n for the inotify
// instances created until the returned restore is called. It reports false
// where the sysctl cannot be written (not root, or a read-only /proc).
func lowerInotifyQueue(tb testing.TB, n int) (restore func(), ok bool) {
	tb.Helper()
	const p = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(n)), 0o644); err != nil {
		return nil, false
	}
	var once sync.Once
	restore = func() { once.Do(func() { _ = os.WriteFile(p, old, 0o644) }) }
	tb.Cleanup(restore)
	return restore, true
}

func TestRunRecoversFromWatchOverflow(t *testing.T) {
	// Not parallel: it lowers a machine-wide limit for a moment.
	e := newEnv(t)
	restore, ok := lowerInotifyQueue(t, 16)
	if !ok {
		t.Skip("cannot lower fs.inotify.max_queued_events here; agent's TestWatchOverflowTriggersRescan covers the handling")
	}
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	restore() // only the daemon's inotify instance has the small queue
	dir := filepath.Join(e.root, day(0), "burst")
	var want []string
	for i := range 400 {
		writeNow(t, filepath.Join(dir, fmt.Sprintf("f%03d.wav", i)), fmt.Sprint(i))
		want = append(want, fmt.Sprintf("%s/burst/f%03d.wav", day(0), i))
	}
	eventually(t, 60*time.Second, "all 400 files of the burst", func() bool { return e.hasKeys(t, want...) })
	if got := d.metric(t, "s3ferry_watch_overflows_total"); got < 1 {
		t.Fatalf("s3ferry_watch_overflows_total = %v: the burst did not overflow a 16-event queue, the test proves nothing", got)
	}
}

func TestRunSurvivesKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 300
	// Uploads slowed down so that every kill lands while some are in flight.
	flags := []string{"--bwlimit", "256KiB/s", "--workers", "4"}
	d := e.startDaemon(t, flags...)
	want := map[string]string{}
	for i := range n {
		rel := fmt.Sprintf("d%d/f%03d.wav", i%7, i)
		content := strings.Repeat(fmt.Sprintf("content of %d ", i), 200)
		writeNow(t, filepath.Join(e.root, rel), content)
		want[rel] = content
		if i%75 == 74 { // crash in the middle of the burst, and restart
			eventually(t, 30*time.Second, "uploads in flight", func() bool { return d.metric(t, "s3ferry_uploads_in_flight") > 0 })
			d.kill()
			d = e.startDaemon(t, flags...)
		}
	}
	keys := make([]string, 0, n)
	for k := range want {
		keys = append(keys, k)
	}
	eventually(t, 90*time.Second, "every file after the crashes", func() bool { return e.hasKeys(t, keys...) })
	eventually(t, 30*time.Second, "the queue to drain", func() bool {
		st := d.status(t)
		return st.Sources[0].Pending == 0 && st.InFlight == 0 && st.Sources[0].Records == n
	})
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	for rel, content := range want {
		if got := e.object(t, rel); got != content {
			t.Fatalf("%s in the bucket differs from the file", rel)
		}
	}
	// Every record in the index names a version the bucket has.
	idx, err := index.Open(e.index, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	srcID := sourceID(t, e)
	records := 0
	err = idx.Records(srcID, "", func(rel string, r index.Record) error {
		records++
		_, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{
			Bucket: aws.String(e.bucket), Key: aws.String("rec/" + rel), VersionId: aws.String(r.VersionID),
		})
		if err != nil {
			return fmt.Errorf("index records %s version %s, the bucket says: %w", rel, r.VersionID, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != n {
		t.Fatalf("index has %d records, want %d", records, n)
	}
}

// sourceID is the index's name for the test's source.
func sourceID(tb testing.TB, e *testEnv) string {
	tb.Helper()
	src := local.Source{Root: e.root, Bucket: e.bucket, Prefix: "rec/"}
	return src.ID()
}

func TestRunSigtermDrainsThenRestartFinishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 6
	// 256 KiB files at 128 KiB/s: uploads are still running when SIGTERM comes.
	d := e.startDaemon(t, "--bwlimit", "128KiB/s", "--workers", "2", "--shutdown-timeout", "1s")
	var keys []string
	for i := range n {
		rel := fmt.Sprintf("big-%d.wav", i)
		writeNow(t, filepath.Join(e.root, rel), strings.Repeat(strconv.Itoa(i), 256<<10))
		keys = append(keys, rel)
	}
	eventually(t, 30*time.Second, "uploads to start", func() bool { return d.metric(t, "s3ferry_uploads_in_flight") > 0 })
	start := time.Now()
	if code := d.stop(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, d.out)
	}
	t.Logf("exited %s after SIGTERM", time.Since(start))
	if e.hasKeys(t, keys...) {
		t.Fatal("every file was uploaded before the stop: the test did not interrupt anything")
	}
	d = e.startDaemon(t)
	eventually(t, 60*time.Second, "the rest after restart", func() bool { return e.hasKeys(t, keys...) })
	for i, k := range keys {
		if got := e.object(t, k); got != strings.Repeat(strconv.Itoa(i), 256<<10) {
			t.Fatalf("%s is not the whole file", k)
		}
	}
}

// The pool's size is visible where an operator looks: /metrics, /status
// and sync's totals say the number of files uploaded at once, fixed or
// (workers auto, before any upload made it adapt) the starting size.
func TestUploadWorkersReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		flags []string
		want  int
	}{{[]string{"--workers", "3"}, 3}, {nil, agent.DefaultWorkers}} {
		d := e.startDaemon(t, c.flags...)
		if got := d.metric(t, "s3ferry_upload_workers"); got != float64(c.want) {
			t.Errorf("with %q: s3ferry_upload_workers = %v, want %d", c.flags, got, c.want)
		}
		if got := d.status(t).Workers; got != c.want {
			t.Errorf("with %q: /status workers = %d, want %d", c.flags, got, c.want)
		}
		if code := d.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM\n%s", code, d.out)
		}
	}
	e.write(t, "a.wav", "a", time.Hour)
	if st := e.sync(t, 0, "--workers", "5"); st.Workers != 5 || st.Uploaded != 1 {
		t.Errorf("sync --workers 5 totals = %+v, want workers 5 and 1 uploaded", st)
	}
}

func TestSyncAsksTheRunningDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startDaemon(t, "--partition-layout", "2006-01-02")
	// A late file in an old partition is not watched; sync --full finds it,
	// through the daemon that holds the index.
	e.write(t, day(-100)+"/late.wav", "late", time.Hour)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--full", "--json")
	if r.code != 0 {
		t.Fatalf("sync while the daemon runs: exit %d\n%s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 {
		t.Fatalf("sync via the daemon: %+v, want the late file uploaded", got)
	}
	if got := e.object(t, day(-100)+"/late.wav"); got != "late" {
		t.Fatalf("late.wav = %q", got)
	}
}
