package main

// Tests of issue 11's findings: nothing s3ferry leaves behind goes unsaid
// (exit codes, /healthz), and what it leaves is retried until it is in the
// bucket.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/index"
)

// TestSyncOfASourceTheDaemonDoesNotServe: a sync of another tree while the
// daemon holds the index exits 4 naming the daemon and uploads nothing,
// instead of printing the daemon's totals; a sync of the daemon's own
// source is handed to it with --lookback.
func TestSyncOfASourceTheDaemonDoesNotServe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	other := t.TempDir()
	writeNow(t, filepath.Join(other, "x.wav"), "other tree")
	r := e.run(t, "sync", other, "s3://"+e.bucket+"/other/", "--index-dir", "{index}", "--json", "--settle", "0s")
	if r.code != exitLocked {
		t.Fatalf("sync of another source while the daemon runs: exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitLocked, r.stdout, r.stderr)
	}
	pid := fmt.Sprintf("pid %d", d.cmd.Process.Pid)
	if !strings.Contains(r.stderr, pid) || !strings.Contains(r.stderr, "--index-dir") || !strings.Contains(r.stderr, other) {
		t.Fatalf("stderr does not name the daemon (%s), the source and the way out: %s", pid, r.stderr)
	}
	// The same root to another destination is another source too.
	r = e.run(t, "sync", "{root}", "s3://"+e.bucket+"/elsewhere/", "--index-dir", "{index}", "--settle", "0s")
	if r.code != exitLocked {
		t.Fatalf("sync of the daemon's root to another prefix: exit %d, want %d\nstderr: %s", r.code, exitLocked, r.stderr)
	}
	for _, k := range e.list(t, "") {
		if !strings.HasPrefix(k, "rec/") {
			t.Fatalf("bucket holds %s: a refused sync uploaded something", k)
		}
	}

	// The daemon's own source, with a look-back wider than the daemon's:
	// the daemon walks with the sync's.
	e.write(t, day(-5)+"/late.wav", "five days late", time.Hour)
	r = e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--lookback", "240h", "--json")
	if r.code != 0 {
		t.Fatalf("sync of the daemon's source: exit %d\n%s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 {
		t.Fatalf("sync --lookback 240h via the daemon: %+v, want the file of 5 days ago uploaded", got)
	}
}

// TestSyncInterruptedWhileUploadingExits130: SIGINT after the walk, with
// uploads running, exits 130 and says how many files stay pending; the next
// run uploads them.
func TestSyncInterruptedWhileUploadingExits130(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 4
	want := map[string]string{}
	for i := range n {
		rel := fmt.Sprintf("d/big-%d.wav", i)
		body := strings.Repeat(fmt.Sprint(i), 128<<10)
		e.write(t, rel, body, time.Hour)
		want[rel] = body
	}
	args := []string{"sync", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--settle", "0s",
		"--bwlimit", "64KiB/s", "--workers", "1", "--log-level", "debug", "--no-progress"}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), e.srv.Env()...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// The walk queues all four at once; the first upload's end means the
	// walk is over and the others wait or run.
	eventually(t, 60*time.Second, "the first upload to end", func() bool { return strings.Contains(out.String(), "msg=uploaded") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sync did not end within 30s of SIGINT\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d after SIGINT with uploads running, want %d\n%s", code, exitInterrupted, out)
	}
	left := n - len(e.keys(t))
	if left == 0 {
		t.Fatal("every file was uploaded before the interrupt: the test interrupted nothing")
	}
	if s := out.String(); !strings.Contains(s, fmt.Sprintf("pending=%d", left)) || !strings.Contains(s, plural(int64(left), "file", "files")+" pending") {
		t.Fatalf("the summary does not say that %d files stay pending:\n%s", left, s)
	}
	if got := e.sync(t, 0); got.Uploaded != int64(left) {
		t.Fatalf("next run: %+v, want the %d files left uploaded", got, left)
	}
	for rel, body := range want {
		if got := e.object(t, rel); got != body {
			t.Fatalf("%s is not the whole file", rel)
		}
	}
}

// TestRunFullRescanDueAcrossRestarts: the next full walk is due one
// full-rescan-interval after the last one the index recorded, not one
// interval after each start, and /status says when.
func TestRunFullRescanDueAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/a.wav", "today", time.Hour)
	flags := []string{"--partition-layout", "2006-01-02", "--full-rescan-interval", "1h"}
	d := e.startDaemon(t, flags...)
	eventually(t, 30*time.Second, "the first run's full walk", func() bool { return !d.status(t).Sources[0].LastFullWalk.IsZero() })
	s := d.status(t).Sources[0]
	if want := s.LastFullWalk.Add(time.Hour); !s.NextFullWalk.Equal(want) {
		t.Fatalf("next full walk %s, want the last one (%s) + 1h", s.NextFullWalk, s.LastFullWalk)
	}
	if code := d.stop(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, d.out)
	}

	// The host was down: the last full walk was two hours ago. A late file
	// in an old partition is found only by a full walk, which is due now.
	idx, err := index.Open(e.index, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SetState(sourceID(t, e), index.SourceState{FullWalkNs: time.Now().Add(-2 * time.Hour).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	e.write(t, day(-30)+"/late.wav", "late write", time.Hour)
	d = e.startDaemon(t, flags...)
	eventually(t, 30*time.Second, "the overdue full walk to upload the late file", func() bool { return e.hasKeys(t, day(-30)+"/late.wav") })
	eventually(t, 30*time.Second, "the full walk recorded", func() bool {
		s := d.status(t).Sources[0]
		return time.Since(s.LastFullWalk) < time.Hour && s.NextFullWalk.Equal(s.LastFullWalk.Add(time.Hour))
	})
}

// TestSyncUploadsAFileFromTheFuture: a file whose mtime is ahead of the
// clock is uploaded once it stayed unchanged for settle, with a warning
// that names the clock skew, not deferred by every run.
func TestSyncUploadsAFileFromTheFuture(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/future.wav", "written by a host whose clock is ahead", -time.Hour)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "1s")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 || got.Deferred != 0 {
		t.Fatalf("got %+v, want the file uploaded", got)
	}
	if !strings.Contains(r.stderr, "clock_skew") || !strings.Contains(r.stderr, "future.wav") {
		t.Fatalf("no warning naming the clock skew:\n%s", r.stderr)
	}
	if got := e.object(t, "d/future.wav"); got != "written by a host whose clock is ahead" {
		t.Fatalf("future.wav = %q", got)
	}
}

// TestSyncRetriesWhatAWalkPassedOver: a file of an old partition that a
// full walk could not upload (a bad name, a file still being written) is
// retried by the next runs, which walk only recent partitions, until it is
// uploaded; a bad name renamed as advised is found under its new name.
func TestSyncRetriesWhatAWalkPassedOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := day(-30)
	e.write(t, old+"/ok.wav", "fine", time.Hour)
	e.write(t, old+"/bad-\xff.wav", "latin-1 name", time.Hour)
	e.write(t, old+"/fresh.wav", "still being written", 0)
	e.write(t, day(0)+"/today.wav", "today", time.Hour)
	layout := []string{"--partition-layout", "2006-01-02", "--lookback", "48h", "--settle", "2s"}

	got := e.sync(t, exitFilesFailed, layout...)
	if got.Uploaded != 2 || got.Failed != 1 || got.Deferred != 1 {
		t.Fatalf("first run: %+v, want 2 uploaded, the bad name failed, the fresh file deferred", got)
	}
	if n := e.retrySet(t); n != 2 {
		t.Fatalf("status: %d files to retry, want 2", n)
	}
	// As the message advises.
	if err := os.Rename(filepath.Join(e.root, old, "bad-\xff.wav"), filepath.Join(e.root, old, "bad-renamed.wav")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // fresh.wav settles
	got = e.sync(t, 0, layout...)
	if got.Uploaded != 2 {
		t.Fatalf("second run: %+v, want the renamed and the settled file uploaded", got)
	}
	if !e.hasKeys(t, old+"/bad-renamed.wav", old+"/fresh.wav") {
		t.Fatalf("bucket = %q, want the renamed and the settled file", e.keys(t))
	}
	if n := e.retrySet(t); n != 0 {
		t.Fatalf("status: %d files to retry after they were uploaded, want 0", n)
	}
	if got := e.sync(t, 0, layout...); got.Uploaded != 0 || got.Failed != 0 {
		t.Fatalf("third run: %+v, want nothing left to do", got)
	}
}

// retrySet reads the size of the retry set from `s3ferry status --json`.
func (e *testEnv) retrySet(tb testing.TB) int64 {
	tb.Helper()
	r := e.run(tb, "status", "{root}", "{dest}", "--index-dir", "{index}", "--json")
	if r.code != 0 {
		tb.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st struct {
		Sources []struct {
			Retry *int64 `json:"retry"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		tb.Fatalf("decode status %q: %v", r.stdout, err)
	}
	if len(st.Sources) != 1 || st.Sources[0].Retry == nil {
		tb.Fatalf("status --json has no retry count: %s", r.stdout)
	}
	return *st.Sources[0].Retry
}

// TestRunUnhealthyWhileRescansFail: with the source root gone (an
// unmounted volume), /healthz is 503 naming it, /status shows the error and
// the failures are counted; once the root is back, /healthz is 200.
func TestRunUnhealthyWhileRescansFail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/a.wav", "a", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02", "--rescan-interval", "200ms")
	healthz := func() (int, string) { return healthzOf(t, d.get) }
	if code, body := healthz(); code != http.StatusOK {
		t.Fatalf("healthz %d %q before the root went away", code, body)
	}
	moved := e.root + ".unmounted"
	if err := os.Rename(e.root, moved); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "/healthz to fail", func() bool { code, _ := healthz(); return code == http.StatusServiceUnavailable })
	if _, body := healthz(); !strings.Contains(body, e.root) {
		t.Fatalf("/healthz = %q, want it to name %s", body, e.root)
	}
	// /healthz fails at once, from inotify; the rescans fail after.
	eventually(t, 30*time.Second, "a rescan to fail", func() bool { return d.status(t).Sources[0].RescanError != "" })
	if s := d.status(t).Sources[0]; !strings.Contains(s.LastError, e.root) || s.RescanError == "" {
		t.Fatalf("status of the source: last error %q, rescan error %q, want both to say why", s.LastError, s.RescanError)
	}
	// Exported at 0 from the start: the failed rescans must have counted.
	if strings.Contains(d.metrics(t), fmt.Sprintf("s3ferry_rescan_failures_total{source=%q} 0\n", e.root)) ||
		!strings.Contains(d.metrics(t), fmt.Sprintf("s3ferry_rescan_failures_total{source=%q}", e.root)) {
		t.Fatal("s3ferry_rescan_failures_total for the source is missing or still 0")
	}
	if err := os.Rename(moved, e.root); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "/healthz to recover", func() bool { code, _ := healthz(); return code == http.StatusOK })
	if n := d.metric(t, "s3ferry_retry_files"); n != 0 {
		t.Fatalf("s3ferry_retry_files = %v, want 0", n)
	}
}

// metrics reads /metrics whole.
func (d *daemonProc) metrics(tb testing.TB) string {
	tb.Helper()
	resp, err := d.get("/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestRunUnhealthyWithALayoutThatMatchesNoFolder: /healthz over TCP says
// the layout reads no folder, without a path; a tree whose partitions are
// all older than the look-back window is healthy.
func TestRunUnhealthyWithALayoutThatMatchesNoFolder(t *testing.T) {
	t.Parallel()
	healthz := func(d *daemonProc) (int, string) { return healthzOf(t, d.tcpGet) }
	e := newEnv(t)
	e.write(t, day(0)+"/agent05/call.wav", "a", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006/01/02")
	code, body := healthz(d)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `partition layout "2006/01/02" matches none of the 1 folders`) || strings.Contains(body, e.root) || strings.Contains(body, day(0)) {
		t.Fatalf("/healthz = %d %q; want 503 naming the layout, no path", code, body)
	}

	old := newEnv(t)
	old.write(t, day(-30)+"/agent05/call.wav", "a", time.Hour)
	d = old.startDaemon(t, "--partition-layout", "2006-01-02", "--lookback", "48h")
	if code, body := healthz(d); code != http.StatusOK {
		t.Fatalf("old tree: /healthz = %d %q, want 200", code, body)
	}
}

// healthzOf asks get (the socket's or TCP's) for /healthz.
func healthzOf(tb testing.TB, get func(path string) (*http.Response, error)) (int, string) {
	tb.Helper()
	resp, err := get("/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
