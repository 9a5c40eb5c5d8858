package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// verifyRun is one `s3ferry verify` of the test's source: its exit code,
// its report (with --json) or its output with the timings taken out.
type verifyRun struct {
	code     int
	report   bucket.VerifyReport
	text     string // stdout without --json, timings replaced by "T"
	problems string // the line s3ferry printed on stderr about what is left
}

// timings matches what differs between two verifies of the same state.
var timings = regexp.MustCompile(`in [0-9.]+ s \((listing|inventory): [0-9]+ objects/s\)`)

func (e *testEnv) verify(tb testing.TB, flags ...string) verifyRun {
	tb.Helper()
	args := append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s"}, flags...)
	var v verifyRun
	r := e.run(tb, append(args, "--json")...)
	v.code = r.code
	r.decode(tb, &v.report)
	r = e.run(tb, args...)
	if r.code != v.code {
		tb.Fatalf("verify %v: exit %d as text, %d as JSON\n%s", flags, r.code, v.code, r.stderr)
	}
	v.text = timings.ReplaceAllString(r.stdout, "T")
	for line := range strings.Lines(r.stderr) {
		if strings.HasPrefix(line, "s3ferry: ") {
			v.problems = line
		}
	}
	return v
}

// same fails the test unless got, run while the daemon held the index,
// says what want, run without it, said.
func (want verifyRun) same(tb testing.TB, got verifyRun, what string) {
	tb.Helper()
	if got.code != want.code {
		tb.Errorf("%s with the daemon running: exit %d, want %d as without it\n%s", what, got.code, want.code, got.problems)
	}
	if !slices.Equal(got.report.Findings, want.report.Findings) {
		tb.Errorf("%s with the daemon running: findings %+v, want %+v", what, got.report.Findings, want.report.Findings)
	}
	g, w := got.report, want.report
	if g.Listed != w.Listed || g.Records != w.Records || g.Missing != w.Missing || g.Hashed != w.Hashed || g.Problems() != w.Problems() {
		tb.Errorf("%s with the daemon running: %+v, want the counts of %+v", what, g, w)
	}
	if got.text != want.text || got.problems != want.problems {
		tb.Errorf("%s with the daemon running printed\n%s%s\nwant, as without it\n%s%s", what, got.text, got.problems, want.text, want.problems)
	}
}

// verify and index check run while the daemon runs: it runs them on the
// index it holds, and the answer, output and exit code are those of a run
// with the daemon stopped, a finding included. What it cannot run through
// the daemon (verify --repair, adopt) says to stop it, and how.
func TestVerifyAndIndexCheckWhileTheDaemonRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, rel := range []string{day(0) + "/a.wav", day(0) + "/b.wav", day(-1) + "/c.wav"} {
		e.write(t, rel, "recording "+rel, time.Hour)
	}
	e.sync(t, 0, "--partition-layout", "2006-01-02")
	e.remove(t, day(0)+"/b.wav") // behind s3ferry's back: a problem
	ctx := context.Background()
	rows, err := buckettest.InventoryOf(ctx, e.srv.Client(t).Bucket(e.bucket), "")
	if err != nil {
		t.Fatal(err)
	}
	reports := e.srv.NewBucket(t, false)
	manifest, err := buckettest.WriteInventory(ctx, e.srv.Client(t).Bucket(reports), e.bucket, "inv/"+e.bucket+"/daily/", 2, slices.Values(rows))
	if err != nil {
		t.Fatal(err)
	}
	inventory := "s3://" + reports + "/" + manifest

	stopped := e.verify(t)
	if stopped.code != exitProblems || stopped.report.Missing != 1 {
		t.Fatalf("verify without the daemon: exit %d, %+v; want %d and the deleted object missing", stopped.code, stopped.report, exitProblems)
	}
	stoppedDeep := e.verify(t, "--deep")
	stoppedInventory := e.verify(t, "--inventory", inventory)
	if stoppedInventory.code != exitProblems || stoppedInventory.report.Missing != 1 {
		t.Fatalf("verify --inventory without the daemon: exit %d, %+v; want %d and the deleted object missing", stoppedInventory.code, stoppedInventory.report, exitProblems)
	}
	check := e.run(t, "index", "check", "--index-dir", "{index}")
	if check.code != 0 || !strings.Contains(check.stdout, "healthy") {
		t.Fatalf("index check without the daemon: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}

	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	stopped.same(t, e.verify(t), "verify")
	stoppedDeep.same(t, e.verify(t, "--deep"), "verify --deep")
	stoppedInventory.same(t, e.verify(t, "--inventory", inventory), "verify --inventory")
	r := e.run(t, "index", "check", "--index-dir", "{index}")
	if r.code != check.code || r.stdout != check.stdout {
		t.Errorf("index check with the daemon running: exit %d, %q; want exit %d, %q as without it\n%s", r.code, r.stdout, check.code, check.stdout, r.stderr)
	}
	if n := strings.Count(d.out.String(), "verify asked on the admin socket done"); n != 6 {
		t.Errorf("the daemon ran %d verifies, want 6 (three as JSON, three as text)\n%s", n, d.out)
	}

	pid := strconv.Itoa(d.cmd.Process.Pid)
	r = e.run(t, "verify", "{root}", "s3://"+e.bucket+"/other/", "--index-dir", "{index}")
	if r.code != exitLocked || !strings.Contains(r.stderr, "which does not serve") || !strings.Contains(r.stderr, "pid "+pid) || strings.Contains(d.out.String(), "/other/") {
		t.Errorf("verify of a source the daemon does not back up: exit %d, %q; want exit %d naming the daemon, and nothing asked of it", r.code, r.stderr, exitLocked)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--repair"}, "s3ferry verify --repair needs the index to itself"},
		{[]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--read", "all"}, "s3ferry verify --read needs the index to itself"},
		{[]string{"adopt", "{root}", "{dest}", "--index-dir", "{index}"}, "s3ferry adopt needs the index to itself"},
	} {
		r := e.run(t, tt.args...)
		// The command to run while the daemon is stopped is the user's own.
		rerun := "run s3ferry " + strings.Join(tt.args, " ") + ", then start it again"
		if r.code != exitLocked || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "process "+pid) ||
			!strings.Contains(r.stderr, "sudo systemctl stop s3ferry") || !strings.Contains(r.stderr, "sudo systemctl start s3ferry") ||
			!strings.Contains(r.stderr, rerun) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v with the daemon running: exit %d, %q; want exit %d and one line: %q, its pid %s, how to stop and start it, %q", tt.args[0], r.code, r.stderr, exitLocked, tt.want, pid, rerun)
		}
	}
	if code := d.stop(t, time.Minute); code != 0 {
		t.Fatalf("the daemon exited %d after the verifies, want 0\n%s", code, d.out)
	}
}

