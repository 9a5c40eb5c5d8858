package buckettest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

// Factory returns the Bucket under test: empty, versioned, its writes
// carrying CRC32C checksums (uploader.DefaultChecksum).
type Factory func(t *testing.T) uploader.Bucket

// Quirks are the answers of a server that differ from AWS's and that
// the suite accepts from it, each named after the Fake option that
// reproduces it. The zero value holds a Bucket to AWS's answers.
type Quirks struct {
	// ShiftedVersionTimes: the server lists version times as
	// Fake.ShiftedVersionTimes does (VersityGW). A delete marker then
	// carries the time of the version it hides and that version the time
	// of the delete, so whenever the two fall in different seconds the
	// history is one S3 cannot produce; History.Check must refuse it
	// (ErrImpossibleHistory), which is what keeps restore --at from
	// trusting it. AWS: Check passes.
	ShiftedVersionTimes bool
}

// Run runs the suite against the Buckets newBucket returns, each test on
// a new one, accepting the server's quirks q.
func Run(t *testing.T, newBucket Factory, q Quirks) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b uploader.Bucket)
	}{
		{"NotFound", testNotFound},
		{"PutHeadGet", testPutHeadGet},
		{"PutBadChecksum", testPutBadChecksum},
		{"Versions", testVersions},
		{"DeleteMarker", func(t *testing.T, b uploader.Bucket) { testDeleteMarker(t, b, q) }},
		{"DeleteVersion", testDeleteVersion},
		{"List", testList},
		{"ListVersions", testListVersions},
		{"RangedGet", testRangedGet},
		{"GetRanges", testGetRanges},
		{"Multipart", testMultipart},
		{"Abort", testAbort},
		{"ListMultipartUploads", testListMultipartUploads},
		{"ControlKeys", testControlKeys},
		{"EscapedKeys", testEscapedKeys},
		{"Configuration", testConfiguration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBucket(t))
		})
	}
}

func testNotFound(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	if _, err := b.Head(ctx, "missing", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head of a missing key: err = %v, want ErrNotFound", err)
	}
	if _, _, err := b.Get(ctx, "missing", "", 0, -1); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	if got := list(t, b, "", uploader.ListOptions{}); len(got) != 0 {
		t.Errorf("List of an empty bucket = %q, want nothing", got)
	}
}

func testPutHeadGet(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	data := []byte("hello, bucket")
	meta := map[string]string{uploader.MetaHash: "0123456789abcdef", uploader.MetaMtime: "2026-11-22T08:00:00.123456789Z"}
	w := put(t, b, "dir/k", data, meta, true)
	if want := md5Hex(data); w.ETag != want {
		t.Errorf("ETag = %q, want the MD5 of the content %q", w.ETag, want)
	}
	if w.VersionID == "" {
		t.Error("VersionID is empty on a versioned bucket")
	}
	sum, _ := uploader.SumChecksum(uploader.DefaultChecksum, data)
	if want := uploader.DefaultChecksum + ":" + sum; w.Checksum != want {
		t.Errorf("Checksum = %q, want %q", w.Checksum, want)
	}
	for _, version := range []string{"", w.VersionID} {
		o, err := b.Head(ctx, "dir/k", version)
		if err != nil {
			t.Fatalf("Head(%q): %v", version, err)
		}
		checkObject(t, "Head", o, "dir/k", w, data, meta)
		if o.Replication != "" {
			t.Errorf("Head(%q).Replication = %q on a bucket without replication, want \"\"", version, o.Replication)
		}
		body, o, err := b.Get(ctx, "dir/k", version, 0, -1)
		if err != nil {
			t.Fatalf("Get(%q): %v", version, err)
		}
		checkObject(t, "Get", o, "dir/k", w, data, meta)
		if got := readAll(t, body); !bytes.Equal(got, data) {
			t.Errorf("Get(%q) = %q, want %q", version, got, data)
		}
	}
}

