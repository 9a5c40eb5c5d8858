package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/agent/daemon"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestPlainHTTPBehindHTTPS: an https:// endpoint URL for a MinIO that
// speaks plain HTTP fails sync, doctor and run at once with one line
// saying so and what to write instead, after one attempt: a handshake
// answered in plain HTTP is answered so again, and retrying it cost a
// minute (12 attempts of the bucket check).
func TestPlainHTTPBehindHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "a.wav", "a", 0)
	relay := s3test.NewRelay(t, e.srv.Endpoint)
	url := "https://" + relay.Addr
	want := "endpoint " + url + " speaks plain HTTP, not TLS: write its URL with http://, not https://"
	for _, tt := range []struct {
		args []string
		// requests is how many requests the command makes before it
		// stops: one connection each, none retried.
		requests int64
	}{
		{[]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--endpoint-url", url}, 1},
		// The replication rule it reads first, then the bucket check.
		{[]string{"doctor", "{dest}", "--index-dir", "{index}", "--endpoint-url", url}, 2},
		{[]string{"run", "{root}", "{dest}", "--index-dir", "{index}", "--admin-listen", "off", "--endpoint-url", url}, 1},
	} {
		before := relay.Accepted()
		r := e.run(t, tt.args...)
		out := r.stdout + r.stderr
		if r.code == 0 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want non-zero and %q\nstdout: %s\nstderr: %s", tt.args[0], r.code, want, r.stdout, r.stderr)
		}
		if n := relay.Accepted() - before; n != tt.requests {
			t.Errorf("%s: %d connections to the endpoint, want %d: an answer in plain HTTP was retried", tt.args[0], n, tt.requests)
		}
	}
}

// TestRunEndpointRefused: when the endpoint starts refusing connections
// while the daemon runs, /healthz (and status, and s3ferry_endpoint_down)
// say so within seconds of the first refusal, naming the endpoint and the
// refusal; once it answers again on that port the daemon is healthy and
// the file written meanwhile arrives. It was silent and healthy for over
// a minute, then reported the probe's timeout.
func TestRunEndpointRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	relay := s3test.NewRelay(t, e.srv.Endpoint)
	url := "http://" + relay.Addr
	d := e.startDaemon(t, "--endpoint-url", url)
	healthz := func() (int, string) { return healthzOf(t, d.get) }
	if code, body := healthz(); code != http.StatusOK {
		t.Fatalf("/healthz %d %q with the endpoint up", code, body)
	}
	relay.Off()
	e.write(t, "cams/a.wav", "written while the endpoint refuses", 0)
	start := time.Now()
	eventually(t, 20*time.Second, "/healthz to fail", func() bool { code, _ := healthz(); return code == http.StatusServiceUnavailable })
	t.Logf("/healthz failed %s after the file was written", time.Since(start).Round(100*time.Millisecond))
	want := "endpoint " + url + " refused the connection"
	if _, body := healthz(); !strings.Contains(body, want) {
		t.Errorf("/healthz = %q, want it to say %q", body, want)
	}
	if st := d.status(t); st.Healthy || !strings.Contains(st.EndpointError, want) || st.EndpointDownSince.IsZero() {
		t.Errorf("status: healthy %t, endpoint error %q, down since %v; want unhealthy, %q", st.Healthy, st.EndpointError, st.EndpointDownSince, want)
	}
	if got := d.metric(t, "s3ferry_endpoint_down"); got != 1 {
		t.Errorf("s3ferry_endpoint_down = %v while the endpoint refuses, want 1", got)
	}
	if !strings.Contains(d.out.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, d.out)
	}

	if err := relay.On(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "/healthz to recover", func() bool { code, _ := healthz(); return code == http.StatusOK })
	eventually(t, 30*time.Second, "the file written meanwhile", func() bool { return e.hasKeys(t, "cams/a.wav") })
	if got := d.metric(t, "s3ferry_endpoint_down"); got != 0 {
		t.Errorf("s3ferry_endpoint_down = %v once the endpoint answers, want 0", got)
	}
}

// TestRunUnhealthyAtOnceWhenTheRootGoes: a source root removed or moved
// away while run runs makes /healthz 503 naming it, and
// s3ferry_source_root_missing 1, from inotify's word on the root itself,
// not at the next rescan (an hour away here); once the root is back it is
// watched anew, /healthz is 200 and a file written into it arrives.
func TestRunUnhealthyAtOnceWhenTheRootGoes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		away, back func(root string) error
	}{
		{"moved", func(root string) error { return os.Rename(root, root+".moved") }, func(root string) error { return os.Rename(root+".moved", root) }},
		{"removed", os.RemoveAll, func(root string) error { return os.Mkdir(root, 0o755) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.write(t, "cams/before.wav", "before", time.Hour)
			d := e.startDaemon(t)
			healthz := func() (int, string) { return healthzOf(t, d.get) }
			missing := fmt.Sprintf("s3ferry_source_root_missing{source=%q}", e.root)
			if code, body := healthz(); code != http.StatusOK || !strings.Contains(d.metrics(t), missing+" 0\n") {
				t.Fatalf("/healthz %d %q, %s not 0, before the root went away", code, body, missing)
			}
			if err := tt.away(e.root); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			eventually(t, 15*time.Second, "/healthz to fail", func() bool { code, _ := healthz(); return code == http.StatusServiceUnavailable })
			t.Logf("/healthz failed %s after the root was %s", time.Since(start).Round(10*time.Millisecond), tt.name)
			if _, body := healthz(); !strings.Contains(body, "source root "+e.root+" is missing") {
				t.Errorf("/healthz = %q, want it to name the root %s as missing", body, e.root)
			}
			if !strings.Contains(d.metrics(t), missing+" 1\n") {
				t.Errorf("%s is not 1 while the root is gone", missing)
			}

			if err := tt.back(e.root); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "/healthz to recover", func() bool { code, _ := healthz(); return code == http.StatusOK })
			if !strings.Contains(d.metrics(t), missing+" 0\n") {
				t.Errorf("%s is not 0 once the root is back", missing)
			}
			e.write(t, "cams/after.wav", "after", 0)
			eventually(t, 30*time.Second, "the file written into the root that is back", func() bool { return e.hasKeys(t, "cams/after.wav") })
		})
	}
}

