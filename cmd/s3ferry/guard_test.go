package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSyncMaxDelete: a sync whose local retention would delete 9 of 10
// files, over --max-delete 5, deletes none, says why and exits 3, again
// and again; `s3ferry retention confirm` lets the next sync delete them.
func TestSyncMaxDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var old []string
	for i := range 9 {
		rel := fmt.Sprintf("%s/f%d.wav", day(-100), i)
		old = append(old, rel)
		e.write(t, rel, rel, 100*24*time.Hour)
	}
	e.write(t, day(0)+"/young.wav", "young", time.Hour)
	flags := []string{"--partition-layout", "2006-01-02", "--full"}
	e.sync(t, 0, flags...)
	retain := append(flags, "--local-retention", "30d", "--max-delete", "5")
	for pass := range 2 {
		r := e.run(t, append([]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s"}, retain...)...)
		if st := r.stats(t); r.code != 3 || st.Retention == nil || st.Retention.Blocked != 1 || st.Retention.Deleted != 0 || !strings.Contains(r.stderr, "more than max-delete 5") {
			t.Fatalf("pass %d: exit %d, %+v; want 3, blocked, nothing deleted\n%s", pass, r.code, st.Retention, r.stderr)
		}
		for _, rel := range old {
			if !e.exists(t, rel) {
				t.Fatalf("pass %d deleted %s", pass, rel)
			}
		}
	}
	c := e.run(t, "retention", "confirm", "{root}", "{dest}", "--index-dir", "{index}")
	if c.code != 0 || !strings.Contains(c.stdout, "confirmed") {
		t.Fatalf("retention confirm: exit %d\n%s\n%s", c.code, c.stdout, c.stderr)
	}
	if st := e.sync(t, 0, retain...); st.Retention == nil || st.Retention.Deleted != 9 || st.Retention.Blocked != 0 {
		t.Fatalf("sync after confirm: %+v, want 9 deleted", st.Retention)
	}
	if e.exists(t, old[0]) || !e.exists(t, day(0)+"/young.wav") {
		t.Error("after confirm: old files still there, or the young one gone")
	}
	if c := e.run(t, "retention", "confirm", "{root}", "{dest}", "--index-dir", "{index}"); c.code != 0 || !strings.Contains(c.stdout, "no deletes are stopped") {
		t.Errorf("second confirm: exit %d, %q", c.code, c.stdout)
	}
}

// TestRunMaxDelete: the daemon's retention sweep that would delete more
// than --max-delete deletes nothing, and the daemon says so on /healthz
// (503), in status and in s3ferry_deletes_blocked, sweep after sweep,
// until retention confirm, which goes through the daemon's admin socket.
func TestRunMaxDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var old []string
	for i := range 3 {
		rel := fmt.Sprintf("%s/f%d.wav", day(-100), i)
		old = append(old, rel)
		e.write(t, rel, rel, 100*24*time.Hour)
	}
	d := e.startDaemon(t, "--partition-layout", "2006-01-02", "--full-rescan-interval", "0", "--local-retention", "30d", "--retention-interval", "200ms", "--max-delete", "2")
	eventually(t, time.Minute, "the guard to stop the sweep", func() bool {
		return d.metric(t, "s3ferry_deletes_blocked") == 1
	})
	time.Sleep(time.Second) // a few more sweeps
	for _, rel := range old {
		if !e.exists(t, rel) {
			t.Errorf("%s deleted over the guard", rel)
		}
	}
	resp, err := d.tcpGet("/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/healthz %d, want 503", resp.StatusCode)
	}
	if st := d.status(t); st.Healthy || !strings.Contains(st.Health, "more than max-delete 2") || !strings.Contains(st.Health, e.root) {
		t.Errorf("status health %v %q, want unhealthy naming the source and the limit", st.Healthy, st.Health)
	}
	c := e.run(t, "retention", "confirm", "{root}", "{dest}", "--index-dir", "{index}")
	if c.code != 0 || !strings.Contains(c.stdout, "confirmed: the next pass goes on") {
		t.Fatalf("retention confirm through the daemon: exit %d\n%s\n%s", c.code, c.stdout, c.stderr)
	}
	eventually(t, time.Minute, "the confirmed sweep to delete the old files", func() bool {
		return !e.exists(t, old[0]) && d.metric(t, "s3ferry_deletes_blocked") == 0 && d.metric(t, "s3ferry_local_deleted_files_total") == 3
	})
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d\n%s", code, d.out)
	}
}
