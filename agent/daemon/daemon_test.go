package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/watch"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

func TestWatchOverflowTriggersRescan(t *testing.T) {
	up, _ := agenttest.NewUploader()
	d := &Daemon{Index: index.NewMemory(), Uploader: up}
	d.init()
	d.watchError(errors.New("some other error"))
	select {
	case r := <-d.rescans:
		t.Fatalf("a rescan (%s) after a non-overflow error", r.kind)
	default:
	}
	d.watchError(fsnotify.ErrEventOverflow)
	select {
	case r := <-d.rescans:
		if r.kind != rescanPartitions {
			t.Fatalf("rescan kind %s, want partitions", r.kind)
		}
	default:
		t.Fatal("no rescan requested after an overflow")
	}
	want := "# HELP s3ferry_watch_overflows_total inotify event queue overflows, each answered by a rescan.\n# TYPE s3ferry_watch_overflows_total counter\ns3ferry_watch_overflows_total 1\n"
	if err := testutil.GatherAndCompare(d.metrics.Gatherer(), strings.NewReader(want), "s3ferry_watch_overflows_total"); err != nil {
		t.Fatalf("overflow counter: %v", err)
	}
}

// TestDaemonRunWaitsForThePoolWhenTheWatcherFails: when inotify cannot
// start, Run returns its error with none of its goroutines (the upload pool
// above all) still running, so the caller may close the index.
func TestDaemonRunWaitsForThePoolWhenTheWatcherFails(t *testing.T) {
	up, _ := agenttest.NewUploader()
	d := &Daemon{
		Index:       index.NewMemory(),
		Uploader:    up,
		openWatcher: func() (*watch.Watcher, error) { return nil, errors.New("start inotify: too many open files") },
	}
	err := d.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "start inotify") {
		t.Fatalf("Run = %v, want the watcher's error", err)
	}
	if left := runningDaemonGoroutines(); len(left) > 0 {
		t.Fatalf("Run returned while %d of its goroutines ran on, e.g.:\n%s", len(left), left[0])
	}
}

// runningDaemonGoroutines returns the stacks of the goroutines that are
// inside a function a daemon's goroutine runs, or that Daemon.Run started.
func runningDaemonGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{"agent.(*Pipeline).Run(", "agent.(*Pipeline).work(", "daemon.(*Daemon).loop(", "daemon.(*Daemon).submitter(", "daemon.(*Daemon).rescanner(", "daemon.(*Daemon).collectGarbage(", "daemon.(*Daemon).readChecks(", "daemon.(*endpointProbe).run(", "daemon.(*Daemon).Run in goroutine"} {
			if strings.Contains(g, "s3ferry/agent/"+fn) || strings.Contains(g, "s3ferry/"+fn) {
				left = append(left, g)
				break
			}
		}
	}
	return left
}

// gcIndex records whether a garbage collection overlapped Close or came
// after it. Its third GC ends the daemon's context and takes a while.
type gcIndex struct {
	index.Store
	stop func()

	mu         sync.Mutex
	runs       int
	running    bool
	closed     bool
	overlapped bool
}

func (x *gcIndex) GC() error {
	x.mu.Lock()
	x.runs++
	x.running = true
	x.overlapped = x.overlapped || x.closed
	third := x.runs == 3
	x.mu.Unlock()
	if third {
		x.stop()
		time.Sleep(20 * time.Millisecond) // a GC that outlives the daemon's context
	}
	x.mu.Lock()
	x.running = false
	x.mu.Unlock()
	return nil
}

func (x *gcIndex) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.overlapped = x.overlapped || x.running
	x.closed = true
	return nil
}

func TestDaemonIndexGCEndsBeforeRunReturns(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	idx := &gcIndex{Store: index.NewMemory(), stop: cancel}
	up, _ := agenttest.NewUploader()
	d := &Daemon{Index: idx, Uploader: up, IndexGCInterval: time.Millisecond}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.runs < 3 {
		t.Fatalf("%d index GCs, want at least 3 (every IndexGCInterval)", idx.runs)
	}
	if idx.overlapped {
		t.Fatal("an index GC was still running when Run returned and the index was closed")
	}
}

