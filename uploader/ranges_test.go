package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// rangedConfig fetches anything above 1 MiB in parts of 1 MiB, 4 at once.
var rangedConfig = uploader.DownloadConfig{PartSize: 1 << 20, PartConcurrency: 4}

// uploadForRanges uploads size bytes as key (multipart: the object carries
// s3ferry's xxhash64 and a composite checksum) and returns them and the
// Result.
func uploadForRanges(t *testing.T, up *uploader.Uploader, bucket, key string, size int) ([]byte, uploader.Result) {
	t.Helper()
	data := randomBytes(size)
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: key, Path: writeFile(t, t.TempDir(), "f", data)})
	if err != nil {
		t.Fatal(err)
	}
	return data, res
}

// checkWhole checks that rel beneath dir holds data and that no
// temporary file is left beside it.
func checkWhole(t *testing.T, dir, rel string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s: %d bytes (%v), want the %d uploaded", rel, len(got), err, len(data))
	}
	noLeftovers(t, filepath.Dir(filepath.Join(dir, rel)))
}

func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".s3ferry-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestDownloadInPartsThroughFaults fetches a multipart object in ranged
// parts through a link that answers 5xx and cuts answers' bodies: the
// file arrives whole and verified against its xxhash64, pinned to its
// version.
func TestDownloadInPartsThroughFaults(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data, res := uploadForRanges(t, use(client, smallConfig(srv)), bucket, "cam.mp4", 12<<20+12345)
	// A later version: the download names the first one.
	uploadForRanges(t, use(client, smallConfig(srv)), bucket, "cam.mp4", 11<<20)

	viaProxy, _, p := proxied(t, srv, 7)
	p.Set(s3test.Faults{ServerErrors: 0.15, CutAnswers: 0.25})
	to := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := uploader.Download(ctx, viaProxy.Bucket(bucket), uploader.DownloadJob{
		Key: "cam.mp4", VersionID: res.VersionID, Size: int64(len(data)), ETag: res.ETag,
		Root: beneath.New(to, beneath.Options{}), Rel: "d/cam.mp4", Config: rangedConfig,
	})
	if err != nil {
		t.Fatalf("download: %v (proxy %+v)", err, p.Stats())
	}
	checkWhole(t, to, "d/cam.mp4", data)
	if !got.Parts || !slices.Contains(got.Checked, "xxhash64") {
		t.Errorf("parts %v, checked %v; want in parts, against xxhash64", got.Parts, got.Checked)
	}
	st := p.Stats()
	if st.CutAnswers == 0 || st.ServerErrors == 0 {
		t.Errorf("faults met: %+v, want cut answers and 5xx", st)
	}
	for _, g := range p.Gets() {
		if !strings.HasPrefix(g.Range, "bytes=") {
			t.Errorf("GET %s without a range", g.Path)
		}
	}
}

