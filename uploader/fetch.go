package uploader

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Defaults of Fetch's ranged parts (DownloadConfig), measured with make
// bench's restore scenarios (docs/benchmarks.md): 8 parts of 8 MiB in
// flight per file fill a link whose streams are capped, and hold little
// memory (parts stream into the file).
const (
	DefaultDownloadPartSize        int64 = 8 << 20
	DefaultDownloadPartConcurrency       = 8
)

// RangeGetter is a Bucket that fetches an object version in ranged parts
// in parallel, straight into a file at their offsets. It is optional:
// Fetch gets a Bucket without it, or an object of one part, in one Get.
type RangeGetter interface {
	// GetRanges writes the version versionID of key (empty: the current
	// one) to w at its offsets, in ranged GETs of opts.PartSize bytes,
	// opts.Concurrency at once. Every GET names the version and, when
	// opts.ETag is set, asks If-Match on it, so that no part comes from
	// another version; a part whose answer fails or whose body is cut is
	// fetched again alone (the S3 implementation: as many times as a
	// request is retried). It returns what Head would say of the version,
	// from the first part's answer: Size is the object's, Checksums only
	// what a ranged answer carries (usually none). Nothing is verified:
	// the caller reads w back (Fetch does). ErrNotFound as for Get.
	GetRanges(ctx context.Context, key, versionID string, w io.WriterAt, opts RangeOptions) (Object, error)
}

// RangeOptions tunes RangeGetter.GetRanges.
type RangeOptions struct {
	PartSize    int64  // bytes per GET; at least 1
	Concurrency int    // GETs in flight; at least 1
	ETag        string // If-Match on every part (quotes stripped); "": none
}

// DownloadConfig is how Fetch (and Download) split a large object.
type DownloadConfig struct {
	// PartSize is the size of a ranged GET; an object larger than it is
	// fetched in parts, PartConcurrency at once, from a RangeGetter.
	// 0: DefaultDownloadPartSize.
	PartSize int64
	// PartConcurrency is the parts in flight per object; 1 fetches an
	// object in one GET whatever its size. 0: DefaultDownloadPartConcurrency.
	PartConcurrency int
}

// Validate reports the first field of c no download could work with.
func (c DownloadConfig) Validate() error {
	if c.PartSize < 0 || (c.PartSize != 0 && c.PartSize < 1<<20) {
		return fmt.Errorf("%w: download part size %d: want 0 (default) or at least 1 MiB", ErrInvalidConfig, c.PartSize)
	}
	if c.PartConcurrency < 0 {
		return fmt.Errorf("%w: download part concurrency %d: want 0 (default) or more", ErrInvalidConfig, c.PartConcurrency)
	}
	return nil
}

// WithDefaults returns c with every zero value replaced by its default.
func (c DownloadConfig) WithDefaults() DownloadConfig {
	if c.PartSize == 0 {
		c.PartSize = DefaultDownloadPartSize
	}
	if c.PartConcurrency == 0 {
		c.PartConcurrency = DefaultDownloadPartConcurrency
	}
	return c
}

// Streams is how many GETs at once fetching an object of size bytes
// takes (size < 0: unknown, one).
func (c DownloadConfig) Streams(size int64) int {
	c = c.WithDefaults()
	if c.PartConcurrency <= 1 || size <= c.PartSize {
		return 1
	}
	return int(min(int64(c.PartConcurrency), ceilDiv(size, c.PartSize)))
}

// StreamMemory is what one GET stream of a download holds, as
// DownloadConfig.Memory counts it: the copy buffer, and the HTTP and TLS
// connection's buffers. The bytes go straight into the file.
const StreamMemory int64 = 128 << 10

// Memory is what fetching an object of size bytes holds at most, for a
// budget: StreamMemory per GET in flight, and a ranged fetch's buffer
// that reads the file back to verify it.
func (c DownloadConfig) Memory(size int64) int64 {
	n := c.Streams(size)
	if n == 1 {
		return StreamMemory
	}
	return int64(n)*StreamMemory + verifyBufferSize
}

// FetchJob is one object version to fetch and verify.
type FetchJob struct {
	Key       string
	VersionID string // empty: the current version
	// Size and ETag are the version's as a listing gave them: an object
	// larger than Config.PartSize is fetched in ranged parts, each asking
	// If-Match on ETag. Size 0 means unknown: one GET.
	Size int64
	ETag string
	// WantHash, when HasWantHash, is the xxhash64 the content must have
	// (the index's): a mismatch is ErrCorrupt.
	WantHash    uint64
	HasWantHash bool
	Config      DownloadConfig
	// Written, when set, is called with the number of bytes each write
	// into the file put there, as they land, from several goroutines at
	// once for a ranged fetch (a part fetched again counts again): the
	// hook of a byte progress display.
	Written func(n int64)
}