func testPutBadChecksum(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	other, _ := uploader.SumChecksum(uploader.DefaultChecksum, []byte("other bytes"))
	_, err := b.Put(ctx, "k", bytes.NewReader([]byte("these bytes")), 11, uploader.PutOptions{Checksum: other})
	if err == nil {
		t.Fatal("Put with a checksum of other bytes succeeded")
	}
	if got := uploader.ReasonOf(err); got != uploader.ReasonChecksumMismatch {
		t.Errorf("Reason = %q, want checksum-mismatch (%v)", got, err)
	}
	if _, err := b.Head(ctx, "k", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head after a refused Put: err = %v, want ErrNotFound", err)
	}
}

func testVersions(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	w1 := put(t, b, "k", []byte("one"), nil, false)
	w2 := put(t, b, "k", []byte("second"), nil, false)
	if w1.VersionID == w2.VersionID {
		t.Fatalf("two Puts made one version %q", w1.VersionID)
	}
	for _, tt := range []struct {
		version string
		want    string
	}{{"", "second"}, {w2.VersionID, "second"}, {w1.VersionID, "one"}} {
		body, o, err := b.Get(ctx, "k", tt.version, 0, -1)
		if err != nil {
			t.Fatalf("Get(%q): %v", tt.version, err)
		}
		if got := string(readAll(t, body)); got != tt.want || o.Size != int64(len(tt.want)) {
			t.Errorf("Get(%q) = %q (size %d), want %q", tt.version, got, o.Size, tt.want)
		}
	}
	h := histories(t, b, "", uploader.ListOptions{})["k"]
	if got := versionIDs(h); !slices.Equal(got, []string{w2.VersionID, w1.VersionID}) {
		t.Errorf("history = %v, want [%s %s] (newest first)", got, w2.VersionID, w1.VersionID)
	}
	if v, ok, err := h.Latest(); err != nil || !ok || v.VersionID != w2.VersionID || !v.Latest || v.Size != 6 || v.ETag != w2.ETag {
		t.Errorf("Latest = %+v, %v, %v; want version %s of 6 bytes, ETag %s", v, ok, err, w2.VersionID, w2.ETag)
	}
	if err := h.Check(); err != nil {
		t.Errorf("history of an overwritten key: %v", err)
	}
}

func testDeleteMarker(t *testing.T, b uploader.Bucket, q Quirks) {
	ctx := context.Background()
	w := put(t, b, "k", []byte("kept"), nil, false)
	put(t, b, "other", []byte("x"), nil, false)
	marker, err := b.Delete(ctx, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if marker == "" || marker == w.VersionID {
		t.Errorf("Delete returned marker %q, want a new version ID", marker)
	}
	if _, err := b.Head(ctx, "k", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head of a deleted key: err = %v, want ErrNotFound", err)
	}
	if _, _, err := b.Get(ctx, "k", "", 0, -1); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Get of a deleted key: err = %v, want ErrNotFound", err)
	}
	body, _, err := b.Get(ctx, "k", w.VersionID, 0, -1)
	if err != nil {
		t.Fatalf("Get of the version below the marker: %v", err)
	}
	if got := string(readAll(t, body)); got != "kept" {
		t.Errorf("version below the marker = %q, want kept", got)
	}
	if got := list(t, b, "", uploader.ListOptions{}); !slices.Equal(got, []string{"other"}) {
		t.Errorf("List = %q, want only [other]", got)
	}
	h := histories(t, b, "", uploader.ListOptions{})["k"]
	if len(h.Versions) != 2 || !h.Versions[0].Deleted || h.Versions[0].VersionID != marker || h.Versions[1].VersionID != w.VersionID {
		t.Errorf("history = %+v, want the marker %s, then %s", h.Versions, marker, w.VersionID)
	}
	if _, ok, err := h.Latest(); ok || err != nil {
		t.Errorf("Latest of a deleted key: ok %v, err %v; want not ok", ok, err)
	}
	err = h.Check()
	if !q.ShiftedVersionTimes || len(h.Versions) != 2 {
		if err != nil {
			t.Errorf("history of a deleted key: %v", err)
		}
		return
	}
	// The version below the marker listed as newer than the marker: a
	// history S3 cannot produce, which Check must refuse; any other, it
	// must take.
	shifted := h.Versions[1].LastModified.After(h.Versions[0].LastModified)
	if refused := errors.Is(err, uploader.ErrImpossibleHistory); refused != shifted || (err != nil && !refused) {
		t.Errorf("history of a deleted key with times %s (marker), %s (version below): Check = %v; want it refused exactly when the version is the newer",
			h.Versions[0].LastModified.Format(time.RFC3339Nano), h.Versions[1].LastModified.Format(time.RFC3339Nano), err)
	}
}

