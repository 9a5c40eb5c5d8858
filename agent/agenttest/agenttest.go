// Package agenttest has what the agent's packages' tests share: local
// trees written as a test wants them, sources over them, and the real
// uploader over a buckettest.Fake.
package agenttest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// WriteFile writes rel below root with the given content and an mtime an
// hour ago, so it is settled.
func WriteFile(tb testing.TB, root, rel, content string) {
	tb.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		tb.Fatal(err)
	}
}

// NewSource is a source of root backed up to s3://b/p/, with the partition
// layout given ("" for none), a 48-hour look-back and the default filter.
func NewSource(tb testing.TB, root, layout string) *local.Source {
	tb.Helper()
	l, err := local.ParseLayout(layout)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := local.NewFilter(nil, nil, true)
	if err != nil {
		tb.Fatal(err)
	}
	return &local.Source{Root: root, Bucket: "b", Prefix: "p/", Layout: l, Lookback: 48 * time.Hour, Filter: f}
}

// NewUploader returns the uploader the agent uses over a new Fake named
// "b", the bucket of NewSource's sources, and the Fake, where a test
// counts what was sent (Calls, Keys) and injects failures (Fail,
// FailNext).
func NewUploader() (*uploader.Uploader, *buckettest.Fake) {
	fake := buckettest.NewFake("b", "")
	return UploaderOf(fake), fake
}

// UploaderOf returns an uploader.Uploader with the default configuration
// that sends every job to fake, whatever its bucket, and retries as
// buckettest.Retry does.
func UploaderOf(fake *buckettest.Fake) *uploader.Uploader {
	return uploader.New(func(string) uploader.Bucket { return fake }, buckettest.Retry{}, uploader.Config{})
}

// PartitionedTree writes a tree of daily partitions (2006-01-02): a.wav in
// today's, b.wav in one 30 days old, and loose.txt at the root.
func PartitionedTree(tb testing.TB) (root, today, old string) {
	tb.Helper()
	root = tb.TempDir()
	today = time.Now().Format("2006-01-02")
	old = time.Now().AddDate(0, 0, -30).Format("2006-01-02")
	WriteFile(tb, root, today+"/a.wav", "a")
	WriteFile(tb, root, old+"/b.wav", "b")
	WriteFile(tb, root, "loose.txt", "c")
	return root, today, old
}