// TestRunUnhealthyAtOnceWhenTheRootIsUnmounted: a source root that is a
// mount point, unmounted while run runs, makes /healthz 503 naming it
// unmounted from the mount table's word (watch.WatchMounts), well before
// the roots' recheck (daemon.DefaultRootRecheck, 10 s) would see it; once
// it is mounted again it is watched anew and a file written into it
// arrives. Mounting needs root (CI runs as root).
func TestRunUnhealthyAtOnceWhenTheRootIsUnmounted(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs on the source root: needs root (CI runs as root)")
	}
	e := newEnv(t)
	mount := func() {
		t.Helper()
		if err := unix.Mount("tmpfs", e.root, "tmpfs", 0, "size=4m,mode=0755"); err != nil {
			t.Fatalf("mount a tmpfs on %s: %v", e.root, err)
		}
	}
	mount()
	t.Cleanup(func() { unix.Unmount(e.root, unix.MNT_DETACH) })
	e.write(t, "cams/before.wav", "before", time.Hour)
	d := e.startDaemon(t)
	if code, body := healthzOf(t, d.get); code != http.StatusOK {
		t.Fatalf("/healthz %d %q before the unmount", code, body)
	}
	if err := unix.Unmount(e.root, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, daemon.DefaultRootRecheck/2, "/healthz to fail on the mount table's word", func() bool {
		code, _ := healthzOf(t, d.get)
		return code == http.StatusServiceUnavailable
	})
	t.Logf("/healthz failed %s after the unmount", time.Since(start).Round(10*time.Millisecond))
	if _, body := healthzOf(t, d.get); !strings.Contains(body, "source root "+e.root+" is unmounted") {
		t.Errorf("/healthz = %q, want it to name the root %s as unmounted", body, e.root)
	}
	mount()
	eventually(t, 15*time.Second, "/healthz to recover", func() bool { code, _ := healthzOf(t, d.get); return code == http.StatusOK })
	e.write(t, "cams/after.wav", "after", 0)
	eventually(t, 30*time.Second, "the file written into the root mounted again", func() bool { return e.hasKeys(t, "cams/after.wav") })
}

// TestRunStartsWithTheEndpointDown: a daemon started while the endpoint
// refuses connections (a host that boots before its S3 server) runs, with
// /healthz 503 naming the endpoint from the start, instead of exiting
// until systemd gives up restarting it; once the endpoint answers on
// that port it is healthy and uploads.
func TestRunStartsWithTheEndpointDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "cams/first.wav", "first", time.Hour)
	e.sync(t, 0) // the index knows the source: no adoption to wait for
	relay := s3test.NewRelay(t, e.srv.Endpoint)
	relay.Off()
	url := "http://" + relay.Addr
	d := e.startDaemon(t, "--endpoint-url", url)
	code, body := healthzOf(t, d.get)
	if want := "endpoint " + url + " refused the connection"; code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
		t.Fatalf("/healthz = %d %q with the endpoint down from the start, want 503 saying %q", code, body, want)
	}
	if got := d.metric(t, "s3ferry_endpoint_down"); got != 1 {
		t.Errorf("s3ferry_endpoint_down = %v, want 1", got)
	}
	e.write(t, "cams/second.wav", "second", 0)
	if err := relay.On(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "/healthz to recover", func() bool { code, _ := healthzOf(t, d.get); return code == http.StatusOK })
	eventually(t, 30*time.Second, "the file written while the endpoint was down", func() bool { return e.hasKeys(t, "cams/second.wav") })
}

// TestRunStopsAtOnceWithTheEndpointDown: uploads held while the endpoint
// is down have moved no byte, so SIGTERM stops the daemon at once instead
// of waiting out its shutdown timeout (10 minutes here) for them; the
// file stays pending and the next start uploads it.
func TestRunStopsAtOnceWithTheEndpointDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "cams/first.wav", "first", time.Hour)
	e.sync(t, 0)
	relay := s3test.NewRelay(t, e.srv.Endpoint)
	relay.Off()
	d := e.startDaemon(t, "--endpoint-url", "http://"+relay.Addr, "--shutdown-timeout", "10m")
	e.write(t, "cams/held.wav", "held", 0)
	eventually(t, 30*time.Second, "the new file to be held by the outage", func() bool {
		return d.metric(t, "s3ferry_uploads_in_flight") == 1
	})
	if code := d.stop(t, time.Minute); code != 0 {
		t.Fatalf("run exited %d on SIGTERM with an upload held\n%s", code, d.out)
	}
	if err := relay.On(); err != nil {
		t.Fatal(err)
	}
	e.startDaemon(t, "--endpoint-url", "http://"+relay.Addr)
	eventually(t, 30*time.Second, "the held file to be uploaded at the next start", func() bool { return e.hasKeys(t, "cams/held.wav") })
}