// TestDaemonCatchUpWalksLikeSync: the daemon's rescans, asked for through
// the admin endpoint as `s3ferry sync` does, follow sync's rule (the first
// walk of a source is a full one and is recorded; later ones walk the
// look-back partitions; a full one walks everything) and answer their own
// counts.
func TestDaemonCatchUpWalksLikeSync(t *testing.T) {
	root, today, old := agenttest.PartitionedTree(t)
	idx := index.NewMemory()
	up, fake := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := &Daemon{Sources: []*local.Source{src}, Index: idx, Uploader: up, AdminSocket: sock}
	ctx, _ := runDaemon(t, d)
	catchUp := func(query string) agent.Stats {
		t.Helper()
		return postSync(t, ctx, sock, query)
	}

	// The first rescan, at start or this one, walks the whole tree.
	catchUp("")
	if fake.Calls("Put") != 3 {
		t.Fatalf("%d files sent after the first rescan, want 3 (a full walk)", fake.Calls("Put"))
	}
	if st, err := idx.State(src.ID()); err != nil || st.FullWalkNs == 0 {
		t.Fatalf("state %+v, %v: the full walk is not recorded", st, err)
	}

	agenttest.WriteFile(t, root, today+"/new.wav", "n")
	agenttest.WriteFile(t, root, old+"/late.wav", "l")
	late := "p/" + old + "/late.wav"
	if got := catchUp(""); got.Scanned != 2 || slices.Contains(fake.Keys(""), late) {
		t.Fatalf("partition rescan: %+v, sent %v; want today's 2 files scanned and the old partition left alone", got, fake.Keys(""))
	}
	if got := catchUp("?full=1"); got.Scanned != 5 || !slices.Contains(fake.Keys(""), late) {
		t.Fatalf("full rescan: %+v, sent %v; want 5 scanned and the late file sent", got, fake.Keys(""))
	}
}

// runDaemon runs d until the test ends, when Run must return nil; done
// receives Run's result should it end before.
func runDaemon(t *testing.T, d *Daemon) (ctx context.Context, done chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ctx, done
}

