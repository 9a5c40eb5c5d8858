package bucket

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// What the tool tests share: a local tree, an index and a fake bucket.

// fixture is one source backed up to a Fake.
type fixture struct {
	src  *local.Source
	idx  *index.Memory
	fake *buckettest.Fake
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	return &fixture{
		src:  &local.Source{Root: tb.TempDir(), Bucket: "b", Prefix: "rec/"},
		idx:  index.NewMemory(),
		fake: buckettest.NewFake("b", ""),
	}
}

func (f *fixture) open(string) uploader.Bucket { return f.fake }

// write writes a local file and sets its mtime an hour back, so it has
// settled.
func (f *fixture) write(tb testing.TB, rel, content string) string {
	tb.Helper()
	abs := filepath.Join(f.src.Root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(abs, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(abs, old, old); err != nil {
		tb.Fatal(err)
	}
	return abs
}

// put stores content under rel's key, with s3ferry's metadata when meta.
func (f *fixture) put(tb testing.TB, rel, content string, meta bool) uploader.Written {
	tb.Helper()
	opts := uploader.PutOptions{}
	if meta {
		opts.Metadata = map[string]string{uploader.MetaHash: uploader.FormatMetaHash(xxhash.Sum64String(content))}
	}
	w, err := f.fake.Put(context.Background(), f.src.Prefix+rel, bytes.NewReader([]byte(content)), int64(len(content)), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// upload does what a sync does for one file: writes it, puts it with
// metadata and records it.
func (f *fixture) upload(tb testing.TB, rel, content string) index.Record {
	tb.Helper()
	abs := f.write(tb, rel, content)
	w := f.put(tb, rel, content, true)
	info, err := os.Stat(abs)
	if err != nil {
		tb.Fatal(err)
	}
	rec := local.StatOf(info).Record()
	rec.Hash, rec.ETag, rec.VersionID, rec.Checksum = xxhash.Sum64String(content), w.ETag, w.VersionID, w.Checksum
	if err := f.idx.Commit(f.src.ID(), rel, rec, 0); err != nil {
		tb.Fatal(err)
	}
	return rec
}

// record returns the index's record of rel; ok false when there is none.
func (f *fixture) record(tb testing.TB, rel string) (index.Record, bool) {
	tb.Helper()
	rec, ok, err := f.idx.Get(f.src.ID(), rel)
	if err != nil {
		tb.Fatal(err)
	}
	return rec, ok
}