// FetchFile is where Fetch writes: an *os.File open for reading and
// writing, empty.
type FetchFile interface {
	io.Writer
	io.WriterAt
	io.ReaderAt
}

// Fetched is what Fetch wrote and how it was verified.
type Fetched struct {
	Object  Object   // what the bucket says of the version
	Size    int64    // bytes written
	Hash    uint64   // xxhash64 of the content
	Checked []string // what the content was verified against: "xxhash64", "CRC32C", "MD5"...
	Parts   bool     // fetched in ranged parts
}

// Fetch writes an object version into f and verifies what was written
// (Download's checks, in one place for every command that reads a version
// back):
//
//	the object carries                   verified against
//	s3ferry's xxhash64 (MetaHash)        it
//	a full-object S3 checksum            it (the SDK checks a one-GET body; a ranged
//	                                     fetch computes it reading f back)
//	a plain-MD5 ETag, no SSE-KMS/SSE-C   it, when there is no xxhash64
//	(always)                             its length; job.WantHash when set
//
// An object larger than job.Config.PartSize, from a RangeGetter, is
// fetched in ranged parts pinned to its version (and ETag) and written at
// their offsets; f is read back to verify it, while the parts arrive
// when it can be (see fetchRanges). Anything else is
// one GET, verified as it streams in. A mismatch is ErrCorrupt; f then
// holds bytes that must not be used.
func Fetch(ctx context.Context, b Bucket, job FetchJob, f FetchFile) (Fetched, error) {
	cfg := job.Config.WithDefaults()
	if rg, ok := b.(RangeGetter); ok && cfg.Streams(job.Size) > 1 {
		return fetchRanges(ctx, b, rg, job, cfg, f)
	}
	body, obj, err := b.Get(ctx, job.Key, job.VersionID, 0, -1)
	if err != nil {
		return Fetched{}, err
	}
	defer body.Close()
	var w io.Writer = f
	if job.Written != nil {
		w = writtenWriter{f, job.Written}
	}
	v := newVerifier(obj, true)
	n, err := io.Copy(io.MultiWriter(w, v), body) // the SDK's reader fails here on a checksum mismatch
	if err != nil {
		return Fetched{}, err
	}
	return v.result(obj, n, job, false)
}

// fetchRanges is Fetch of a large object in ranged parts. The file is
// read back to verify it while the parts arrive (see behind): the front
// already written is hashed as the download goes on, its writeback
// started. When a part was written twice (fetched again after its answer
// was cut) or the parts left a gap, the whole file is read back once more
// after the download, as the hash of the front may not be the file's.
func fetchRanges(ctx context.Context, b Bucket, rg RangeGetter, job FetchJob, cfg DownloadConfig, f FetchFile) (Fetched, error) {
	bh := newBehind(f)
	var w io.WriterAt = bh
	if job.Written != nil {
		w = writtenWriterAt{bh, job.Written}
	}
	// What to verify against is known only once the object's metadata
	// is: the front is hashed into xxhash64 alone, which is all an object
	// s3ferry wrote needs (its MetaHash); anything else is read back after.
	xx := xxhash.New()
	buf := make([]byte, verifyBufferSize)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	var read int64
	var herr error
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		read, herr = bh.run(hctx, xx, buf, done)
	}()
	obj, err := rg.GetRanges(ctx, job.Key, job.VersionID, w, RangeOptions{PartSize: cfg.PartSize, Concurrency: cfg.PartConcurrency, ETag: job.ETag})
	close(done)
	if err != nil {
		stop()
		<-hashed
		return Fetched{}, err
	}
	if _, ok := ParseMetaHash(obj.Metadata); !ok && len(obj.Checksums) == 0 && !obj.Composite {
		// No xxhash64 (another tool wrote it), and a ranged answer
		// carries no full-object checksum: ask for it, of this version.
		if h, err := b.Head(ctx, job.Key, obj.VersionID); err == nil {
			obj.Checksums, obj.Composite = h.Checksums, h.Composite
		}
	}
	<-hashed
	if herr != nil {
		return Fetched{}, herr
	}
	v := newVerifier(obj, false)
	if _, whole := bh.front(); whole && v.xxhashOnly() {
		// Every byte written once and hashed, and the xxhash64 is all
		// there is to check: one byte past the front is asked for, so
		// that a longer file is refused too.
		n := read
		if m, _ := f.ReadAt(buf[:1], read); m > 0 {
			n++
		}
		v.xx = xx
		return v.result(obj, n, job, true)
	}
	// One more byte than the object has: a longer file is refused too.
	n, err := io.CopyBuffer(v, io.NewSectionReader(f, 0, obj.Size+1), buf)
	if err != nil {
		return Fetched{}, err
	}
	return v.result(obj, n, job, true)
}

