package uploader_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// interrupted uploads data as key with a job that records its progress and
// is cancelled once parts are acknowledged, and returns what it recorded.
func interrupted(t *testing.T, up *uploader.Uploader, bucket, key, path string, parts int) uploader.Multipart {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var last uploader.Multipart
	_, err := up.Upload(ctx, uploader.Job{Bucket: bucket, Key: key, Path: path, Progress: func(m uploader.Multipart) {
		mu.Lock()
		defer mu.Unlock()
		last = m
		if len(m.Parts) >= parts {
			cancel()
		}
	}})
	if err == nil {
		t.Fatalf("upload cancelled after %d parts: no error", parts)
	}
	mu.Lock()
	defer mu.Unlock()
	if last.ID == "" || len(last.Parts) < parts {
		t.Fatalf("progress recorded %+v, want an upload with at least %d parts", last, parts)
	}
	return last
}

func TestUploadResume(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	cfg := smallConfig(srv)
	cfg.PartConcurrency = 1 // parts in order: the cancel lands after part 2
	up := use(client, cfg)
	data := randomBytes(4*int(uploader.MinPartSize) + 11)
	path := writeFile(t, t.TempDir(), "big.bin", data)

	state := interrupted(t, up, bucket, "big", path, 2)
	var reported []uploader.Multipart
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "big", Path: path, Resume: &state,
		Progress: func(m uploader.Multipart) { reported = append(reported, m) }})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, path, data)
	s3test.CheckObject(t, client, bucket, "big", res, "CRC32C", data)
	if want := int64(len(state.Parts)) * uploader.MinPartSize; res.Kept != want {
		t.Errorf("Kept = %d bytes, want the %d of the %d parts sent before", res.Kept, want, len(state.Parts))
	}
	if len(reported) == 0 || reported[0].ID != state.ID {
		t.Errorf("resumed upload reported %+v first, want the upload %s continued", reported, state.ID)
	}
	if n := versionCount(t, client, bucket, "big"); n != 1 {
		t.Errorf("%d versions, want 1", n)
	}
	wantNoUploads(t, client.Bucket(bucket))
}

func TestUploadResumeChangedFile(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	cfg := smallConfig(srv)
	cfg.PartConcurrency = 1
	up := use(client, cfg)
	data := randomBytes(3*int(uploader.MinPartSize) + 5)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	state := interrupted(t, up, bucket, "big", path, 1)

	rewriteInPlace(t, path, data)
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "big", Path: path, Resume: &state})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 0 {
		t.Errorf("Kept = %d bytes of a file that changed, want 0", res.Kept)
	}
	s3test.CheckObject(t, client, bucket, "big", res, "CRC32C", data)
	wantNoUploads(t, client.Bucket(bucket)) // the old upload was aborted
}

// TestUploadLostCompletion is a completion whose answer was lost: the
// upload is done, and the next attempt, resuming it, finds it gone. It
// must find the object and record it, not send the file again.
func TestUploadLostCompletion(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	up := use(client, smallConfig(srv))
	data := randomBytes(2*int(uploader.MinPartSize) + 1)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	var state uploader.Multipart
	first, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "big", Path: path,
		Progress: func(m uploader.Multipart) { state = m }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "big", Path: path, Resume: &state})
	if err != nil {
		t.Fatal(err)
	}
	if res.VersionID != first.VersionID || res.ETag != first.ETag || res.Checksum != first.Checksum {
		t.Errorf("result = %+v, want the version the lost answer would have named: %+v", res, first)
	}
	if n := versionCount(t, client, bucket, "big"); n != 1 {
		t.Errorf("%d versions, want 1: the file was sent again", n)
	}
}

// TestUploadAbortsWithoutProgress: a job that does not record its progress
// cannot resume, so a cancelled upload is aborted, with a context of its
// own since the job's is done.
func TestUploadAbortsWithoutProgress(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	cfg := smallConfig(srv)
	cfg.PartConcurrency = 1
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	parts := 0
	client := withHook(t, srv, func(req *http.Request) {
		if req.URL.Query().Has("partNumber") {
			mu.Lock()
			defer mu.Unlock()
			if parts++; parts == 2 {
				once.Do(cancel)
			}
		}
	})
	up := use(client, cfg)
	path := writeFile(t, t.TempDir(), "big.bin", randomBytes(4*int(uploader.MinPartSize)))
	_, err := up.Upload(ctx, uploader.Job{Bucket: bucket, Key: "big", Path: path})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload: %v, want context.Canceled", err)
	}
	wantNoUploads(t, srv.Client(t).Bucket(bucket))
}

// rewriteInPlace changes the first byte of the file at path, whose
// content is data (changed too): same size, a new mtime.
func rewriteInPlace(tb testing.TB, path string, data []byte) {
	tb.Helper()
	data[0] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		tb.Fatal(err)
	}
}

func wantNoUploads(tb testing.TB, b uploader.Bucket) {
	tb.Helper()
	var left []uploader.MultipartUpload
	err := b.ListMultipartUploads(context.Background(), "", func(m uploader.MultipartUpload) error {
		left = append(left, m)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(left) > 0 {
		tb.Errorf("%d multipart uploads left incomplete: %+v", len(left), left)
	}
}