// TestDownloadPartRetriedAlone cuts the answer of one part once: that
// range alone is asked again, every other range once.
func TestDownloadPartRetriedAlone(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data, res := uploadForRanges(t, use(client, smallConfig(srv)), bucket, "k", 5<<20+100)
	viaProxy, _, p := proxied(t, srv, 1)
	cut := "bytes=2097152-3145727" // the third part
	var once sync.Once
	p.Set(s3test.Faults{CutAnswers: 1, Only: func(r *http.Request) bool {
		hit := false
		if r.Header.Get("Range") == cut {
			once.Do(func() { hit = true })
		}
		return hit
	}})
	to := t.TempDir()
	_, err := uploader.Download(context.Background(), viaProxy.Bucket(bucket), uploader.DownloadJob{
		Key: "k", VersionID: res.VersionID, Size: int64(len(data)), ETag: res.ETag,
		Root: beneath.New(to, beneath.Options{}), Rel: "k", Config: rangedConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, to, "k", data)
	if n := p.Stats().CutAnswers; n != 1 {
		t.Fatalf("%d answers cut, want 1", n)
	}
	asked := map[string]int{}
	for _, g := range p.Gets() {
		asked[g.Range]++
	}
	want := map[string]int{}
	for off := int64(0); off < int64(len(data)); off += 1 << 20 {
		want[fmt.Sprintf("bytes=%d-%d", off, min(off+1<<20, int64(len(data)))-1)] = 1
	}
	want[cut] = 2
	// The first part is asked for before the size is known: to the part's end.
	if asked["bytes=0-1048575"] != 1 {
		t.Errorf("first part asked %d times", asked["bytes=0-1048575"])
	}
	for r, n := range want {
		if asked[r] != n {
			t.Errorf("range %s asked %d times, want %d (all: %v)", r, asked[r], n, asked)
		}
	}
	if len(asked) != len(want) {
		t.Errorf("ranges asked %v, want %v", asked, want)
	}
}

// TestDownloadCorruptRangeRefused: one range damaged on the way (a byte
// flipped in its answer, which no checksum of a ranged GET covers) makes
// the whole file refused, and nothing is put in place.
func TestDownloadCorruptRangeRefused(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	data, res := uploadForRanges(t, use(client, smallConfig(srv)), bucket, "k", 6<<20)
	viaProxy, _, p := proxied(t, srv, 1)
	p.Set(s3test.Faults{CorruptAnswers: 1, Only: func(r *http.Request) bool {
		return r.Header.Get("Range") == "bytes=4194304-5242879"
	}})
	to := t.TempDir()
	_, err := uploader.Download(context.Background(), viaProxy.Bucket(bucket), uploader.DownloadJob{
		Key: "k", VersionID: res.VersionID, Size: int64(len(data)), ETag: res.ETag,
		Root: beneath.New(to, beneath.Options{}), Rel: "k", Config: rangedConfig,
	})
	if !errors.Is(err, uploader.ErrCorrupt) {
		t.Fatalf("download of a damaged range: %v, want ErrCorrupt", err)
	}
	if p.Stats().CorruptAnswers != 1 {
		t.Fatalf("answers damaged: %d, want 1", p.Stats().CorruptAnswers)
	}
	if _, err := os.Stat(filepath.Join(to, "k")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was put in place: %v", err)
	}
	noLeftovers(t, to)
}

// TestDownloadDamagedObjectRefusedOnFake: a store that serves damaged
// bytes under the right ETag and metadata is caught by the xxhash64 of
// what was written, in parts or in one GET; nothing is put in place.
func TestDownloadDamagedObjectRefusedOnFake(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	data, res := uploadForRanges(t, up, "b", "k", 6<<20+1)
	if err := fake.Damage("k", res.VersionID, 5<<20+3, 1); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []uploader.DownloadConfig{rangedConfig, {PartConcurrency: 1}} {
		to := t.TempDir()
		_, err := uploader.Download(context.Background(), fake, uploader.DownloadJob{
			Key: "k", VersionID: res.VersionID, Size: int64(len(data)), ETag: res.ETag,
			Root: beneath.New(to, beneath.Options{}), Rel: "k", Config: cfg,
		})
		if !errors.Is(err, uploader.ErrCorrupt) {
			t.Fatalf("%+v: download of damaged content: %v, want ErrCorrupt", cfg, err)
		}
		if _, err := os.Stat(filepath.Join(to, "k")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%+v: a file was put in place: %v", cfg, err)
		}
		noLeftovers(t, to)
	}
}

// TestFetchRewrittenPartReadBackWhole: bytes written again after the
// verifying pass read them (a part fetched a second time, its answer
// different) are caught: the file is read back whole after the download,
// not taken for what was hashed while the parts arrived.
func TestFetchRewrittenPartReadBackWhole(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	data, res := uploadForRanges(t, up, "b", "k", 3<<20+5)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file := &watchedFile{File: f, read: make(chan struct{})}
	b := rewritingBucket{Fake: fake, read: file.read, damaged: data[0] ^ 0xff}
	_, err = uploader.Fetch(context.Background(), b, uploader.FetchJob{
		Key: "k", VersionID: res.VersionID, Size: int64(len(data)), ETag: res.ETag, Config: rangedConfig,
	}, file)
	if !errors.Is(err, uploader.ErrCorrupt) {
		t.Fatalf("fetch whose first byte was written again, damaged, after it was read: %v, want ErrCorrupt", err)
	}
}

// rewritingBucket fetches in parts as its Fake does, then, once the
// file's first bytes were read back, writes its first byte again as
// damaged.
type rewritingBucket struct {
	*buckettest.Fake
	read    <-chan struct{}
	damaged byte
}

func (b rewritingBucket) GetRanges(ctx context.Context, key, versionID string, w io.WriterAt, opts uploader.RangeOptions) (uploader.Object, error) {
	obj, err := b.Fake.GetRanges(ctx, key, versionID, w, opts)
	if err != nil {
		return obj, err
	}
	select {
	case <-b.read:
	case <-ctx.Done():
		return obj, ctx.Err()
	}
	_, err = w.WriteAt([]byte{b.damaged}, 0)
	return obj, err
}

// watchedFile closes read once its first byte has been read.
type watchedFile struct {
	*os.File
	once sync.Once
	read chan struct{}
}

func (f *watchedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if off == 0 && n > 0 {
		f.once.Do(func() { close(f.read) })
	}
	return n, err
}
