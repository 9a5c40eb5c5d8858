// Package agenttest has what the agent's packages' tests share: local
// trees written as a test wants them, and sources over them.
package agenttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
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

// Uploader reads the file like the real one and answers as told; it
// records what it was asked to send.
type Uploader struct {
	mu   sync.Mutex
	sent []string
	// Before, when set, runs first; an error is returned as is.
	Before func(job uploader.Job) error
}

// Upload implements agent.Uploader.
func (f *Uploader) Upload(_ context.Context, job uploader.Job) (uploader.Result, error) {
	if f.Before != nil {
		if err := f.Before(job); err != nil {
			return uploader.Result{}, err
		}
	}
	data, err := os.ReadFile(job.Path)
	if err != nil {
		return uploader.Result{}, err
	}
	info, err := os.Stat(job.Path)
	if err != nil {
		return uploader.Result{}, err
	}
	st := local.StatOf(info)
	res := uploader.Result{Size: st.Size, MtimeNs: st.MtimeNs, Inode: st.Inode, Hash: xxhash.Sum64(data)}
	if job.HasKnownHash && job.KnownHash == res.Hash {
		res.Unchanged = true
		return res, nil
	}
	f.mu.Lock()
	f.sent = append(f.sent, job.Key)
	res.ETag, res.VersionID = fmt.Sprintf("etag%d", len(f.sent)), fmt.Sprintf("v%d", len(f.sent))
	f.mu.Unlock()
	return res, nil
}

// Count is how many files were sent.
func (f *Uploader) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// Keys are the keys of the files sent, in the order they were.
func (f *Uploader) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
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
