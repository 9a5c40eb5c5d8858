package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
)

// Idle keep-alive connections to the TCP endpoint from any local user must
// not take the daemon's file descriptors: with 300 of them and 400
// connections held open after a request, a recording is still uploaded and
// /healthz still answers.
func TestAdminIdleConnectionsDoNotStarveTheDaemon(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	e := newEnv(t)
	d := e.startDaemonUnder(t, []string{"prlimit", "--nofile=300:300"}, nil, "--partition-layout", "2006-01-02")
	addr := strings.TrimPrefix(d.admin, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
		// One request, then the connection is kept alive and idle.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
	}

	e.write(t, day(0)+"/call.wav", "a recording", 0)
	eventually(t, 60*time.Second, "the recording to be uploaded with 400 idle admin connections open", func() bool {
		return e.hasKeys(t, day(0)+"/call.wav")
	})
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, 60*time.Second, "/healthz to answer over TCP with 400 idle connections open", func() bool {
		resp, err := client.Get(d.admin + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if out := d.out.String(); strings.Contains(out, "too many open files") && !strings.Contains(out, "admin endpoint cannot accept connections") {
		t.Errorf("out of file descriptors, and the admin endpoint did not say so:\n%s", out)
	}
}

// squatter is a process that took the admin TCP port while the daemon was
// down: it answers every request with a fake status and counts them.
type squatter struct {
	addr     string
	requests atomic.Int64
	tokens   atomic.Int64 // requests that carried an Authorization header
}

func startSquatter(tb testing.TB) *squatter {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &squatter{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			s.tokens.Add(1)
		}
		_ = json.NewEncoder(w).Encode(admin.Status{Daemon: true, PID: 1, Healthy: true, Health: "fake"})
	}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close(); <-served })
	return s
}

// A local user who takes the admin port while the daemon is down neither
// keeps it from running nor receives the token nor fakes a status: status
// and sync go to the socket of the process that holds the index.
func TestAdminSquatterGetsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sq := startSquatter(t)
	token := writeToken(t, "the-token-of-root", 0o600)
	cfg := filepath.Join(t.TempDir(), "s3ferry.yml")
	if err := os.WriteFile(cfg, []byte("admin:\n  listen: "+sq.addr+"\n  token-file: "+token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// No daemon: status reads the index (a sync made it) and asks no one.
	if r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg, "--partition-layout", "2006-01-02"); r.code != 0 {
		t.Fatalf("first sync: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "no daemon running") {
		t.Fatalf("status without a daemon: exit %d, %q", r.code, r.stdout+r.stderr)
	}

	d := e.startDaemon(t, "--config", cfg, "--admin-listen", sq.addr, "--partition-layout", "2006-01-02")
	if !strings.Contains(d.out.String(), "address is taken") {
		t.Errorf("the daemon did not say its admin address is taken:\n%s", d.out)
	}
	r = e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg, "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || !st.Daemon || st.PID != d.cmd.Process.Pid || st.Health == "fake" {
		t.Fatalf("status: exit %d, %q (%v); want the daemon's own (pid %d)", r.code, r.stdout+r.stderr, err, d.cmd.Process.Pid)
	}
	// Outside the watched window: only the walk this sync asks of the
	// daemon finds it, not its watcher before the sync asks.
	e.write(t, day(-100)+"/new.wav", "new", time.Hour)
	r = e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg, "--json", "--full")
	if r.code != 0 || r.stats(t).Uploaded != 1 {
		t.Fatalf("sync through the daemon: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if n, tokens := sq.requests.Load(), sq.tokens.Load(); n != 0 || tokens != 0 {
		t.Fatalf("the squatter got %d requests, %d with the token; want none", n, tokens)
	}
}

// Only root, the daemon's user and the socket's group may use the socket:
// another user who can reach it is refused by its peer credentials.
func TestAdminSocketRefusesOtherUsers(t *testing.T) {
	t.Parallel()
	needNobody(t)
	e := newEnv(t)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	fi, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("admin socket %s: mode %v, want a socket 0660", d.sock, fi.Mode())
	}
	exposeSocket(t, d.sock)
	e.write(t, day(-100)+"/late.wav", "late", time.Hour) // only a full walk finds it
	before := d.status(t).Rescans
	for _, req := range [][]string{
		{"http://s3ferry/status"},
		{"-X", "POST", "-H", admin.RequestHeader + ": 1", "http://s3ferry/sync?full=1"},
	} {
		body, code, err := asNobody(d.sock, req...)
		if err != nil || code != "403" || !strings.Contains(body, "uid 65534") || strings.Contains(body, e.root) {
			t.Errorf("%v as nobody: %s %q (%v); want 403 naming the uid and no path", req, code, body, err)
		}
	}
	if after := d.status(t).Rescans; fmt.Sprint(after) != fmt.Sprint(before) || e.hasKeys(t, day(-100)+"/late.wav") {
		t.Fatalf("rescans %v after nobody's requests, were %v: nobody ran a walk", after, before)
	}
}

