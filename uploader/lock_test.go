package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// TestFakeLockIsStrict: the Fake refuses, as AWS does and MinIO does not,
// lock headers on a Put without a content checksum, and lock headers on a
// bucket without Object Lock; a locked version cannot be deleted nor its
// retention shortened, a COMPLIANCE one not made GOVERNANCE.
func TestFakeLockIsStrict(t *testing.T) {
	ctx := context.Background()
	data := []byte("locked")
	lock := uploader.Lock{Mode: uploader.LockCompliance, RetainUntil: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	sum, _ := uploader.SumChecksum(uploader.DefaultChecksum, data)

	unlocked := buckettest.NewFake("b", "")
	if _, err := unlocked.Put(ctx, "k", bytes.NewReader(data), int64(len(data)), uploader.PutOptions{Checksum: sum, Lock: lock}); err == nil {
		t.Error("a Put with lock headers to a bucket without Object Lock succeeded")
	}

	fake := buckettest.NewFake("b", "")
	fake.Lock = &uploader.ObjectLock{}
	if _, err := fake.Put(ctx, "k", bytes.NewReader(data), int64(len(data)), uploader.PutOptions{Lock: lock}); err == nil {
		t.Error("a Put with lock headers and no checksum succeeded")
	}
	w, err := fake.Put(ctx, "k", bytes.NewReader(data), int64(len(data)), uploader.PutOptions{Checksum: sum, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	o, err := fake.Head(ctx, "k", w.VersionID)
	if err != nil || o.Lock.Lock != lock {
		t.Fatalf("Head lock = %+v, %v; want %+v", o.Lock, err, lock)
	}
	if _, err := fake.Delete(ctx, "k", w.VersionID); !errors.Is(err, uploader.ErrLocked) {
		t.Errorf("Delete of the locked version: %v, want ErrLocked", err)
	}
	shorter := lock
	shorter.RetainUntil = lock.RetainUntil.Add(-time.Minute)
	if err := fake.PutRetention(ctx, "k", w.VersionID, shorter); !errors.Is(err, uploader.ErrLocked) {
		t.Errorf("shortening: %v, want ErrLocked", err)
	}
	governance := uploader.Lock{Mode: uploader.LockGovernance, RetainUntil: lock.RetainUntil.Add(time.Hour)}
	if err := fake.PutRetention(ctx, "k", w.VersionID, governance); !errors.Is(err, uploader.ErrLocked) {
		t.Errorf("COMPLIANCE to GOVERNANCE: %v, want ErrLocked", err)
	}
	longer := lock
	longer.RetainUntil = lock.RetainUntil.Add(time.Hour)
	if err := fake.PutRetention(ctx, "k", w.VersionID, longer); err != nil {
		t.Errorf("lengthening: %v", err)
	}
}

// TestUploadLockFallback: where the store refuses lock headers on uploads,
// the Uploader sends the file again without them and locks the version
// with PutObjectRetention right after, and says so; small and multipart.
func TestUploadLockFallback(t *testing.T) {
	for _, size := range []int{100, int(uploader.MinPartSize) + 100} {
		up, fake := onFake(uploader.Config{})
		fake.Lock = &uploader.ObjectLock{}
		fake.RefuseLockHeaders = true
		path := writeFile(t, t.TempDir(), "f", randomBytes(size))
		start := time.Now()
		res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "k", Path: path, Lock: uploader.LockPolicy{Mode: uploader.LockGovernance, Retain: 24 * time.Hour}})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if res.LockVia != uploader.LockViaRetention || res.Lock.Mode != uploader.LockGovernance || res.Lock.RetainUntil.Before(start.Add(23*time.Hour)) {
			t.Errorf("%d bytes: Result lock %+v via %q, want GOVERNANCE a day ahead via retention", size, res.Lock, res.LockVia)
		}
		o, err := fake.Head(context.Background(), "k", res.VersionID)
		if err != nil || o.Lock.Lock != res.Lock {
			t.Errorf("%d bytes: Head lock %+v, %v; want %+v", size, o.Lock, err, res.Lock)
		}
		if n := fake.Calls("PutRetention"); n != 1 {
			t.Errorf("%d bytes: %d PutRetention calls, want 1", size, n)
		}
		if n := fakeVersions(t, fake, "k"); n != 1 {
			t.Errorf("%d bytes: %d versions, want 1", size, n)
		}
	}
}
