package daemon

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

// TestProgressJudge walks the watchdog's table: an idle pool and a pool
// that moves bytes are healthy, a pool with uploads in flight and nothing
// moving for the timeout is stuck, as is a loop that stopped ticking.
func TestProgressJudge(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	const timeout = 10 * time.Second
	l := &liveness{}
	j := progressJudge{timeout: timeout}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		name     string
		sec      int
		beat     int // the loop's last tick
		inFlight int
		moved    int64
		want     string // "" or a prefix of what is stuck
	}{
		{"before ready nothing is judged", 0, -100, 3, 0, ""},
		{"idle pool", 5, 5, 0, 0, ""},
		{"uploads start", 10, 10, 2, 0, ""},
		{"nothing moved for less than the timeout", 19, 19, 2, 0, ""},
		{"nothing moved for more than the timeout", 21, 21, 2, 0, "upload pool stuck"},
		{"bytes move again", 22, 22, 2, 100, ""},
		{"still moving", 30, 30, 2, 200, ""},
		{"idle again", 45, 45, 0, 200, ""},
		{"the loop stopped ticking", 60, 45, 0, 200, "event loop stuck"},
	}
	for i, s := range steps {
		if i == 1 {
			l.ready.Store(true)
		}
		l.tick(at(s.beat))
		got := j.judge(at(s.sec), l, s.inFlight, s.moved)
		if s.want == "" && got != "" || s.want != "" && !strings.HasPrefix(got, s.want) {
			t.Errorf("%s: judge = %q, want %q", s.name, got, s.want)
		}
	}
}

// TestLivenessCountsToday: the summary's "today" counts the uploads of the
// current date only.
func TestLivenessCountsToday(t *testing.T) {
	l := &liveness{}
	day1 := time.Date(2026, 11, 22, 23, 59, 0, 0, time.Local)
	day2 := day1.Add(2 * time.Minute)
	l.observe(agent.Event{Outcome: agent.Uploaded}, day1)
	l.observe(agent.Event{Outcome: agent.Uploaded}, day1)
	l.observe(agent.Event{Outcome: agent.Failed}, day1)
	if got := l.today(day1); got != 2 {
		t.Errorf("today = %d, want 2", got)
	}
	if got := l.today(day2); got != 0 {
		t.Errorf("today after midnight = %d, want 0", got)
	}
	l.observe(agent.Event{Outcome: agent.Uploaded}, day2)
	if got, ended := l.today(day2), l.ended.Load(); got != 1 || ended != 4 {
		t.Errorf("today = %d, ended = %d; want 1 and 4", got, ended)
	}
}

// pingCounter is a Notifier that counts watchdog pings and remembers the
// statuses it was told.
type pingCounter struct {
	pings    atomic.Int64
	mu       sync.Mutex
	statuses []string
}

func (n *pingCounter) Ready() error    { return nil }
func (n *pingCounter) Stopping() error { return nil }
func (n *pingCounter) Watchdog() error { n.pings.Add(1); return nil }
func (n *pingCounter) Status(line string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.statuses = append(n.statuses, line)
	return nil
}

// TestWatchdogPingsAnIdleDaemon: a daemon with nothing to do checks no
// settling files, and its loop still answers the watchdog's heartbeat, so
// the pings go on and none is withheld.
func TestWatchdogPingsAnIdleDaemon(t *testing.T) {
	root := t.TempDir()
	up, _ := agenttest.NewUploader()
	n := &pingCounter{}
	const timeout = 300 * time.Millisecond
	d := &Daemon{Sources: []*local.Source{agenttest.NewSource(t, root, "")}, Index: index.NewMemory(), Uploader: up,
		Notifier: n, WatchdogTimeout: timeout, StatusInterval: time.Hour}
	runDaemon(t, d)
	deadline := time.Now().Add(30 * time.Second)
	for n.pings.Load() < 12 { // six timeouts: a loop that never answered would be judged stuck after two
		if time.Now().After(deadline) {
			t.Fatalf("%d watchdog pings in 30 s, want 12", n.pings.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.statuses {
		if strings.Contains(s, "watchdog withheld") {
			t.Fatalf("an idle daemon's ping was withheld: %q", s)
		}
	}
}
