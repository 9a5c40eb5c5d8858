package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// The tree of a fault run is small so make test stays fast. The run with
// hanging requests uses a short stall timeout, so that a hung request costs
// seconds, not a minute; the others keep the default, so a MinIO slowed by
// a loaded machine is not taken for a stalled one.
const (
	faultStall      = 3 * time.Second
	faultSmallFiles = 200
	faultSmallSize  = 4 << 10
	faultLargeSize  = 11 << 20 // 3 parts of 5 MiB
)

// faultTree writes faultSmallFiles small files and two multipart-sized
// ones of random bytes below root and returns them by relative path.
func faultTree(tb testing.TB, root string) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	add := func(rel string, size int) {
		data := make([]byte, size)
		rand.Read(data)
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		files[rel] = data
	}
	for i := range faultSmallFiles {
		add(fmt.Sprintf("d%02d/call-%03d.wav", i%10, i), faultSmallSize)
	}
	add("cams/a.mp4", faultLargeSize)
	add("cams/b.mp4", faultLargeSize)
	return files
}

// faultEnv is a test's tree with a fault proxy in front of the shared
// MinIO; each run gets its own bucket and index (fresh), so every run
// uploads the whole tree.
type faultEnv struct {
	*testEnv
	files map[string][]byte
}

func newFaultEnv(tb testing.TB) *faultEnv {
	tb.Helper()
	e := newEnv(tb)
	return &faultEnv{testEnv: e, files: faultTree(tb, e.root)}
}

// fresh returns the tree with a new bucket and index.
func (f *faultEnv) fresh(tb testing.TB) *faultEnv {
	tb.Helper()
	e := *f.testEnv
	e.bucket = e.srv.NewBucket(tb, true)
	e.index = tb.TempDir()
	return &faultEnv{testEnv: &e, files: f.files}
}

// syncThrough runs sync through a fault proxy with faults that must end
// within limit, and checks that it exits 0 with every file's bytes in
// the bucket and no multipart upload left incomplete. It returns the
// run's wall time and the proxy's counters.
func (f *faultEnv) syncThrough(t *testing.T, faults s3test.Faults, seed uint64, limit time.Duration, flags ...string) (time.Duration, s3test.ProxyStats) {
	t.Helper()
	p := s3test.NewFaultProxy(t, f.srv.Endpoint, seed)
	p.Set(faults)
	start := time.Now()
	args := append([]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s",
		"--endpoint-url", p.URL, "--part-size", "5MiB"}, flags...)
	r := f.runWithin(t, limit, nil, args...)
	took := time.Since(start)
	p.Set(s3test.Faults{}) // the checks below go straight to MinIO anyway
	if r.code != 0 {
		t.Fatalf("sync through %+v: exit %d, want 0 (proxy %+v)\nstderr: %s", faults, r.code, p.Stats(), r.stderr)
	}
	if got := r.stats(t); got.Uploaded != int64(len(f.files)) || got.Failed != 0 {
		t.Errorf("sync through %+v: %+v, want %d uploaded and none failed", faults, got, len(f.files))
	}
	f.checkBucket(t)
	return took, p.Stats()
}

// checkBucket checks that every local file's bytes are in the bucket and
// no multipart upload is left incomplete.
func (f *faultEnv) checkBucket(t *testing.T) {
	t.Helper()
	for rel, data := range f.files {
		if got := f.object(t, rel); !bytes.Equal([]byte(got), data) {
			t.Fatalf("%s in the bucket: %d bytes that differ from the file's %d", rel, len(got), len(data))
		}
	}
	out, err := f.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left incomplete", len(out.Uploads))
	}
}

// TestSyncServerErrors: with 10% and 30% of requests answered 500/503 a
// sync still uploads everything and exits 0, within the retry budget.
// It logs each run's time against a clean run's.
func TestSyncServerErrors(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	clean, _ := f.fresh(t).syncThrough(t, s3test.Faults{}, 1, 5*time.Minute)
	for _, frac := range []float64{0.10, 0.30} {
		took, st := f.fresh(t).syncThrough(t, s3test.Faults{ServerErrors: frac}, 1, 5*time.Minute)
		if st.ServerErrors == 0 {
			t.Errorf("%.0f%% 5xx: the proxy answered no errors (%+v): the run proves nothing", frac*100, st)
		}
		t.Logf("%.0f%% 5xx: %s, clean %s (%.1f×); %d of %d requests failed", frac*100,
			took.Round(10*time.Millisecond), clean.Round(10*time.Millisecond), took.Seconds()/clean.Seconds(), st.ServerErrors, st.Requests)
	}
}

// TestSyncCutBodies: 5% of request bodies cut mid-way are sent again.
func TestSyncCutBodies(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	_, st := f.syncThrough(t, s3test.Faults{CutBodies: 0.05}, 2, 5*time.Minute)
	if st.CutBodies == 0 {
		t.Errorf("no body was cut (%+v): the run proves nothing", st)
	}
}

// TestSyncHangingRequests: 2% of requests are taken and never answered.
// Each costs one stall timeout and a back-off of a second or two before
// its retry; a few of them among the ~250 requests of the tree, even all
// in one of the 16 workers, stay far below 30 stall timeouts. Without the
// watchdog the run never ends.
func TestSyncHangingRequests(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	_, st := f.syncThrough(t, s3test.Faults{Hangs: 0.02}, 3, 30*faultStall, "--stall-timeout", faultStall.String())
	if st.Hangs == 0 {
		t.Errorf("no request hung (%+v): the run proves nothing", st)
	}
}

// TestRunCountsStalls: the daemon retries a request that hung and counts
// it in s3ferry_upload_stalls_total.
func TestRunCountsStalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 4)
	d := e.startDaemon(t, "--endpoint-url", p.URL, "--stall-timeout", "1s")
	p.Set(s3test.Faults{Hangs: 1})
	writeNow(t, filepath.Join(e.root, day(0), "a.wav"), "first")
	eventually(t, 30*time.Second, "a request to hang", func() bool { return p.Stats().Hangs > 0 })
	p.Set(s3test.Faults{})
	eventually(t, 30*time.Second, "the file in the bucket", func() bool { return e.hasKeys(t, day(0)+"/a.wav") })
	if got := d.metric(t, "s3ferry_upload_stalls_total"); got < 1 {
		t.Errorf("s3ferry_upload_stalls_total = %v, want at least 1", got)
	}
	if st := d.status(t); st.Totals.Failed != 0 {
		t.Errorf("status totals %+v, want no failure: a stalled request is retried, not failed", st.Totals)
	}
}