// needNobody skips a test that runs a client as nobody where it cannot.
func needNobody(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		tb.Skip("needs setpriv (util-linux)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		tb.Skip("needs curl")
	}
	if os.Geteuid() != 0 {
		tb.Skip("needs root, to run a client as nobody")
	}
}

// exposeSocket lets nobody reach the admin socket sock, as a loosened mode
// would: its directories searchable by all, the socket 0666.
func exposeSocket(tb testing.TB, sock string) {
	tb.Helper()
	for dir := filepath.Dir(sock); dir != "/"; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		tb.Fatal(err)
	}
}

// asNobody sends a request to the admin socket sock with curl run as
// nobody (curl's arguments req), and returns the answer's body and code.
func asNobody(sock string, req ...string) (body, code string, err error) {
	args := append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", "curl", "-sS", "-m", "30", "-w", "\n%{http_code}", "--unix-socket", sock}, req...)
	out, err := exec.Command("setpriv", args...).CombinedOutput()
	text := strings.TrimSpace(string(out))
	i := strings.LastIndex(text, "\n")
	return text[:max(i, 0)], text[i+1:], err
}

// Thirty POST /sync?full=1 at once cost one full rescan (two if one came
// after the first ended), not thirty, and each gets its result.
func TestAdminConcurrentSyncsJoinOneRescan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	// Files only a full walk finds, so the rescan runs while the others ask.
	for i := range 200 {
		e.write(t, fmt.Sprintf("%s/late-%03d.wav", day(-100), i), "late", time.Hour)
	}
	fullRescans := func() int { return strings.Count(d.out.String(), `msg="rescan done" kind=full`) }
	before := fullRescans()

	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]error, 30)
	scanned := make([]int64, 30)
	for i := range results {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://s3ferry/sync?full=1", nil)
			if err != nil {
				results[i] = err
				return
			}
			req.Header.Set(admin.RequestHeader, "1")
			resp, err := socketClient(d.sock).Do(req)
			if err != nil {
				results[i] = err
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var stats agent.Stats
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&stats); resp.StatusCode != http.StatusOK || err != nil {
				results[i] = fmt.Errorf("%s %q", resp.Status, body)
				return
			}
			scanned[i] = stats.Scanned
		})
	}
	close(start)
	wg.Wait()
	for i, err := range results {
		if err != nil || scanned[i] < 200 {
			t.Errorf("POST %d: %v, scanned %d; want a full rescan's result", i, err, scanned[i])
		}
	}
	if n := fullRescans() - before; n < 1 || n > 2 {
		t.Fatalf("%d full rescans for 30 POST /sync?full=1 at once, want 1 or 2", n)
	}
	if !e.hasKeys(t, day(-100)+"/late-000.wav", day(-100)+"/late-199.wav") {
		t.Fatal("the full rescan did not upload the late files")
	}
}

// A token file someone else could write, or that belongs to another user,
// is refused: the TCP endpoint's token would be theirs to choose.
func TestRunRefusesTokenFilesOthersControl(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give a file to another user")
	}
	e := newEnv(t)
	foreign := writeToken(t, "abc", 0o600)
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.token")
	if err := os.Symlink(writeToken(t, "abc", 0o600), link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"other-writable 0602", writeToken(t, "abc", 0o602), "chmod go-w"},
		{"group-writable 0620", writeToken(t, "abc", 0o620), "chmod go-w"},
		{"owned by nobody", foreign, "belongs to another user"},
		{"a symbolic link", link, "symbolic link"},
	} {
		r := e.runWithin(t, time.Minute, nil, "run", "{root}", "{dest}", "--index-dir", "{index}",
			"--admin-listen", "0.0.0.0:0", "--admin-token-file", tt.file)
		if r.code != exitConfig || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d (a configuration error systemd does not restart) and one line with %q", tt.name, r.code, r.stderr, exitConfig, tt.want)
		}
	}
}