func testDeleteVersion(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	w1 := put(t, b, "k", []byte("one"), nil, false)
	w2 := put(t, b, "k", []byte("two"), nil, false)
	if _, err := b.Delete(ctx, "k", w2.VersionID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(ctx, "k", w2.VersionID); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head of a removed version: err = %v, want ErrNotFound", err)
	}
	o, err := b.Head(ctx, "k", "")
	if err != nil || o.VersionID != w1.VersionID {
		t.Errorf("Head after removing the current version = %s, %v; want the earlier %s", o.VersionID, err, w1.VersionID)
	}
	if h := histories(t, b, "", uploader.ListOptions{})["k"]; !slices.Equal(versionIDs(h), []string{w1.VersionID}) {
		t.Errorf("history = %v, want only %s", versionIDs(h), w1.VersionID)
	}
}

// tree is a key layout with partitions, loose files, a "directory" object
// and keys that share the prefix's letters but not its directory.
func tree() (keys []string, below []string) {
	for d := range 3 {
		for a := range 2 {
			for f := range 2 {
				keys = append(keys, fmt.Sprintf("rec/2026-11-%02d/agent%d/call-%d.wav", 10+d, a, f))
			}
		}
	}
	keys = append(keys, "rec/top.txt", "rec/2026-11-10/loose.wav", "rec/deep/a/b/c/d/e.wav", "rec/2026-11-10/agent0/")
	below = slices.Clone(keys)
	slices.Sort(below)
	keys = append(keys, "other/not-below.wav", "rec-sibling/x.wav")
	return keys, below
}

// body is what the tests put at key k of tree: the key itself, but
// nothing in a "directory" object (one ending in "/"), as other tools make
// them; VersityGW refuses one with data (DirectoryObjectContainsData).
func body(k string) []byte {
	if strings.HasSuffix(k, "/") {
		return nil
	}
	return []byte(k)
}

// listOptions are the splits List and ListVersions must give the same
// answer under.
func listOptions() []uploader.ListOptions {
	return []uploader.ListOptions{
		{}, {Workers: 4, Depth: 1}, {Workers: 2, Depth: 2, PageSize: 3}, {Workers: 16, Depth: 3, PageSize: 2}, {Workers: 1, Depth: 6, PageSize: 1},
	}
}

func testList(t *testing.T, b uploader.Bucket) {
	keys, want := tree()
	for _, k := range keys {
		put(t, b, k, body(k), nil, false)
	}
	for _, opts := range listOptions() {
		if got := list(t, b, "rec/", opts); !slices.Equal(got, want) {
			t.Errorf("List(rec/, %+v):\ngot  %q\nwant %q", opts, got, want)
		}
	}
	var size int64
	err := b.List(context.Background(), "rec/top", uploader.ListOptions{}, func(o uploader.Object) error {
		size = o.Size
		if o.ETag != md5Hex([]byte(o.Key)) || o.LastModified.IsZero() {
			t.Errorf("listed %+v: want the ETag %s and a time", o, md5Hex([]byte(o.Key)))
		}
		return nil
	})
	if err != nil || size != int64(len("rec/top.txt")) {
		t.Errorf("List(rec/top) gave size %d, %v; want %d", size, err, len("rec/top.txt"))
	}
	stop := errors.New("stop")
	if err := b.List(context.Background(), "rec/", uploader.ListOptions{}, func(uploader.Object) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("List whose emit fails: err = %v, want that error", err)
	}
}

