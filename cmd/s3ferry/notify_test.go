package main

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// notifySocket is systemd's end of sd_notify: a unixgram socket that
// collects every message a service sends.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(tb testing.TB) *notifySocket {
	tb.Helper()
	n := &notifySocket{path: filepath.Join(tb.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			// One datagram may carry several assignments, one per line.
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	tb.Cleanup(func() { conn.Close(); <-done })
	return n
}

// received returns the messages so far.
func (n *notifySocket) received() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// count is how many messages start with prefix.
func (n *notifySocket) count(prefix string) int {
	c := 0
	for _, m := range n.received() {
		if strings.HasPrefix(m, prefix) {
			c++
		}
	}
	return c
}

// TestRunNotifiesSystemd runs the binary as systemd's Type=notify unit with
// WatchdogSec= would: it says READY=1, sends STATUS= summaries and
// WATCHDOG=1 pings while healthy, withholds the pings while an upload hangs
// with no byte moving (so systemd would restart it), and says STOPPING=1
// on SIGTERM.
func TestRunNotifiesSystemd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 5)
	sock := listenNotify(t)
	const watchdog = 2 * time.Second // pings every second
	d := e.startDaemonWith(t, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=2000000"},
		"--endpoint-url", p.URL, "--stall-timeout", "1h", "--shutdown-timeout", "1s")

	eventually(t, 30*time.Second, "READY=1, a STATUS= summary and two WATCHDOG=1 pings", func() bool {
		return sock.count("READY=1") == 1 && sock.count("STATUS=") > 0 && sock.count("WATCHDOG=1") >= 2
	})
	var status string
	for _, m := range sock.received() {
		if strings.HasPrefix(m, "STATUS=") {
			status = m
		}
	}
	if !strings.HasPrefix(status, "STATUS=watching 1 dir; 0 pending; no upload yet; 0 today") {
		t.Errorf("status %q, want the one-line summary", status)
	}

	// An upload that hangs, with a stall timeout far away: nothing moves.
	p.Set(s3test.Faults{Hangs: 1})
	writeNow(t, filepath.Join(e.root, day(0), "a.wav"), "stuck")
	defer func() {
		if t.Failed() {
			t.Logf("messages %q\nhangs %+v\n%s", sock.received(), p.Stats(), d.out)
		}
	}()
	eventually(t, 30*time.Second, "the watchdog to be withheld for the hung upload", func() bool {
		return sock.count("STATUS=watchdog withheld: upload pool stuck") > 0
	})
	if p.Stats().Hangs == 0 {
		t.Fatalf("no request hung: the test proves nothing")
	}
	pings := sock.count("WATCHDOG=1")
	time.Sleep(2 * watchdog) // two watchdog periods: systemd would have restarted it
	if got := sock.count("WATCHDOG=1"); got != pings {
		t.Errorf("%d WATCHDOG=1 pings while the upload pool was stuck, want none", got-pings)
	}

	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, d.out)
	}
	if sock.count("STOPPING=1") != 1 {
		t.Errorf("messages %q, want one STOPPING=1", sock.received())
	}
}
