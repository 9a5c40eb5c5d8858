package s3test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestTwoServers runs two servers at once, as a replication test does:
// they share no port, credentials or buckets.
func TestTwoServers(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Endpoint == b.Endpoint || a.AccessKey == b.AccessKey {
		t.Fatalf("servers share endpoint or credentials: %s %s, %s %s", a.Endpoint, a.AccessKey, b.Endpoint, b.AccessKey)
	}
	bucket := a.NewBucket(t, true)
	ctx := context.Background()
	if _, err := a.Client(t).SDK().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("bucket %s on the server that made it: %v", bucket, err)
	}
	if _, err := b.Client(t).SDK().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		t.Errorf("bucket %s of one server exists on the other", bucket)
	}
	out, err := a.Client(t).SDK().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Status), "Enabled"; got != want {
		t.Errorf("versioning of a versioned bucket = %q, want %q", got, want)
	}
}

// TestStopLeavesNothing checks that a test's cleanup ends its server.
func TestStopLeavesNothing(t *testing.T) {
	var pid int
	t.Run("server", func(t *testing.T) {
		pid = Start(t).cmd.Process.Pid
	})
	if pid == 0 {
		t.Skip("no server started")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("minio (pid %d) after its test ended: kill -0 = %v, want ESRCH", pid, err)
	}
}

func TestStartMain(t *testing.T) {
	srv, stop, err := StartMain()
	srv = Require(t, srv, err)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, false)
	if _, err := client.SDK().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
	pid := srv.cmd.Process.Pid
	stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("minio (pid %d) after stop: kill -0 = %v, want ESRCH", pid, err)
	}
}

func TestBinary(t *testing.T) {
	pathDir, home := t.TempDir(), t.TempDir()
	onPath := executable(t, filepath.Join(pathDir, "minio"))
	cached := executable(t, filepath.Join(home, ".cache", "s3ferry", "tools", "minio-v1", "minio"))
	explicit := executable(t, filepath.Join(t.TempDir(), "my-minio"))
	t.Setenv("HOME", home)

	t.Setenv("S3FERRY_MINIO", explicit)
	t.Setenv("PATH", pathDir)
	check(t, "S3FERRY_MINIO set", explicit, nil)

	t.Setenv("S3FERRY_MINIO", "")
	check(t, "minio on PATH", onPath, nil)

	t.Setenv("PATH", t.TempDir())
	check(t, "in the cache", cached, nil)

	t.Setenv("HOME", t.TempDir())
	check(t, "nowhere", "", ErrNoMinIO)

	t.Setenv("S3FERRY_MINIO", filepath.Join(home, "missing"))
	if _, err := Binary(); err == nil || errors.Is(err, ErrNoMinIO) {
		t.Errorf("S3FERRY_MINIO naming a missing file: err = %v, want an error other than ErrNoMinIO", err)
	}
}

func check(tb testing.TB, name, want string, wantErr error) {
	tb.Helper()
	got, err := Binary()
	if got != want || !errors.Is(err, wantErr) {
		tb.Errorf("%s: Binary() = %q, %v; want %q, %v", name, got, err, want, wantErr)
	}
}

func executable(tb testing.TB, path string) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// recordingTB records Skip and Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper()          {}
func (r *recordingTB) Skip(args ...any) { r.skipped, r.msg = true, fmt.Sprint(args...) }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}

func TestSkipOrFail(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		tb := &recordingTB{}
		skipOrFail(tb, ErrNoMinIO)
		if got, want := tb.failed, ci == "true"; got != want {
			t.Errorf("CI=%q: failed = %t, want %t", ci, got, want)
		}
		if got, want := tb.skipped, ci != "true"; got != want {
			t.Errorf("CI=%q: skipped = %t, want %t", ci, got, want)
		}
		if !strings.Contains(tb.msg, "make test") {
			t.Errorf("CI=%q: message %q does not say how to install minio", ci, tb.msg)
		}
	}
}

// TestReplicate sets up replication between two servers with mc and waits
// for an object to arrive on the replica.
func TestReplicate(t *testing.T) {
	src, dst := Start(t), Start(t)
	bucket, replica := src.NewBucket(t, true), dst.NewBucket(t, true)
	src.Replicate(t, bucket, dst, replica)
	ctx := context.Background()
	if _, err := src.Client(t).SDK().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("a/b.txt"), Body: strings.NewReader("replicate me"),
	}); err != nil {
		t.Fatal(err)
	}
	client := dst.Client(t)
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := client.SDK().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(replica), Key: aws.String("a/b.txt")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("object not on the replica after a minute: %v\nsource output:\n%s", err, src.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := src.MC(t, "ls", "--recursive", Alias+"/"+bucket); !strings.Contains(out, "a/b.txt") {
		t.Errorf("mc ls on the source = %q, want a/b.txt in it", out)
	}
}

func TestMCLookup(t *testing.T) {
	pathDir, home := t.TempDir(), t.TempDir()
	// Midnight Commander is called mc too; it is not MinIO's.
	if err := os.WriteFile(filepath.Join(pathDir, "mc"), []byte("#!/bin/sh\necho 'GNU Midnight Commander 4.8'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cached := executable(t, filepath.Join(home, ".cache", "s3ferry", "tools", "mc-v1", "mc"))
	t.Setenv("HOME", home)
	t.Setenv("PATH", pathDir)
	t.Setenv("S3FERRY_MC", "")
	if got, err := MC(); got != cached || err != nil {
		t.Errorf("MC() = %q, %v; want the cached %q, not the other mc on PATH", got, err, cached)
	}
	t.Setenv("HOME", t.TempDir())
	if _, err := MC(); !errors.Is(err, ErrNoMC) {
		t.Errorf("MC() with none = %v, want ErrNoMC", err)
	}
}