func testListVersions(t *testing.T, b uploader.Bucket) {
	keys, want := tree()
	for _, k := range keys {
		put(t, b, k, body(k), nil, false)
	}
	put(t, b, "rec/top.txt", []byte("again"), nil, false)
	if _, err := b.Delete(context.Background(), "rec/deep/a/b/c/d/e.wav", ""); err != nil {
		t.Fatal(err)
	}
	for _, opts := range listOptions() {
		hs := histories(t, b, "rec/", opts)
		got := slices.Sorted(maps.Keys(hs))
		if !slices.Equal(got, want) {
			t.Errorf("ListVersions(rec/, %+v):\ngot  %q\nwant %q", opts, got, want)
		}
		if h := hs["rec/top.txt"]; len(h.Versions) != 2 || h.Versions[0].Size != 5 || !h.Versions[0].Latest || h.Versions[1].Latest {
			t.Errorf("%+v: history of rec/top.txt = %+v, want 5 bytes (latest), then the first", opts, h.Versions)
		}
		if h := hs["rec/deep/a/b/c/d/e.wav"]; len(h.Versions) != 2 || !h.Versions[0].Deleted {
			t.Errorf("%+v: history of a deleted key = %+v, want a marker first", opts, h.Versions)
		}
	}
}

func testRangedGet(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	data := []byte("0123456789")
	w := put(t, b, "k", data, nil, false)
	for _, tt := range []struct {
		offset, length int64
		want           string
	}{{0, -1, "0123456789"}, {2, 3, "234"}, {5, -1, "56789"}, {9, 1, "9"}, {0, 1, "0"}} {
		body, o, err := b.Get(ctx, "k", w.VersionID, tt.offset, tt.length)
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", tt.offset, tt.length, err)
		}
		if got := string(readAll(t, body)); got != tt.want {
			t.Errorf("Get(%d, %d) = %q, want %q", tt.offset, tt.length, got, tt.want)
		}
		if o.Size != int64(len(data)) || o.ETag != w.ETag {
			t.Errorf("Get(%d, %d) says size %d, ETag %s; want the object's %d, %s", tt.offset, tt.length, o.Size, o.ETag, len(data), w.ETag)
		}
	}
}

// memWriterAt is an io.WriterAt over a growing slice.
type memWriterAt struct {
	mu  sync.Mutex
	buf []byte
}

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := int(off) + len(p); end > len(m.buf) {
		m.buf = append(m.buf, make([]byte, end-len(m.buf))...)
	}
	return copy(m.buf[off:], p), nil
}

