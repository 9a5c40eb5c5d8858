package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// heldCount counts the files of rels whose current version has a legal
// hold on.
func (e *testEnv) heldCount(tb testing.TB, rels []string) int {
	tb.Helper()
	n := 0
	for _, rel := range rels {
		on, err := e.srv.LegalHold(context.Background(), e.bucket, "rec/"+rel, e.currentVersion(tb, rel))
		if err != nil {
			tb.Fatal(err)
		}
		if on {
			n++
		}
	}
	return n
}

// TestHoldSetResumable puts legal holds on the versions of a two-day
// range, killing the first run with SIGKILL partway: a second run finishes
// (asking only what is left), files outside the range are untouched, list
// shows the holds, and clear removes them.
func TestHoldSetResumable(t *testing.T) {
	t.Parallel()
	e := newLockedEnv(t)
	var inside, outside []string
	for i := range 20 {
		rel := fmt.Sprintf("%s/f%02d.wav", day(-1-i%2), i)
		inside = append(inside, rel)
		e.write(t, rel, rel, time.Hour)
	}
	for i := range 3 {
		rel := fmt.Sprintf("%s/g%02d.wav", day(-5), i)
		outside = append(outside, rel)
		e.write(t, rel, rel, time.Hour)
	}
	layout := []string{"--partition-layout", "2006-01-02"}
	e.sync(t, 0, append(layout, "--full")...)
	from, to := time.Now().AddDate(0, 0, -2).Format("2006-01-02"), time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	hold := func(op string, extra ...string) []string {
		return append([]string{"hold", op, e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--partition-layout", "2006-01-02", "--from", from, "--to", to}, extra...)
	}
	midway := false
	for i := range 6 {
		e.killAfter(t, time.Duration(400+300*i)*time.Millisecond, hold("set", "--rate", "10")...)
		if n := e.heldCount(t, inside); n > 0 && n < len(inside) {
			midway = true
			break
		} else if n == len(inside) {
			break
		}
	}
	if !midway {
		t.Fatal("no kill landed in the middle of the holds: the test proved nothing")
	}
	before := e.heldCount(t, inside)
	r := e.run(t, hold("set")...)
	want := fmt.Sprintf("hold set: %d versions, %d changed", len(inside), len(inside)-before)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("second hold set: exit %d, %q; want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	if n := e.heldCount(t, inside); n != len(inside) {
		t.Errorf("%d of %d versions of the range held after the second run", n, len(inside))
	}
	if n := e.heldCount(t, outside); n != 0 {
		t.Errorf("%d versions outside the range held", n)
	}
	l := e.run(t, hold("list")...)
	if l.code != 0 || strings.Count(l.stdout, "no retention, legal hold\n") != len(inside) {
		t.Errorf("hold list: exit %d\n%s", l.code, l.stdout)
	}
	c := e.run(t, hold("clear")...)
	if c.code != 0 || !strings.Contains(c.stdout, fmt.Sprintf("%d changed", len(inside))) || e.heldCount(t, inside) != 0 {
		t.Errorf("hold clear: exit %d, %q; %d still held", c.code, c.stdout, e.heldCount(t, inside))
	}
}

// TestRetentionExtend lengthens the retention of locked versions, and
// never shortens it: an earlier --until leaves them as they are.
func TestRetentionExtend(t *testing.T) {
	t.Parallel()
	e := newLockedEnv(t)
	e.write(t, "a.wav", "a", time.Hour)
	e.write(t, "b.wav", "b", time.Hour)
	e.sync(t, 0, "--object-lock-mode", "governance", "--object-lock-retain", "1d")
	later := time.Now().UTC().AddDate(0, 0, 4).Truncate(24 * time.Hour)
	extend := func(until time.Time) result {
		return e.run(t, "retention", "extend", "{root}", "{dest}", "--index-dir", "{index}", "--until", until.Format("2006-01-02"))
	}
	if r := extend(later); r.code != 0 || !strings.Contains(r.stdout, "2 versions, 2 changed") {
		t.Fatalf("extend: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := extend(later.AddDate(0, 0, -2)); r.code != 0 || !strings.Contains(r.stdout, "2 versions, 0 changed, 2 already so") {
		t.Fatalf("extend to an earlier date: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	for _, rel := range []string{"a.wav", "b.wav"} {
		mode, until, err := e.srv.Retention(context.Background(), e.bucket, "rec/"+rel, e.currentVersion(t, rel))
		if err != nil || mode != "GOVERNANCE" || !until.Equal(later) {
			t.Errorf("%s: %s until %s (%v), want GOVERNANCE until %s", rel, mode, until, err, later)
		}
	}
}

// TestSyncRetentionWaitsForLock: files uploaded before the source got
// object-lock are not deleted by the local retention until their versions
// are locked (here by retention extend); then they are.
func TestSyncRetentionWaitsForLock(t *testing.T) {
	t.Parallel()
	e := newLockedEnv(t)
	old := day(-100) + "/old.wav"
	e.write(t, old, "old", 100*24*time.Hour)
	layout := []string{"--partition-layout", "2006-01-02", "--full"}
	e.sync(t, 0, layout...)
	locked := append(layout, "--local-retention", "30d", "--object-lock-mode", "compliance", "--object-lock-retain", "1d")
	if st := e.sync(t, 0, locked...); st.Retention == nil || st.Retention.Deleted != 0 || st.Retention.Kept != 1 || !e.exists(t, old) {
		t.Fatalf("sync with an unlocked version: %+v; want it kept", st.Retention)
	}
	until := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	if r := e.run(t, "retention", "extend", "{root}", "{dest}", "--index-dir", "{index}", "--partition-layout", "2006-01-02", "--object-lock-mode", "compliance", "--object-lock-retain", "1d", "--until", until); r.code != 0 {
		t.Fatalf("extend: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if st := e.sync(t, 0, locked...); st.Retention == nil || st.Retention.Deleted != 1 || e.exists(t, old) {
		t.Fatalf("sync with the version locked: %+v; want it deleted", st.Retention)
	}
}
