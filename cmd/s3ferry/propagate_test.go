package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// markers counts the delete markers of rec/key, and says whether the
// current version is one.
func (e *testEnv) markers(tb testing.TB, key string) (n int, deleted bool) {
	tb.Helper()
	out, err := e.client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == "rec/"+key {
			n++
			deleted = deleted || aws.ToBool(m.IsLatest)
		}
	}
	return n, deleted
}

// TestSyncPropagateDeletes deletes files locally: after the grace period
// (and only then) a delete marker hides the key, its versions stay, verify
// is content, restore --at brings the file back, and the next sync
// uploads it again.
func TestSyncPropagateDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, rel := range []string{"a.wav", "b.wav", "c.wav"} {
		e.write(t, rel, rel, time.Hour)
	}
	e.sync(t, 0)
	before := time.Now()
	time.Sleep(1100 * time.Millisecond) // S3 times are in seconds: --at must fall between upload and delete
	for _, rel := range []string{"a.wav", "c.wav"} {
		if err := os.Remove(filepath.Join(e.root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	short := []string{"--propagate-deletes", "--propagate-deletes-after", "1ms"}
	// c.wav is deleted under a long grace period, by a sync of its own.
	if st := e.sync(t, 0, "--propagate-deletes"); st.Retention == nil || st.Retention.Vanished != 2 || st.Retention.Propagated != 0 {
		t.Fatalf("first sync after the deletes: %+v, want 2 seen vanished, no marker within the grace period", st.Retention)
	}
	if n, _ := e.markers(t, "a.wav"); n != 0 {
		t.Fatalf("a.wav got %d delete markers within the grace period", n)
	}
	if st := e.sync(t, 0, short...); st.Retention == nil || st.Retention.Propagated != 2 {
		t.Fatalf("sync past the grace period: %+v, want 2 delete markers", st.Retention)
	}
	for _, rel := range []string{"a.wav", "c.wav"} {
		if n, deleted := e.markers(t, rel); n != 1 || !deleted || e.versions(t, rel) != 1 {
			t.Errorf("%s: %d markers (current %v), %d versions; want one current marker above the version", rel, n, deleted, e.versions(t, rel))
		}
	}
	if n, _ := e.markers(t, "b.wav"); n != 0 {
		t.Errorf("b.wav, not deleted, got %d markers", n)
	}
	if st := e.sync(t, 0, short...); st.Retention.Propagated != 0 {
		t.Errorf("a sync after the markers wrote %d more", st.Retention.Propagated)
	}
	if v := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep"); v.code != 0 {
		t.Errorf("verify after mirrored deletes: exit %d\n%s\n%s", v.code, v.stdout, v.stderr)
	}

	at := before.UTC().Format(time.RFC3339Nano)
	if r := e.run(t, "restore", "{root}", "{dest}", "--index-dir", "{index}", "--prefix", "a.wav", "--at", at, "--to", e.root, "--overwrite"); r.code != 0 {
		t.Fatalf("restore --at before the delete: exit %d\n%s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, "a.wav")); err != nil || string(b) != "a.wav" {
		t.Fatalf("restored a.wav = %q, %v", b, err)
	}
	if st := e.sync(t, 0, append(short, "--full")...); st.Uploaded != 1 {
		t.Errorf("sync after the restore uploaded %d, want a.wav again", st.Uploaded)
	}
	if got := e.object(t, "a.wav"); got != "a.wav" {
		t.Errorf("a.wav in the bucket after it came back = %q", got)
	}
}

// TestPropagateSurvivesKill9 kills sync -9 while it writes delete
// markers, again and again: no key ever gets a second marker, no file on
// disk gets one, and a last sync marks every deleted file once.
func TestPropagateSurvivesKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 300
	for i := range n {
		e.write(t, fmt.Sprintf("d/f%03d.wav", i), "x", time.Hour)
	}
	e.sync(t, 0)
	deleted := map[string]bool{}
	for i := 0; i < n; i += 2 {
		rel := fmt.Sprintf("d/f%03d.wav", i)
		deleted[rel] = true
		if err := os.Remove(filepath.Join(e.root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"sync", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--settle", "0s",
		"--propagate-deletes", "--propagate-deletes-after", "1ms"}
	e.sync(t, 0, "--propagate-deletes") // seen vanished; markers need the short grace
	midway := false
	for i := range 10 {
		e.killAfter(t, time.Duration(100+100*i)*time.Millisecond, args...)
		marked := 0
		for rel := range deleted {
			m, _ := e.markers(t, rel)
			if m > 1 {
				t.Fatalf("after kill %d: %s has %d delete markers", i+1, rel, m)
			}
			marked += m
		}
		if marked > 0 && marked < len(deleted) {
			midway = true
		}
		if marked == len(deleted) {
			break
		}
	}
	if !midway {
		t.Fatal("no kill landed in the middle of the delete markers: the test proved nothing")
	}
	e.sync(t, 0, "--propagate-deletes", "--propagate-deletes-after", "1ms")
	for i := range n {
		rel := fmt.Sprintf("d/f%03d.wav", i)
		m, current := e.markers(t, rel)
		if want := deleted[rel]; (m == 1 && current) != want || m > 1 {
			t.Errorf("%s (deleted %v): %d markers, current %v", rel, deleted[rel], m, current)
		}
	}
	gone := goneSet(t, e)
	if len(gone) != len(deleted) {
		t.Errorf("gone set has %d entries, want %d", len(gone), len(deleted))
	}
}
