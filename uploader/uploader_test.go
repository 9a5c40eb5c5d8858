package uploader_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/uploader"
	ferrys3 "github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// The MinIO all tests of this package share; set only by TestMain.
var (
	minio    *s3test.Server
	minioErr error
)

func TestMain(m *testing.M) {
	srv, stop, err := s3test.StartMain()
	minio, minioErr = srv, err
	code := m.Run()
	stop()
	os.Exit(code)
}

func server(tb testing.TB) *s3test.Server {
	tb.Helper()
	return s3test.Require(tb, minio, minioErr)
}

// smallConfig makes 5 MiB the multipart threshold, so multipart tests
// need only a few MiB.
func smallConfig(srv *s3test.Server) uploader.Config {
	return uploader.Config{PartSize: uploader.MinPartSize}
}

func TestUploadSmall(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data := randomBytes(100<<10 + 7)
	path := writeFile(t, t.TempDir(), "small.bin", data)

	for _, algo := range []string{"", "CRC32C", "CRC32", "CRC64NVME", "SHA1", "SHA256"} {
		t.Run("checksum="+algo, func(t *testing.T) {
			t.Parallel()
			cfg := uploader.Config{Checksum: algo}
			key := "small-" + algo // never ending in "/": MinIO keeps no versions of such "folders"
			res, err := use(checksumClient(t, srv, cfg), cfg).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: key, Path: path})
			if err != nil {
				t.Fatal(err)
			}

			wantAlgo := algo
			if wantAlgo == "" {
				wantAlgo = uploader.DefaultChecksum
			}
			checkResult(t, res, path, data)
			if res.Multipart {
				t.Errorf("Multipart = true for %d bytes, want false", len(data))
			}
			if res.VersionID == "" {
				t.Error("VersionID is empty on a versioned bucket")
			}
			s3test.CheckObject(t, client, bucket, key, res, wantAlgo, data)
		})
	}
}

func TestUploadEmptyFile(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	path := writeFile(t, t.TempDir(), "empty", nil)

	res, err := use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "empty", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, path, nil)
	// CRC32C of nothing is 0.
	if got, want := res.Checksum, "CRC32C:AAAAAA=="; got != want {
		t.Errorf("Checksum = %q, want %q", got, want)
	}
	s3test.CheckObject(t, client, bucket, "empty", res, "CRC32C", nil)
}

func TestUploadMultipart(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data := randomBytes(12<<20 + 3) // three parts of at most 5 MiB
	path := writeFile(t, t.TempDir(), "large.bin", data)

	for _, algo := range []string{"CRC32C", "SHA256"} {
		t.Run("checksum="+algo, func(t *testing.T) {
			t.Parallel()
			cfg := smallConfig(srv)
			cfg.Checksum = algo
			key := "large/" + algo
			res, err := use(checksumClient(t, srv, cfg), cfg).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: key, Path: path})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, path, data)
			if !res.Multipart {
				t.Error("Multipart = false, want true")
			}
			if !strings.HasSuffix(res.ETag, "-3") {
				t.Errorf("ETag = %q, want a multipart ETag of 3 parts", res.ETag)
			}
			s3test.CheckObject(t, client, bucket, key, res, algo, data)
		})
	}
}

func TestUploadExactlyPartSize(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data := randomBytes(int(uploader.MinPartSize))
	path := writeFile(t, t.TempDir(), "part.bin", data)

	res, err := use(client, smallConfig(srv)).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "part", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, path, data)
	// One part's worth goes through the multipart uploader, which sends
	// it with one PutObject.
	if res.Multipart {
		t.Error("Multipart = true for exactly one part, want false")
	}
	s3test.CheckObject(t, client, bucket, "part", res, "CRC32C", data)
}