// testGetRanges: a Bucket that fetches in ranged parts (uploader.RangeGetter)
// writes exactly the version it is asked for, whatever came after it,
// and refuses one whose ETag is not the one given.
func testGetRanges(t *testing.T, b uploader.Bucket) {
	rg, ok := b.(uploader.RangeGetter)
	if !ok {
		t.Skip("not a RangeGetter: Fetch gets its objects in one GET")
	}
	ctx := context.Background()
	old := bytes.Repeat([]byte("0123456789abcdef"), 2<<16) // 2 MiB + of 16-byte runs
	old = append(old, "tail"...)
	w := put(t, b, "k", old, map[string]string{uploader.MetaHash: "0123456789abcdef"}, false)
	put(t, b, "k", []byte("a later version"), nil, false)
	var got memWriterAt
	o, err := rg.GetRanges(ctx, "k", w.VersionID, &got, uploader.RangeOptions{PartSize: 1 << 20, Concurrency: 2, ETag: w.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.buf, old) {
		t.Errorf("GetRanges wrote %d bytes that are not the version's %d", len(got.buf), len(old))
	}
	if o.Size != int64(len(old)) || o.ETag != w.ETag || o.VersionID != w.VersionID || o.Metadata[uploader.MetaHash] != "0123456789abcdef" {
		t.Errorf("GetRanges says %+v; want the version's size %d, ETag %s, version %s and metadata", o, len(old), w.ETag, w.VersionID)
	}
	if _, err := rg.GetRanges(ctx, "k", w.VersionID, &memWriterAt{}, uploader.RangeOptions{PartSize: 1 << 20, Concurrency: 2, ETag: md5Hex([]byte("other"))}); err == nil {
		t.Error("GetRanges with another ETag succeeded, want it refused")
	}
}

func testMultipart(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	first := bytes.Repeat([]byte("a"), int(uploader.MinPartSize))
	second := []byte("the last part may be small")
	meta := map[string]string{uploader.MetaHash: "fedcba9876543210"}
	id, err := b.CreateMultipart(ctx, "big", uploader.PutOptions{Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	// Out of order, and part 2 sent twice: the second one counts.
	p2, err := b.UploadPart(ctx, "big", id, 2, bytes.NewReader([]byte("replaced")), 8)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err = b.UploadPart(ctx, "big", id, 2, bytes.NewReader(second), int64(len(second))); err != nil {
		t.Fatal(err)
	}
	p1, err := b.UploadPart(ctx, "big", id, 1, bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	if p1.ETag != md5Hex(first) || p2.ETag != md5Hex(second) || p1.Checksum == "" {
		t.Errorf("parts %+v, %+v: want the MD5s of their content as ETags, and checksums", p1, p2)
	}
	parts, err := b.ListParts(ctx, "big", id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0] != p1 || parts[1] != p2 {
		t.Errorf("ListParts = %+v, want %+v, %+v", parts, p1, p2)
	}
	w, err := b.CompleteMultipart(ctx, "big", id, parts)
	if err != nil {
		t.Fatal(err)
	}
	sums := md5.Sum(append(md5Raw(first), md5Raw(second)...))
	if want := hex.EncodeToString(sums[:]) + "-2"; w.ETag != want {
		t.Errorf("ETag = %q, want the MD5 of the parts' MD5s %q", w.ETag, want)
	}
	if !strings.HasPrefix(w.Checksum, uploader.DefaultChecksum+":") || !strings.HasSuffix(w.Checksum, "-2") {
		t.Errorf("Checksum = %q, want %s:<checksum of the parts' checksums>-2", w.Checksum, uploader.DefaultChecksum)
	}
	data := append(slices.Clone(first), second...)
	body, o, err := b.Get(ctx, "big", w.VersionID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, body); !bytes.Equal(got, data) {
		t.Errorf("Get of the completed upload: %d bytes differ from the %d sent", len(got), len(data))
	}
	checkObject(t, "Get", o, "big", w, data, meta)
	if !o.Composite && !strings.HasSuffix(o.Checksums[uploader.DefaultChecksum], "-2") {
		t.Errorf("the checksums of a multipart object %v are not marked composite", o.Checksums)
	}
	if _, err := b.ListParts(ctx, "big", id); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("ListParts of a completed upload: err = %v, want ErrNotFound", err)
	}
}

func testAbort(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	id, err := b.CreateMultipart(ctx, "k", uploader.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.UploadPart(ctx, "k", id, 1, bytes.NewReader([]byte("part")), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AbortMultipart(ctx, "k", id); err != nil {
		t.Fatal(err)
	}
	if err := b.AbortMultipart(ctx, "k", id); err != nil {
		t.Errorf("a second AbortMultipart: %v, want nil (idempotent)", err)
	}
	if _, err := b.ListParts(ctx, "k", id); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("ListParts of an aborted upload: err = %v, want ErrNotFound", err)
	}
	if _, err := b.UploadPart(ctx, "k", id, 2, bytes.NewReader([]byte("late")), 4); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("UploadPart to an aborted upload: err = %v, want ErrNotFound", err)
	}
	if _, err := b.CompleteMultipart(ctx, "k", id, []uploader.Part{p}); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("CompleteMultipart of an aborted upload: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Head(ctx, "k", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head after an abort: err = %v, want ErrNotFound", err)
	}
}

func testConfiguration(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	if err := b.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if _, err := b.Credentials(ctx); err != nil {
		t.Errorf("Credentials: %v", err)
	}
	if v, err := b.Versioning(ctx); err != nil || v != uploader.VersioningEnabled {
		t.Errorf("Versioning = %q, %v; want Enabled", v, err)
	}
	if r, err := b.Replication(ctx); err != nil || r != nil {
		t.Errorf("Replication of a fresh bucket = %v, %v; want none", r, err)
	}
	if l, err := b.Lifecycle(ctx); err != nil || l != nil {
		t.Errorf("Lifecycle of a fresh bucket = %v, %v; want none", l, err)
	}
	if o, err := b.ObjectLock(ctx); err != nil || o != nil {
		t.Errorf("ObjectLock of a fresh bucket = %v, %v; want none", o, err)
	}
	if skew, err := b.ClockSkew(ctx); err != nil || skew.Abs() > 2*time.Second {
		t.Errorf("ClockSkew = %s, %v; want about 0", skew, err)
	}
}

// put stores data at key, with its checksum computed here when withSum.
func put(tb testing.TB, b uploader.Bucket, key string, data []byte, meta map[string]string, withSum bool) uploader.Written {
	tb.Helper()
	opts := uploader.PutOptions{Metadata: meta}
	if withSum {
		opts.Checksum, _ = uploader.SumChecksum(uploader.DefaultChecksum, data)
	}
	w, err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
	return w
}

func checkObject(tb testing.TB, op string, o uploader.Object, key string, w uploader.Written, data []byte, meta map[string]string) {
	tb.Helper()
	if o.Key != key || o.VersionID != w.VersionID || o.Size != int64(len(data)) || o.ETag != w.ETag {
		tb.Errorf("%s = key %s, version %s, %d bytes, ETag %s; want %s, %s, %d, %s", op, o.Key, o.VersionID, o.Size, o.ETag, key, w.VersionID, len(data), w.ETag)
	}
	if time.Since(o.LastModified).Abs() > time.Hour {
		tb.Errorf("%s: LastModified %s, want about now", op, o.LastModified)
	}
	for k, v := range meta {
		if o.Metadata[k] != v {
			tb.Errorf("%s: metadata %s = %q, want %q", op, k, o.Metadata[k], v)
		}
	}
	if got := o.Checksum(w.Checksum); got != w.Checksum {
		tb.Errorf("%s: checksum %q (of %v), the write said %q", op, got, o.Checksums, w.Checksum)
	}
}

// list returns the keys List emits below prefix, sorted, and fails on a
// key emitted twice.
func list(tb testing.TB, b uploader.Bucket, prefix string, opts uploader.ListOptions) []string {
	tb.Helper()
	var (
		mu   sync.Mutex
		keys []string
	)
	err := b.List(context.Background(), prefix, opts, func(o uploader.Object) error {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		tb.Fatalf("list %s: %v", prefix, err)
	}
	slices.Sort(keys)
	if c := slices.Compact(slices.Clone(keys)); len(c) != len(keys) {
		tb.Errorf("list %s %+v: a key emitted twice: %q", prefix, opts, keys)
	}
	return keys
}

// histories returns what ListVersions emits below prefix, by key, and
// fails on a key emitted twice.
func histories(tb testing.TB, b uploader.Bucket, prefix string, opts uploader.ListOptions) map[string]uploader.History {
	tb.Helper()
	var mu sync.Mutex
	out := map[string]uploader.History{}
	err := b.ListVersions(context.Background(), prefix, opts, func(h uploader.History) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[h.Key]; dup {
			tb.Errorf("list versions %s %+v: %s emitted twice", prefix, opts, h.Key)
		}
		out[h.Key] = h
		return nil
	})
	if err != nil {
		tb.Fatalf("list versions %s: %v", prefix, err)
	}
	return out
}

func versionIDs(h uploader.History) []string {
	var ids []string
	for _, v := range h.Versions {
		ids = append(ids, v.VersionID)
	}
	return ids
}

func readAll(tb testing.TB, r io.ReadCloser) []byte {
	tb.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	return b
}

func md5Raw(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}

func md5Hex(b []byte) string { return hex.EncodeToString(md5Raw(b)) }

func testListMultipartUploads(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	var ids []string
	for _, key := range []string{"in/b", "in/a", "out/c"} {
		id, err := b.CreateMultipart(ctx, key, uploader.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	listed := func() []string {
		t.Helper()
		var got []string
		err := b.ListMultipartUploads(ctx, "in/", func(u uploader.MultipartUpload) error {
			if u.Initiated.IsZero() {
				t.Errorf("upload %s of %s: no Initiated time", u.ID, u.Key)
			}
			got = append(got, u.Key+" "+u.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	if got, want := listed(), []string{"in/a " + ids[1], "in/b " + ids[0]}; !slices.Equal(got, want) {
		t.Errorf("ListMultipartUploads(in/) = %q, want %q", got, want)
	}
	if err := b.AbortMultipart(ctx, "in/a", ids[1]); err != nil {
		t.Fatal(err)
	}
	if got, want := listed(), []string{"in/b " + ids[0]}; !slices.Equal(got, want) {
		t.Errorf("ListMultipartUploads(in/) after an abort = %q, want %q", got, want)
	}
	stop := errors.New("stop")
	if err := b.ListMultipartUploads(ctx, "", func(uploader.MultipartUpload) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("ListMultipartUploads with emit failing: %v, want emit's error", err)
	}
	for i, key := range []string{"in/b", "out/c"} {
		if err := b.AbortMultipart(ctx, key, ids[i*2]); err != nil {
			t.Fatal(err)
		}
	}
}

// controlKeys are keys holding each C0 control character but NUL, and
// DEL, in a name and in a directory, and the characters a URL encoding
// could confuse ('+', '%', space), sorted. S3's XML cannot carry most of
// them unless the listing asks for url-encoded keys.
func controlKeys() []string {
	keys := []string{"ctl/d\x07ir/x.wav", "ctl/d\x1bir/y\x1b[2J.wav"}
	for c := byte(1); c < 0x20; c++ {
		keys = append(keys, fmt.Sprintf("ctl/call%c-%02x.wav", c, c))
	}
	keys = append(keys, "ctl/call\x7f-7f.wav")
	slices.Sort(keys)
	return keys
}

// testEscapedKeys: keys with the characters a url encoding escapes ('+',
// '%', space, '&', '?', '=', non-ASCII) list back exactly and can be read
// by the listed key, whether or not the store encodes its answer (it must
// say so when it does).
func testEscapedKeys(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	keys := []string{"esc/a b+c%41.wav", "esc/d%2Fe/x.wav", "esc/q&r=s?t.wav", "esc/\u00fc\u00e9.wav"}
	slices.Sort(keys)
	for _, k := range keys {
		put(t, b, k, []byte(k), nil, false)
	}
	for _, opts := range listOptions() {
		if got := list(t, b, "esc/", opts); !slices.Equal(got, keys) {
			t.Errorf("List(esc/, %+v):\ngot  %q\nwant %q", opts, got, keys)
		}
	}
	// One page: paging is the ListVersions case's.
	if got := slices.Sorted(maps.Keys(histories(t, b, "esc/", uploader.ListOptions{}))); !slices.Equal(got, keys) {
		t.Errorf("ListVersions(esc/):\ngot  %q\nwant %q", got, keys)
	}
	for _, k := range keys {
		r, _, err := b.Get(ctx, k, "", 0, -1)
		if err != nil {
			t.Errorf("get %q: %v", k, err)
			continue
		}
		if data := readAll(t, r); string(data) != k {
			t.Errorf("get %q = %q", k, data)
		}
	}
}

// testControlKeys: a key with a control character lists back exactly, in
// every listing and on every page, and can be read by the listed key.
func testControlKeys(t *testing.T, b uploader.Bucket) {
	ctx := context.Background()
	keys := controlKeys()
	for _, k := range keys {
		put(t, b, k, []byte(k), nil, false)
	}
	for _, opts := range append(listOptions(), uploader.ListOptions{Workers: 2, Depth: 2, PageSize: 2}) {
		if got := list(t, b, "ctl/", opts); !slices.Equal(got, keys) {
			t.Errorf("List(ctl/, %+v):\ngot  %q\nwant %q", opts, got, keys)
		}
		h := histories(t, b, "ctl/", opts)
		got := slices.Sorted(maps.Keys(h))
		if !slices.Equal(got, keys) {
			t.Errorf("ListVersions(ctl/, %+v):\ngot  %q\nwant %q", opts, got, keys)
		}
	}
	for _, k := range keys {
		r, o, err := b.Get(ctx, k, "", 0, -1)
		if err != nil {
			t.Errorf("get %q: %v", k, err)
			continue
		}
		if data := readAll(t, r); string(data) != k || o.Size != int64(len(k)) {
			t.Errorf("get %q = %q", k, data)
		}
	}
	var ids []string
	for _, k := range keys[:3] {
		id, err := b.CreateMultipart(ctx, k, uploader.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var got []string
	err := b.ListMultipartUploads(ctx, "ctl/", func(u uploader.MultipartUpload) error {
		got = append(got, u.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("ListMultipartUploads(ctl/): %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, keys[:3]) {
		t.Errorf("ListMultipartUploads(ctl/) = %q, want %q", got, keys[:3])
	}
	for i, k := range keys[:3] {
		if err := b.AbortMultipart(ctx, k, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
}