// postSync asks the daemon whose admin socket is sock, once it listens,
// for a catch-up rescan, and returns its counts.
func postSync(tb testing.TB, ctx context.Context, sock, query string) agent.Stats {
	tb.Helper()
	for {
		_, err := os.Stat(sock)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("no admin socket %s: %v", sock, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer client.CloseIdleConnections()
	url := "http://s3ferry/sync" + query
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set(admin.RequestHeader, "1")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var stats agent.Stats
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	return stats
}

// fullIndex is an index whose disk is full while full is set: every write
// fails as index.DB's do then.
type fullIndex struct {
	index.Store
	full atomic.Bool
}

func (x *fullIndex) err() error {
	if x.full.Load() {
		return &index.DiskFullError{Dir: "/var/lib/s3ferry", Free: 1 << 20, Min: index.DefaultMinFree}
	}
	return nil
}

func (x *fullIndex) Queue(source, path string) (index.Pending, error) {
	if err := x.err(); err != nil {
		return index.Pending{}, err
	}
	return x.Store.Queue(source, path)
}

func (x *fullIndex) Commit(source, path string, r index.Record, seq uint64) error {
	if err := x.err(); err != nil {
		return err
	}
	return x.Store.Commit(source, path, r, seq)
}

func (x *fullIndex) SetState(source string, s index.SourceState) error {
	if err := x.err(); err != nil {
		return err
	}
	return x.Store.SetState(source, s)
}

// TestDaemonSurvivesAFullIndexDisk: while the index's disk is full the
// daemon is unhealthy, says why, and keeps running; once there is space
// again its files are uploaded and it is healthy.
func TestDaemonSurvivesAFullIndexDisk(t *testing.T) {
	root, _, _ := agenttest.PartitionedTree(t)
	idx := &fullIndex{Store: index.NewMemory()}
	up, fake := agenttest.NewUploader()
	idx.full.Store(true)
	src := agenttest.NewSource(t, root, "2006-01-02")
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := &Daemon{Sources: []*local.Source{src}, Index: idx, Uploader: up, AdminSocket: sock}
	ctx, done := runDaemon(t, d)

	postSync(t, ctx, sock, "?full=1")
	select {
	case err := <-done:
		done <- err
		t.Fatalf("the daemon ended on a full index disk: %v", err)
	default:
	}
	if h := d.health(time.Now()); h.OK || !strings.Contains(h.Why, "index disk full: free space on /var/lib/s3ferry") || strings.Contains(h.Anonymous, "/var/lib") {
		t.Fatalf("health = %+v; want unhealthy, saying the index disk is full (and naming no path in Anonymous)", h)
	}
	if fake.Calls("Put") != 0 {
		t.Fatalf("%d files sent with nowhere to record them", fake.Calls("Put"))
	}

	idx.full.Store(false)
	postSync(t, ctx, sock, "?full=1")
	if fake.Calls("Put") != 3 {
		t.Fatalf("%d files sent once there is space, want 3", fake.Calls("Put"))
	}
	if h := d.health(time.Now()); !h.OK {
		t.Fatalf("unhealthy once there is space again: %s", h.Why)
	}
}

// TestDaemonFileFailingEveryAttemptIsUnhealthy: one file the bucket refuses
// on every attempt makes /healthz fail once it has failed for
// FileFailAfter, naming the file and the reason where only the host's
// admins read it (the socket's status) and neither where anyone may.
func TestDaemonFileFailingEveryAttemptIsUnhealthy(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "d/\x1bbad.wav", "x")
	up, fake := agenttest.NewUploader()
	fake.FailNext("Put", 1<<20, buckettest.InternalError())
	src := agenttest.NewSource(t, root, "")
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := &Daemon{Sources: []*local.Source{src}, Index: index.NewMemory(), Uploader: up, AdminSocket: sock, FileFailAfter: time.Millisecond}
	ctx, _ := runDaemon(t, d)
	postSync(t, ctx, sock, "?full=1")
	deadline := time.After(time.Minute)
	for {
		if h := d.health(time.Now()); !h.OK {
			if !strings.Contains(h.Why, `d/\x1bbad.wav has failed every upload attempt`) || !strings.Contains(h.Why, "server-error") {
				t.Errorf("health %q: want the file, escaped, and its reason", h.Why)
			}
			if strings.Contains(h.Anonymous, "bad.wav") || !strings.Contains(h.Anonymous, "a file has failed every upload attempt") {
				t.Errorf("anonymous health %q: want the failure without the file's name", h.Anonymous)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatal("healthy a minute on with a file failing every attempt")
		case <-time.After(10 * time.Millisecond):
		}
	}
	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	if f := st.LongestFailing; st.FailingFiles != 1 || f == nil || f.Path != "d/\x1bbad.wav" || f.Reason != "server-error" || f.Attempts < 1 {
		t.Fatalf("status: %d failing files, longest %+v; want d/\\x1bbad.wav failing for server-error", st.FailingFiles, f)
	}
}

// TestDaemonMetricsAtZeroFromTheStart: before anything failed, the failure
// counters already carry every reason and every source root at 0, so rules
// over them (rate(...) > 0) read 0 on a healthy host, not "no data".
func TestDaemonMetricsAtZeroFromTheStart(t *testing.T) {
	src := agenttest.NewSource(t, t.TempDir(), "")
	up, _ := agenttest.NewUploader()
	d := &Daemon{Sources: []*local.Source{src}, Index: index.NewMemory(), Uploader: up}
	d.init()
	families, err := d.metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[f.GetName()] == nil {
					labels[f.GetName()] = map[string]bool{}
				}
				labels[f.GetName()][l.GetValue()] = m.GetCounter().GetValue() == 0
			}
		}
	}
	for _, r := range agent.Reasons() {
		if zero, ok := labels["s3ferry_upload_failures_total"][string(r)]; !ok || !zero {
			t.Errorf("s3ferry_upload_failures_total{reason=%q}: exported %t, at 0 %t; want exported at 0", r, ok, zero)
		}
	}
	if zero, ok := labels["s3ferry_rescan_failures_total"][src.Root]; !ok || !zero {
		t.Errorf("s3ferry_rescan_failures_total{source=%q}: exported %t, at 0 %t; want exported at 0", src.Root, ok, zero)
	}
}
