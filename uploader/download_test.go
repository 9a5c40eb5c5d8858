package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
	ferrys3 "github.com/s3ferry/s3ferry/uploader/s3"
)

func TestDownload(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		size int
	}{{"small", 1000}, {"multipart", 11 << 20}, {"empty", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := randomBytes(tt.size)
			src := writeFile(t, t.TempDir(), "f", data)
			mtime := time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)
			if err := os.Chtimes(src, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			up, err := use(client, smallConfig(srv)).Upload(ctx, uploader.Job{Bucket: bucket, Key: tt.name, Path: src})
			if err != nil {
				t.Fatal(err)
			}
			to := t.TempDir()
			dst := filepath.Join(to, "a", "b", tt.name)
			res, err := uploader.Download(ctx, client.Bucket(bucket), uploader.DownloadJob{Key: tt.name, VersionID: up.VersionID, Root: beneath.New(to, beneath.Options{}), Rel: "a/b/" + tt.name, WantHash: up.Hash, HasWantHash: true})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(data))
			}
			if !slices.Contains(res.Checked, "xxhash64") {
				t.Errorf("checked %v, want xxhash64 among them", res.Checked)
			}
			if fi, err := os.Stat(dst); err != nil || !fi.ModTime().Equal(mtime) {
				t.Errorf("mtime %v (%v), want the uploaded file's %v", fi.ModTime(), err, mtime)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".s3ferry-*")); len(leftovers) != 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

func TestDownloadNeverReplacesWithoutOverwrite(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	putObject(t, client, bucket, "k", "new content", nil)
	to := t.TempDir()
	dst := writeFile(t, to, "k", []byte("old"))

	_, err := uploader.Download(ctx, client.Bucket(bucket), uploader.DownloadJob{Key: "k", Root: beneath.New(to, beneath.Options{}), Rel: "k"})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Download over an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Fatalf("file is %q after a refused download, want it untouched", got)
	}
	if _, err := uploader.Download(ctx, client.Bucket(bucket), uploader.DownloadJob{Key: "k", Root: beneath.New(to, beneath.Options{}), Rel: "k", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "new content" {
		t.Fatalf("file is %q after an overwrite, want the object's content", got)
	}
}

func TestDownloadCorrupt(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	// Metadata that does not describe the content, as from a broken writer.
	putObject(t, client, bucket, "bad-meta", "content", map[string]string{uploader.MetaHash: "0123456789abcdef"})
	putObject(t, client, bucket, "plain", "content", nil)
	dir := t.TempDir()
	tests := []struct {
		name string
		job  uploader.DownloadJob
	}{
		{"metadata hash", uploader.DownloadJob{Key: "bad-meta", Root: beneath.New(dir, beneath.Options{}), Rel: "a"}},
		{"wanted hash", uploader.DownloadJob{Key: "plain", Root: beneath.New(dir, beneath.Options{}), Rel: "b", WantHash: 42, HasWantHash: true}},
	}
	for _, tt := range tests {
		_, err := uploader.Download(ctx, client.Bucket(bucket), tt.job)
		if !errors.Is(err, uploader.ErrCorrupt) || uploader.ReasonOf(err) != uploader.ReasonChecksumMismatch {
			t.Errorf("%s: %v (reason %q), want ErrCorrupt", tt.name, err, uploader.ReasonOf(err))
		}
		if _, err := os.Stat(filepath.Join(dir, tt.job.Rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a file was written: %v", tt.name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	// An object of another tool is checked against its MD5 ETag.
	res, err := uploader.Download(ctx, client.Bucket(bucket), uploader.DownloadJob{Key: "plain", Root: beneath.New(dir, beneath.Options{}), Rel: "c"})
	if err != nil || !slices.Contains(res.Checked, "MD5") {
		t.Errorf("plain object: checked %v, %v; want MD5 among them", res.Checked, err)
	}
}

// TestVersioningUnset: a bucket that never had versioning says "" (the
// other configuration reads are in the conformance suite, TestBucket).
func TestVersioningUnset(t *testing.T) {
	t.Parallel()
	srv := server(t)
	b := srv.Client(t).Bucket(srv.NewBucket(t, false))
	if v, err := b.Versioning(context.Background()); err != nil || v != "" {
		t.Errorf("Versioning of a fresh bucket = %q, %v; want \"\"", v, err)
	}
}

func putObject(tb testing.TB, client *ferrys3.Client, bucket, key, body string, meta map[string]string) {
	tb.Helper()
	_, err := client.SDK().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body)), Metadata: meta,
	})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}