func TestUploadUnchanged(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	for _, size := range []int{1000, 6 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			bucket := srv.NewBucket(t, true)
			data := randomBytes(size)
			path := writeFile(t, t.TempDir(), "f", data)
			up := use(client, smallConfig(srv))
			job := uploader.Job{Bucket: bucket, Key: "f", Path: path}
			first, err := up.Upload(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}

			job.KnownHash, job.HasKnownHash = first.Hash, true
			got, err := up.Upload(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			want := uploader.Result{Unchanged: true, Size: first.Size, MtimeNs: first.MtimeNs, Inode: first.Inode, Hash: first.Hash, Perm: first.Perm}
			if got != want {
				t.Errorf("Upload with the known hash = %+v, want %+v", got, want)
			}
			if n := versionCount(t, client, bucket, "f"); n != 1 {
				t.Errorf("%d versions after an unchanged upload, want 1", n)
			}

			// A different known hash sends the file again.
			job.KnownHash = first.Hash + 1
			again, err := up.Upload(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			if again.Unchanged {
				t.Error("Unchanged = true for a different known hash")
			}
			if n := versionCount(t, client, bucket, "f"); n != 2 {
				t.Errorf("%d versions after a second upload, want 2", n)
			}
		})
	}
}

// TestUploadChanged changes the file from inside the HTTP client, while
// the upload's request is on its way: deterministic, no timing involved.
func TestUploadChanged(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	tests := []struct {
		name   string
		size   int
		change func(path string) error
	}{
		{"small appended", 1000, appendByte},
		{"small touched", 1000, touch},
		{"multipart appended", 11 << 20, appendByte},
		{"multipart touched", 11 << 20, touch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "f", randomBytes(tt.size))
			var (
				once      sync.Once
				changeErr error
			)
			client := withHook(t, srv, func(req *http.Request) {
				if req.Method == http.MethodPut {
					once.Do(func() { changeErr = tt.change(path) })
				}
			})

			_, err := use(client, smallConfig(srv)).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: tt.name, Path: path})
			if changeErr != nil {
				t.Fatalf("change the file: %v", changeErr)
			}
			if !errors.Is(err, uploader.ErrChanged) {
				t.Fatalf("Upload of a file changed during the upload: err = %v, want ErrChanged", err)
			}
			if got, want := uploader.ReasonOf(err), uploader.ReasonChanged; got != want {
				t.Errorf("Reason = %q, want %q", got, want)
			}
			if uploader.Fatal(err) {
				t.Error("Fatal = true, want false")
			}
		})
	}
}

func TestUploadVanished(t *testing.T) {
	t.Parallel()
	srv := server(t)
	dir := t.TempDir()
	notDir := writeFile(t, dir, "file", []byte("x"))
	up := use(srv.Client(t), uploader.Config{})
	for _, path := range []string{filepath.Join(dir, "missing"), filepath.Join(notDir, "below-a-file")} {
		_, err := up.Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Upload %s: err = %v, want fs.ErrNotExist", path, err)
		}
		if got, want := uploader.ReasonOf(err), uploader.ReasonVanished; got != want {
			t.Errorf("Upload %s: Reason = %q, want %q", path, got, want)
		}
	}
}

func TestUploadPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	t.Parallel()
	srv := server(t)
	path := writeFile(t, t.TempDir(), "secret", []byte("x"))
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := use(srv.Client(t), uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("err = %v, want fs.ErrPermission", err)
	}
	if got, want := uploader.ReasonOf(err), uploader.ReasonPermission; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