// A one-shot sync holding the index is named, with its pid, by the next
// command, which says to wait for it or stop it, not to ask it with
// status (it has no socket). Once it is gone its lock file is stale, and a
// process holding the index after it is not taken for it.
func TestLockMessageNamesAOneShotSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(0)+"/small.wav", "small", time.Hour)
	e.sync(t, 0)
	e.writeRandom(t, day(0)+"/big.mp4", 4<<20)
	sync, out := e.startSync(t, "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--bwlimit", "64KiB/s", "--workers", "1")
	eventually(t, time.Minute, "the sync to hold the index", func() bool {
		return index.ReadHolder(e.index).PID == sync.Process.Pid
	})
	pid := strconv.Itoa(sync.Process.Pid)
	for _, args := range [][]string{
		{"verify", "{root}", "{dest}", "--index-dir", "{index}"},
		{"index", "check", "--index-dir", "{index}"},
		{"status", "--index-dir", "{index}"},
		{"adopt", "{root}", "{dest}", "--index-dir", "{index}"},
		{"sync", "{root}", "{dest}", "--index-dir", "{index}"},
	} {
		r := e.run(t, args...)
		msg := strings.TrimSpace(r.stderr[strings.LastIndex(r.stderr, "s3ferry: ")+1:])
		if r.code != exitLocked || !strings.Contains(msg, "in use by s3ferry sync, process "+pid+", started ") ||
			!strings.Contains(msg, "wait for it to finish or stop pid "+pid) || strings.Contains(msg, "status") {
			t.Errorf("%v while a sync holds the index: exit %d, %q; want exit %d naming s3ferry sync, pid %s, and to wait or stop it", args[:2], r.code, r.stderr, exitLocked, pid)
		}
	}

	if err := sync.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sync.Wait()
	if strings.Contains(out.String(), "panic") {
		t.Fatalf("sync:\n%s", out)
	}
	// Another process holds the index before writing its own holder: the
	// dead sync's is still in the lock file.
	f, err := os.OpenFile(filepath.Join(e.index, "s3ferry.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}")
	if r.code != exitLocked || !strings.Contains(r.stderr, "in use by another process") || strings.Contains(r.stderr, pid) || strings.Contains(r.stderr, "sync") {
		t.Errorf("verify while a stale lock file names the killed sync: exit %d, %q; want exit %d and another process, not pid %s", r.code, r.stderr, exitLocked, pid)
	}
	f.Close()
	// Free, with the stale holder left: the commands run on their own.
	r = e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}")
	if r.code != 0 || !strings.Contains(r.stdout, "no daemon running") {
		t.Errorf("status after the sync was killed: exit %d, %q", r.code, r.stdout+r.stderr)
	}
	if st := e.sync(t, 0); st.Uploaded != 1 {
		t.Errorf("sync after the killed one: %+v, want the big file uploaded", st)
	}
}

// Only root, the daemon's user and the socket's group may have the daemon
// verify or check its index: nobody is refused, and the daemon runs
// nothing for it, while root is answered.
func TestAdminSocketVerifyOnlyForAdmins(t *testing.T) {
	t.Parallel()
	needNobody(t)
	e := newEnv(t)
	e.write(t, day(0)+"/a.wav", "a", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	exposeSocket(t, d.sock)
	body, err := json.Marshal(map[string]any{"sources": []map[string]string{{"root": e.root, "destination": "s3://" + e.bucket + "/rec/"}}, "deep": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range [][]string{
		{"-X", "POST", "-H", admin.RequestHeader + ": 1", "--data-binary", string(body), "http://s3ferry/verify"},
		{"-X", "POST", "-H", admin.RequestHeader + ": 1", "http://s3ferry/index/check"},
	} {
		answer, code, err := asNobody(d.sock, req...)
		if err != nil || code != "403" || !strings.Contains(answer, "uid 65534") || strings.Contains(answer, e.root) {
			t.Errorf("%s as nobody: %s %q (%v); want 403 naming the uid and no path", req[len(req)-1], code, answer, err)
		}
	}
	if strings.Contains(d.out.String(), "asked on the admin socket") {
		t.Fatalf("the daemon ran a check for nobody:\n%s", d.out)
	}

	// Root is answered, with a report of the daemon's source.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://s3ferry/verify", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(admin.RequestHeader, "1")
	resp, err := socketClient(d.sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep bucket.VerifyReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); resp.StatusCode != http.StatusOK || err != nil || rep.Records != 1 || rep.Hashed != 1 || rep.Problems() != 0 {
		t.Fatalf("POST /verify as root: %s, %+v (%v); want the report of one healthy file", resp.Status, rep, err)
	}
}