// verifyBufferSize is the read size of a ranged fetch's verifying pass.
const verifyBufferSize = 256 << 10

// verifier computes, from the bytes written to it, what Fetch checks them
// against: the xxhash64 always, and the object's full-object checksum
// (unless the SDK verifies it) or else its MD5 ETag when there is no
// s3ferry xxhash64 to go by.
type verifier struct {
	xx       *xxhash.Digest
	sum      hash.Hash // the full-object checksum computed here; nil: none
	sumAlgo  string
	sdk      []string // full-object checksums the SDK verified while reading
	wantHash uint64
	hasHash  bool
	etag     *ETagMatcher
	w        io.Writer
}

func newVerifier(obj Object, sdkChecks bool) *verifier {
	v := &verifier{xx: xxhash.New()}
	ws := []io.Writer{v.xx}
	v.wantHash, v.hasHash = ParseMetaHash(obj.Metadata)
	if !obj.Composite {
		for _, algo := range []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"} {
			// A composite checksum ("...-3") is a checksum of part
			// checksums, which says nothing of the whole content.
			val := obj.Checksums[algo]
			if val == "" || strings.Contains(val, "-") {
				continue
			}
			if sdkChecks {
				v.sdk = append(v.sdk, algo)
			} else if c, err := checksumByName(algo); err == nil && v.sum == nil && !v.hasHash {
				v.sum, v.sumAlgo = c.newHash(), algo
				ws = append(ws, v.sum)
			}
		}
	}
	if !v.hasHash && !obj.Encrypted {
		v.etag = NewETagMatcher(obj.ETag, obj.Size)
		if v.etag.Known() {
			ws = append(ws, v.etag)
		} else {
			v.etag = nil
		}
	}
	v.w = io.MultiWriter(ws...)
	if len(ws) == 1 {
		v.w = v.xx
	}
	return v
}

func (v *verifier) Write(p []byte) (int, error) { return v.w.Write(p) }

// xxhashOnly says whether the xxhash64 is all v computes.
func (v *verifier) xxhashOnly() bool { return v.sum == nil && v.etag == nil }

// result checks n bytes written of obj against what v computed, and job's
// WantHash.
func (v *verifier) result(obj Object, n int64, job FetchJob, parts bool) (Fetched, error) {
	res := Fetched{Object: obj, Size: n, Hash: v.xx.Sum64(), Checked: v.sdk, Parts: parts}
	if n != obj.Size {
		return Fetched{}, fmt.Errorf("%w: %d bytes received, the object has %d", ErrCorrupt, n, obj.Size)
	}
	if v.hasHash {
		if res.Hash != v.wantHash {
			return Fetched{}, fmt.Errorf("%w: xxhash64 %016x, the object's metadata says %016x", ErrCorrupt, res.Hash, v.wantHash)
		}
		res.Checked = append(res.Checked, "xxhash64")
	}
	if v.sum != nil {
		got := base64.StdEncoding.EncodeToString(v.sum.Sum(nil))
		if got != obj.Checksums[v.sumAlgo] {
			return Fetched{}, fmt.Errorf("%w: %s %s, the object's is %s", ErrCorrupt, v.sumAlgo, got, obj.Checksums[v.sumAlgo])
		}
		res.Checked = append(res.Checked, v.sumAlgo)
	}
	if v.etag != nil {
		switch v.etag.Verdict() {
		case ETagMismatch:
			return Fetched{}, fmt.Errorf("%w: MD5 differs from the ETag %s", ErrCorrupt, obj.ETag)
		case ETagMatch:
			res.Checked = append(res.Checked, "MD5")
		}
	}
	if job.HasWantHash && res.Hash != job.WantHash {
		return Fetched{}, fmt.Errorf("%w: xxhash64 %016x, the index says %016x", ErrCorrupt, res.Hash, job.WantHash)
	}
	return res, nil
}

// writtenWriter and writtenWriterAt report the bytes each write put in
// the file (FetchJob.Written).
type writtenWriter struct {
	w  io.Writer
	fn func(int64)
}

func (w writtenWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.fn(int64(n))
	return n, err
}

type writtenWriterAt struct {
	w  io.WriterAt
	fn func(int64)
}

func (w writtenWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.w.WriteAt(p, off)
	w.fn(int64(n))
	return n, err
}