func TestUploadNotRegular(t *testing.T) {
	t.Parallel()
	srv := server(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	up := use(srv.Client(t), uploader.Config{})
	// A FIFO without a writer must not block the upload.
	for _, path := range []string{dir, fifo} {
		_, err := up.Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
		if !errors.Is(err, uploader.ErrNotRegular) {
			t.Errorf("Upload %s: err = %v, want ErrNotRegular", path, err)
		}
	}
}

func TestUploadCanceled(t *testing.T) {
	t.Parallel()
	srv := server(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := writeFile(t, t.TempDir(), "f", randomBytes(6<<20))
	_, err := use(srv.Client(t), smallConfig(srv)).Upload(ctx, uploader.Job{Bucket: "any", Key: "k", Path: path})
	s3test.CheckClass(t, "Upload", err, "canceled", false)
}

func TestUploadInvalidConfig(t *testing.T) {
	t.Parallel()
	srv := server(t)
	cfg := uploader.Config{Checksum: "MD4"}
	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	_, err := use(srv.Client(t), cfg).Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
	if !errors.Is(err, uploader.ErrInvalidConfig) {
		t.Errorf("err = %v, want ErrInvalidConfig", err)
	}
	s3test.CheckClass(t, "Upload", err, "other", true)
	if _, err := srv.NewClient(context.Background(), s3Config(srv, cfg)); !errors.Is(err, uploader.ErrInvalidConfig) {
		t.Errorf("NewClient: err = %v, want ErrInvalidConfig", err)
	}
}

// checkResult checks what Upload says about the local file.
func checkResult(tb testing.TB, res uploader.Result, path string, data []byte) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if res.Unchanged {
		tb.Error("Unchanged = true, want false")
	}
	if got, want := res.Size, int64(len(data)); got != want {
		tb.Errorf("Size = %d, want %d", got, want)
	}
	if got, want := res.Hash, xxhash.Sum64(data); got != want {
		tb.Errorf("Hash = %016x, want %016x", got, want)
	}
	if got, want := res.MtimeNs, fi.ModTime().UnixNano(); got != want {
		tb.Errorf("MtimeNs = %d, want %d", got, want)
	}
	if got, want := res.Inode, uint64(st.Ino); got != want {
		tb.Errorf("Inode = %d, want %d", got, want)
	}
	if res.ETag == "" || strings.Contains(res.ETag, `"`) {
		tb.Errorf("ETag = %q, want a value without quotes", res.ETag)
	}
}

func versionCount(tb testing.TB, client *ferrys3.Client, bucket, key string) int {
	tb.Helper()
	out, err := client.SDK().ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket), Prefix: aws.String(key),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return len(out.Versions)
}

// appendByte appends one byte to the file at path.
func appendByte(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte{'!'}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// touch moves the mtime an hour ahead and leaves size and content alone.
func touch(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	later := fi.ModTime().Add(time.Hour)
	return os.Chtimes(path, later, later)
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// randomBytes returns n bytes that are the same on every run.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

// TestUploadChangedDuringPartsIsChangedAtOnce truncates or rewrites a
// file from inside the HTTP client as its first part is sent: the upload
// fails as changed, and no request is sent twice (a retry would only spend
// the budget on a file that is no longer the one being sent).
func TestUploadChangedDuringPartsIsChangedAtOnce(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	tests := []struct {
		name   string
		change func(path string) error
	}{
		{"truncated", func(path string) error { return os.Truncate(path, 3<<20) }},
		{"rewritten", func(path string) error {
			// Same size, other bytes, an mtime that moved.
			return os.WriteFile(path, randomBytes(11<<20 + 1)[1:], 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "f", randomBytes(11<<20))
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			var (
				mu        sync.Mutex
				sent      = map[string]int{}
				changeErr error
				once      sync.Once
			)
			client := withHook(t, srv, func(req *http.Request) {
				part := req.URL.Query().Get("partNumber")
				if req.Method != http.MethodPut || part == "" {
					return
				}
				mu.Lock()
				sent[part]++
				mu.Unlock()
				once.Do(func() { changeErr = tt.change(path) })
			})
			cfg := smallConfig(srv)
			cfg.PartConcurrency = 1
			_, err := use(client, cfg).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: tt.name, Path: path})
			if changeErr != nil {
				t.Fatalf("change the file: %v", changeErr)
			}
			if got, want := uploader.ReasonOf(err), uploader.ReasonChanged; got != want {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, want, err)
			}
			for part, n := range sent {
				if n > 1 {
					t.Errorf("part %s sent %d times, want once: a changed file is not retried", part, n)
				}
			}
		})
	}
}
