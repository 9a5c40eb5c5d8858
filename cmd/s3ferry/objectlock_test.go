package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// newLockedEnv is newEnv on a bucket with Object Lock.
func newLockedEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newEnv(tb)
	e.bucket = e.srv.NewLockedBucket(tb)
	return e
}

// currentVersion returns the version ID of rec/key's current version.
func (e *testEnv) currentVersion(tb testing.TB, key string) string {
	tb.Helper()
	out, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatalf("head %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

// TestSyncObjectLock: with object-lock, every version sync uploads (small
// and multipart) carries the retention, read back with GetObjectRetention
// about retain after the upload; a source with object-lock whose bucket
// has no Object Lock is refused before anything is uploaded, in one line.
func TestSyncObjectLock(t *testing.T) {
	t.Parallel()
	e := newLockedEnv(t)
	e.write(t, "a.wav", "a", time.Hour)
	e.writeRandom(t, "big.mp4", 6<<20)
	start := time.Now()
	lock := []string{"--object-lock-mode", "compliance", "--object-lock-retain", "1d", "--part-size", "5MiB"}
	if st := e.sync(t, 0, lock...); st.Uploaded != 2 {
		t.Fatalf("sync: %+v, want 2 uploaded", st)
	}
	for _, key := range []string{"a.wav", "big.mp4"} {
		mode, until, err := e.srv.Retention(context.Background(), e.bucket, "rec/"+key, e.currentVersion(t, key))
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(24 * time.Hour); mode != "COMPLIANCE" || until.Before(want.Add(-time.Second)) || until.After(want.Add(time.Minute)) {
			t.Errorf("%s: retention %s until %s, want COMPLIANCE until about %s", key, mode, until, want)
		}
	}

	plain := newEnv(t)
	plain.write(t, "a.wav", "a", time.Hour)
	r := plain.run(t, append([]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s"}, lock...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "has no Object Lock enabled") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("sync with object-lock to a bucket without: exit %d, stderr %q; want 2 and one line", r.code, r.stderr)
	}
	if keys := plain.keys(t); len(keys) != 0 {
		t.Errorf("refused sync uploaded %q", keys)
	}
}
