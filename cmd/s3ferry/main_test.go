package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// Set once in TestMain, read-only after.
var (
	binary   string         // the s3ferry binary under test
	minio    *s3test.Server // shared by the package's tests
	minioErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3ferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other users run the binary too (a permission test runs it as nobody).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3ferry")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build s3ferry:", err)
		os.Exit(1)
	}
	srv, stop, err := s3test.StartMain()
	minio, minioErr = srv, err
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// stats decodes the --json totals a run printed.
func (r result) stats(tb testing.TB) agent.Stats {
	tb.Helper()
	var s agent.Stats
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		tb.Fatalf("decode totals from %q: %v (stderr: %s)", r.stdout, err, r.stderr)
	}
	return s
}

// testEnv is one test's world: a tree, an index directory and a bucket.
type testEnv struct {
	srv    *s3test.Server
	root   string
	index  string
	bucket string
	client *s3.Client
}

func newEnv(tb testing.TB) *testEnv {
	tb.Helper()
	return newEnvOn(tb, s3test.Require(tb, minio, minioErr))
}

// run runs s3ferry with args; "{root}", "{dest}" and "{index}" are replaced.
func (e *testEnv) run(tb testing.TB, args ...string) result {
	tb.Helper()
	return e.runWith(tb, nil, args...)
}

func (e *testEnv) runWith(tb testing.TB, prepare func(*exec.Cmd), args ...string) result {
	tb.Helper()
	return e.runWithin(tb, 5*time.Minute, prepare, args...)
}

// runWithin is runWith for a run that must end within limit: the test
// fails if it does not.
func (e *testEnv) runWithin(tb testing.TB, limit time.Duration, prepare func(*exec.Cmd), args ...string) result {
	tb.Helper()
	r := strings.NewReplacer("{root}", e.root, "{dest}", "s3://"+e.bucket+"/rec/", "{index}", e.index)
	for i, a := range args {
		args[i] = r.Replace(a)
	}
	return runBinary(tb, limit, e.srv.Env(), prepare, args...)
}

// runBinary runs the s3ferry binary with args and env added to the test's
// environment; the test fails if it does not end within limit.
func runBinary(tb testing.TB, limit time.Duration, env []string, prepare func(*exec.Cmd), args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if prepare != nil {
		prepare(cmd)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		tb.Fatalf("s3ferry %s did not end within %s\nstdout: %s\nstderr: %s", args[0], limit, stdout.String(), stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("run s3ferry: %v", err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// sync runs `s3ferry sync {root} {dest}` with the test's index, --json and
// extra flags, and fails the test unless it exits with want.
func (e *testEnv) sync(tb testing.TB, want int, flags ...string) agent.Stats {
	tb.Helper()
	args := append([]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s"}, flags...)
	r := e.run(tb, args...)
	if r.code != want {
		tb.Fatalf("s3ferry sync exit %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	return r.stats(tb)
}

// write creates rel below the root with content and an mtime age ago.
func (e *testEnv) write(tb testing.TB, rel, content string, age time.Duration) {
	tb.Helper()
	p := filepath.Join(e.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	t := time.Now().Add(-age)
	if err := os.Chtimes(p, t, t); err != nil {
		tb.Fatal(err)
	}
}

// keys lists the bucket's keys below rec/, without the prefix, sorted.
func (e *testEnv) keys(tb testing.TB) []string {
	tb.Helper()
	keys := e.list(tb, "rec/")
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, "rec/")
	}
	return keys
}

// list lists the bucket's keys below prefix, sorted.
func (e *testEnv) list(tb testing.TB, prefix string) []string {
	tb.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(e.client, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// object reads rec/key.
func (e *testEnv) object(tb testing.TB, key string) string {
	tb.Helper()
	out, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// versions counts the versions of rec/key.
func (e *testEnv) versions(tb testing.TB, key string) int {
	tb.Helper()
	out, err := e.client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == "rec/"+key {
			n++
		}
	}
	return n
}
