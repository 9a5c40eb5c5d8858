package s3_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestUploadLocked uploads a small and a multipart file under each mode
// to a bucket with Object Lock, through a proxy that records the
// requests: every request with lock headers, and every part of a locked
// multipart upload, carries a content checksum (CreateMultipartUpload,
// which has no body, names the parts' algorithm) (S3 refuses lock headers
// without Content-MD5 or an x-amz-checksum-*; MinIO does not, so the
// recording, not MinIO, is the check), GetObjectRetention reads the
// retention back, Head shows it, and deleting the version fails.
func TestUploadLocked(t *testing.T) {
	srv := server(t)
	ctx := context.Background()
	bucket := srv.NewLockedBucket(t)
	proxy := s3test.NewFaultProxy(t, srv.Endpoint, 1)
	cfg := srv.Config()
	cfg.EndpointURL = proxy.URL
	client, err := srv.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	up := use(client, smallConfig())
	for _, mode := range []uploader.LockMode{uploader.LockGovernance, uploader.LockCompliance} {
		for _, size := range []int{1000, int(uploader.MinPartSize) + 1000} {
			t.Run(string(mode)+"/"+map[bool]string{false: "small", true: "multipart"}[size > 1000], func(t *testing.T) {
				proxy.Record(true)
				defer proxy.Record(false)
				before := len(proxy.Seen())
				key := string(mode) + "/" + t.Name()
				path := writeFile(t, t.TempDir(), "f", randomBytes(size))
				start := time.Now()
				res, err := up.Upload(ctx, uploader.Job{Bucket: bucket, Key: key, Path: path, Lock: uploader.LockPolicy{Mode: mode, Retain: 3 * time.Second}})
				if err != nil {
					t.Fatal(err)
				}
				if res.Lock.Mode != mode || res.LockVia != uploader.LockViaHeaders || res.Lock.RetainUntil.Before(start.Add(2*time.Second)) {
					t.Errorf("Result lock = %+v via %q, want %s about 3s ahead via headers", res.Lock, res.LockVia, mode)
				}
				gotMode, until, err := srv.Retention(ctx, bucket, key, res.VersionID)
				if err != nil {
					t.Fatal(err)
				}
				if gotMode != string(mode) || !until.Equal(res.Lock.RetainUntil) {
					t.Errorf("GetObjectRetention = %s until %s, want %s until %s", gotMode, until, mode, res.Lock.RetainUntil)
				}
				o, err := client.Bucket(bucket).Head(ctx, key, res.VersionID)
				if err != nil {
					t.Fatal(err)
				}
				if o.Lock.Mode != mode || !o.Lock.RetainUntil.Equal(res.Lock.RetainUntil) {
					t.Errorf("Head lock = %+v, want %s until %s", o.Lock, mode, res.Lock.RetainUntil)
				}
				ops := map[string]int{}
				for _, r := range proxy.Seen()[before:] {
					op := r.Op()
					ops[op]++
					locked := r.Header.Get("X-Amz-Object-Lock-Mode") != ""
					if op == "CreateMultipartUpload" {
						// No body: it names the algorithm every part's checksum is of.
						if r.Header.Get("X-Amz-Checksum-Algorithm") == "" {
							t.Errorf("CreateMultipartUpload names no checksum algorithm for its parts")
						}
					} else if (locked || op == "UploadPart") && r.Checksum() == "" {
						t.Errorf("%s (lock mode %q) carries no content checksum: headers %v", op, r.Header.Get("X-Amz-Object-Lock-Mode"), r.Header)
					}
					if (op == "PutObject" || op == "CreateMultipartUpload") && (!locked || r.Header.Get("X-Amz-Object-Lock-Retain-Until-Date") == "") {
						t.Errorf("%s carries no lock headers", op)
					}
				}
				if size > 1000 && (ops["CreateMultipartUpload"] != 1 || ops["UploadPart"] != 2) {
					t.Errorf("requests %v, want one CreateMultipartUpload and 2 UploadPart", ops)
				}
				if size == 1000 && ops["PutObject"] != 1 {
					t.Errorf("requests %v, want one PutObject", ops)
				}
				if err := srv.DeleteVersion(ctx, bucket, key, res.VersionID); err == nil {
					t.Errorf("deleting the locked version %s succeeded", res.VersionID)
				}
				if _, err := client.Bucket(bucket).Head(ctx, key, res.VersionID); err != nil {
					t.Errorf("the locked version is gone after a delete: %v", err)
				}
			})
		}
	}
}

// TestUploadLockedUnlockedBucket: lock headers to a bucket without Object
// Lock fail the upload; nothing unlocked is recorded as locked.
func TestUploadLockedUnlockedBucket(t *testing.T) {
	srv := server(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t, true)
	client := srv.Client(t)
	path := writeFile(t, t.TempDir(), "f", randomBytes(10))
	_, err := use(client, smallConfig()).Upload(ctx, uploader.Job{Bucket: bucket, Key: "k", Path: path, Lock: uploader.LockPolicy{Mode: uploader.LockGovernance, Retain: time.Hour}})
	if err == nil {
		t.Fatal("a locked upload to a bucket without Object Lock succeeded")
	}
	if errors.Is(err, uploader.ErrLockHeadersRefused) {
		t.Errorf("error %v is taken for a store that refuses the headers", err)
	}
	lock, err := client.Bucket(bucket).ObjectLock(ctx)
	if err != nil || lock != nil {
		t.Errorf("ObjectLock = %v, %v; want nil, nil", lock, err)
	}
}
