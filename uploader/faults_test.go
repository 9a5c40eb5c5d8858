package uploader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// proxied returns a client of srv through a fault proxy, with a short
// stall timeout, and the proxy.
func proxied(tb testing.TB, srv *s3test.Server, seed uint64) (*s3.Client, *uploader.Uploader, *s3test.FaultProxy) {
	tb.Helper()
	p := s3test.NewFaultProxy(tb, srv.Endpoint, seed)
	cfg := smallConfig(srv)
	clientCfg := srv.Config()
	clientCfg.EndpointURL = p.URL
	clientCfg.StallTimeout = 500 * time.Millisecond
	client, err := srv.NewClient(context.Background(), clientCfg)
	if err != nil {
		tb.Fatal(err)
	}
	return client, use(client, cfg), p
}

// faultThenHeal uploads files of the given sizes while the proxy injects
// f, which it lifts once counted says it happened; every upload must
// succeed with the file's bytes in the bucket.
func faultThenHeal(t *testing.T, f s3test.Faults, counted func(s3test.ProxyStats) int64, sizes ...int) *s3.Client {
	t.Helper()
	srv := server(t)
	bucket := srv.NewBucket(t, false)
	viaProxy, up, p := proxied(t, srv, 1)
	p.Set(f)
	go func() {
		for counted(p.Stats()) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		p.Set(s3test.Faults{})
	}()
	client := srv.Client(t)
	for _, size := range sizes {
		data := randomBytes(size)
		path := writeFile(t, t.TempDir(), "f", data)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := up.Upload(ctx, uploader.Job{Bucket: bucket, Key: "k", Path: path})
		cancel()
		if err != nil {
			t.Fatalf("upload of %d bytes: %v (proxy %+v)", size, err, p.Stats())
		}
		s3test.CheckObject(t, client, bucket, "k", res, uploader.DefaultChecksum, data)
	}
	if counted(p.Stats()) == 0 {
		t.Fatalf("the fault never happened: %+v", p.Stats())
	}
	return viaProxy
}

// TestUploadStalledRequestIsRetried: a request the endpoint takes and never
// answers is cancelled after the stall timeout and sent again.
func TestUploadStalledRequestIsRetried(t *testing.T) {
	t.Parallel()
	client := faultThenHeal(t, s3test.Faults{Hangs: 1}, func(s s3test.ProxyStats) int64 { return s.Hangs }, 1000, 11<<20)
	if got := client.Counters().Stalls; got < 1 {
		t.Errorf("Stalls = %d, want at least 1", got)
	}
}

// TestUploadChecksumMismatchIsRetried: bytes damaged on the way are
// rejected by S3 and sent again within the same Upload.
func TestUploadChecksumMismatchIsRetried(t *testing.T) {
	t.Parallel()
	faultThenHeal(t, s3test.Faults{Corrupt: 1}, func(s s3test.ProxyStats) int64 { return s.Corrupted }, 1000, 11<<20)
}

// TestThrottledCounted: a request S3 throttles (503 SlowDown) counts in
// Config.Throttled though its retry gets through; a 500 does not.
func TestThrottledCounted(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, false)
	p := s3test.NewFaultProxy(t, srv.Endpoint, 1)
	cfg := smallConfig(srv)
	clientCfg := srv.Config()
	clientCfg.EndpointURL = p.URL
	client, err := srv.NewClient(context.Background(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Set(s3test.Faults{ServerErrors: 1}) // every answer a 500 or a 503, at random
	go func() {
		for client.Counters().Throttled == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		p.Set(s3test.Faults{})
	}()
	path := writeFile(t, t.TempDir(), "f", []byte("throttled"))
	if _, err := use(client, cfg).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "k", Path: path}); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if got := client.Counters().Throttled; got < 1 || got > st.ServerErrors {
		t.Errorf("throttled = %d, want 1 to %d (the 503s among the errors injected)", got, st.ServerErrors)
	}
}

// TestUploadLostAnswerStoresOnce: the answer to a write that S3 carried
// out is lost (the connection closes instead). The retry must not store the
// file a second time: the upload finds its object and takes it.
func TestUploadLostAnswerStoresOnce(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	_, up, p := proxied(t, srv, 1)
	client := srv.Client(t)
	for i, size := range []int{1000, 7 << 20} { // one Put; a multipart upload of two parts (its Create answer lost)
		data := randomBytes(size)
		path := writeFile(t, t.TempDir(), "f", data)
		key := fmt.Sprintf("k%d", i)
		p.Set(s3test.Faults{LostAnswers: 1})
		lost := p.Stats().LostAnswers
		go func() {
			for p.Stats().LostAnswers == lost {
				time.Sleep(time.Millisecond)
			}
			p.Set(s3test.Faults{})
		}()
		res, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: key, Path: path})
		if err != nil {
			t.Fatalf("upload of %d bytes: %v (proxy %+v)", size, err, p.Stats())
		}
		s3test.CheckObject(t, client, bucket, key, res, uploader.DefaultChecksum, data)
		if n := versionCount(t, client, bucket, key); n != 1 {
			t.Errorf("%d bytes: %d versions after a lost answer, want 1", size, n)
		}
	}
	wantNoUploads(t, client.Bucket(bucket))
}
