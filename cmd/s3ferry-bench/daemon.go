package main

import (
	"cmp"
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
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/uploader"
)

// daemonRows measures `s3ferry run` on the tree the sync scenario built
// (issue 3): latency from a file's close to its object being listed, at a
// steady rate with settle 1s; then the daemon's CPU while idle, watching
// every directory of the tree (no partition layout, the heavier case).
func (b *bench) daemonRows(ctx context.Context, root, idx string) error {
	const (
		rate     = 50 // files per second
		duration = 60 * time.Second
		settle   = time.Second
	)
	d, err := b.startDaemon(ctx, idx, root, "--partition-layout", "2006-01-02", "--settle", settle.String())
	if err != nil {
		return err
	}
	dir := filepath.Join(root, time.Now().Format("2006-01-02"), "latency")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prefix := "rec/" + time.Now().Format("2006-01-02") + "/latency/"
	fmt.Fprintf(os.Stderr, "daemon: writing %d files/s for %s...\n", rate, duration)
	// The writer runs on its own so listing never slows the rate down.
	closed := map[string]time.Time{}
	var mu sync.Mutex
	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, fileSize)
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; i < rate*int(duration/time.Second); i++ {
			<-tick.C
			name := fmt.Sprintf("lat-%06d.wav", i)
			copy(buf, name)
			if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
				writeErr <- err
				return
			}
			mu.Lock()
			closed[prefix+name] = time.Now()
			mu.Unlock()
		}
		writeErr <- nil
	}()
	seen := map[string]time.Time{}
	writing := true
	deadline := time.Now().Add(duration + 2*time.Minute)
	for {
		if writing {
			select {
			case err := <-writeErr:
				if err != nil {
					return err
				}
				writing = false
			default:
			}
		}
		if err := b.listSeen(ctx, prefix, seen); err != nil {
			return err
		}
		mu.Lock()
		all := !writing && len(seen) == len(closed)
		mu.Unlock()
		if all {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon: only %d of %d files arrived", len(seen), len(closed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var lat []time.Duration
	for k, c := range closed {
		lat = append(lat, seen[k].Sub(c))
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.add(fmt.Sprintf("daemon: close → listed, %d files/s, settle %s: p50", rate, settle), fmt.Sprintf("%.2f s", p(0.50).Seconds()))
	b.add("daemon: close → listed: p99 (target ≤ settle + 1 s)", fmt.Sprintf("%.2f s (max %.2f s, %d files, 100 ms polling)", p(0.99).Seconds(), lat[len(lat)-1].Seconds(), len(lat)))
	if err := d.stop(); err != nil {
		return err
	}

	// Idle: every directory watched, nothing changing.
	d, err = b.startDaemon(ctx, idx, root, "--settle", settle.String())
	if err != nil {
		return err
	}
	st, err := d.status(ctx)
	if err != nil {
		return err
	}
	const idle = 60 * time.Second
	fmt.Fprintf(os.Stderr, "daemon: idle for 2 × %s watching %d directories...\n", idle, st.WatchedDirs)
	// The first minute follows the start-up walk, whose garbage the Go
	// runtime collects and hands back to the kernel meanwhile; the second
	// is idle through and through.
	after := d.idle(idle)
	then := d.idle(idle)
	if err := cmp.Or(after.err, then.err); err != nil {
		return err
	}
	b.add(fmt.Sprintf("daemon idle, %d files, %d dirs watched: the minute after the start-up walk", b.scale, st.WatchedDirs), after.String())
	b.add("daemon idle: the minute after that (target < 0.3% of a core, < 5 wake-ups/s)", then.String())
	if r, ok := st.Rescans["partitions"]; ok {
		b.add("daemon start-up walk of the whole tree", fmt.Sprintf("%.1f s (%d files)", r.Seconds, r.Scanned))
	}
	return d.stop()
}

// listSeen records when each key under prefix was first listed.
func (b *bench) listSeen(ctx context.Context, prefix string, seen map[string]time.Time) error {
	now := time.Now()
	// One part (Depth 0): emit is never called concurrently.
	return b.client.Bucket(b.bucket).List(ctx, prefix, uploader.ListOptions{Workers: 1}, func(o uploader.Object) error {
		if _, ok := seen[o.Key]; !ok {
			seen[o.Key] = now
		}
		return nil
	})
}

type benchDaemon struct {
	cmd  *exec.Cmd
	sock string // the admin socket, which serves /status
}

// startDaemon runs s3ferry run and waits for its start-up walk to end.
func (b *bench) startDaemon(ctx context.Context, idx, root string, flags ...string) (*benchDaemon, error) {
	args := append([]string{"run", root, "s3://" + b.bucket + "/rec/", "--index-dir", idx,
		"--admin-listen", "127.0.0.1:0", "--workers", strconv.Itoa(b.workers), "--log-level", "warn"}, flags...)
	d := &benchDaemon{cmd: exec.Command(b.bin, args...), sock: filepath.Join(idx, "admin.sock")}
	d.cmd.Env = append(os.Environ(), b.srv.Env()...)
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if st, err := d.status(ctx); err == nil && len(st.Rescans) > 0 {
			return d, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = d.cmd.Process.Kill()
	return nil, fmt.Errorf("s3ferry run did not finish its start-up walk")
}

func (d *benchDaemon) status(ctx context.Context) (admin.Status, error) {
	var st admin.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://s3ferry/status", nil)
	if err != nil {
		return st, err
	}
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		},
	}}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func (d *benchDaemon) stop() error {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return d.cmd.Wait()
}

// usage is what a process used over a while: CPU time, and its threads'
// context switches (voluntary and not), each a wake-up.
type usage struct {
	over     time.Duration
	cpu      time.Duration
	switches int64
	err      error
}

func (u usage) String() string {
	return fmt.Sprintf("%.2f%% of one core, %.1f wake-ups/s (context switches of its threads) over %s",
		100*u.cpu.Seconds()/u.over.Seconds(), float64(u.switches)/u.over.Seconds(), u.over)
}

// idle waits for the while and says what the daemon used meanwhile.
func (d *benchDaemon) idle(while time.Duration) usage {
	pid := d.cmd.Process.Pid
	cpu0, err := cpuTime(pid)
	if err != nil {
		return usage{err: err}
	}
	sw0, err := switches(pid)
	if err != nil {
		return usage{err: err}
	}
	time.Sleep(while)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return usage{err: err}
	}
	sw1, err := switches(pid)
	return usage{over: while, cpu: cpu1 - cpu0, switches: sw1 - sw0, err: err}
}

// switches sums the context switches of a process's threads so far.
func switches(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("threads of %d: %v", pid, err)
	}
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok && (name == "voluntary_ctxt_switches" || name == "nonvoluntary_ctxt_switches") {
				v, _ := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
				n += v
			}
		}
	}
	return n, nil
}

// cpuTime is the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start after ")".
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}
