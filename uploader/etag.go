package uploader

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
)

// ETagVerdict is what an ETagMatcher concluded about some bytes.
type ETagVerdict int

const (
	// ETagUnknown: the ETag cannot be computed from the content (not an
	// MD5 form, or a multipart upload with a part size none of the usual
	// ones), so it says nothing about it.
	ETagUnknown ETagVerdict = iota
	// ETagMatch: the bytes make exactly this ETag.
	ETagMatch
	// ETagMismatch: the ETag is a plain MD5 and the bytes have another.
	ETagMismatch
)

// commonPartSizes are the part sizes of the tools that fill buckets: the
// AWS CLI (8 MiB), rclone and most SDKs (5 MiB), s3ferry and mc (16 MiB),
// and the sizes people set by hand.
func commonPartSizes() []int64 {
	return []int64{5 << 20, 8 << 20, 10 << 20, 15 << 20, 16 << 20, 32 << 20, 50 << 20, 64 << 20, 100 << 20, 128 << 20, 256 << 20, 512 << 20, 1 << 30}
}

// ETagMatcher tells, from the bytes of a file written to it, whether an
// object with this ETag holds the same bytes. S3 (without SSE-KMS or SSE-C)
// makes a single-part object's ETag the MD5 of its content, and a multipart
// object's "MD5 of the parts' MD5s, dash, part count": the part size is not
// recorded, so each usual size that gives that count is tried.
//
//	ETag form            content                         verdict
//	32 hex digits        MD5 equal                       ETagMatch
//	32 hex digits        MD5 differs                     ETagMismatch
//	hex "-" N            some usual part size matches    ETagMatch
//	hex "-" N            none does                       ETagUnknown
//	anything else        -                               ETagUnknown
//
// An SSE-KMS or SSE-C object's ETag is not an MD5: ask only of others.
type ETagMatcher struct {
	want    string // lowercase, without quotes and part count
	plain   hash.Hash
	parts   []*partHasher
	size    int64 // expected content length
	written int64
}

// partHasher computes a multipart ETag for one guessed part size.
type partHasher struct {
	partSize int64
	inPart   int64
	cur      hash.Hash
	sums     []byte // digests (MD5s for an ETag) of the finished parts
}

// NewETagMatcher returns a matcher for an object of size bytes whose ETag
// is etag (quotes are stripped).
func NewETagMatcher(etag string, size int64) *ETagMatcher {
	etag = strings.ToLower(strings.Trim(etag, `"`))
	m := &ETagMatcher{size: size}
	sum, count, multipart := strings.Cut(etag, "-")
	if len(sum) != 2*md5.Size || !isHex(sum) {
		return m
	}
	m.want = sum
	if !multipart {
		m.plain = md5.New()
		return m
	}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 || size <= 0 {
		return m
	}
	seen := map[int64]bool{}
	// Besides the usual sizes: the size that splits the file into n equal
	// parts, exactly and rounded up to a MiB, as tools that adapt the part
	// size to the file do.
	candidates := append(commonPartSizes(), ceilDiv(size, n), ceilDiv(ceilDiv(size, n), 1<<20)<<20)
	for _, p := range candidates {
		if p <= 0 || seen[p] || ceilDiv(size, p) != n {
			continue
		}
		seen[p] = true
		m.parts = append(m.parts, &partHasher{partSize: p, cur: md5.New()})
	}
	return m
}

// Known reports whether the content can decide anything: false means
// Verdict is ETagUnknown whatever is written, so the caller can skip
// reading.
func (m *ETagMatcher) Known() bool { return m.plain != nil || len(m.parts) > 0 }

// Write adds the next bytes of the content. It never fails.
func (m *ETagMatcher) Write(p []byte) (int, error) {
	m.written += int64(len(p))
	if m.plain != nil {
		m.plain.Write(p)
	}
	for _, h := range m.parts {
		h.write(p)
	}
	return len(p), nil
}

func (h *partHasher) write(p []byte) {
	for len(p) > 0 {
		n := min(int64(len(p)), h.partSize-h.inPart)
		h.cur.Write(p[:n])
		h.inPart += n
		p = p[n:]
		if h.inPart == h.partSize {
			h.sums = h.cur.Sum(h.sums)
			h.cur.Reset()
			h.inPart = 0
		}
	}
}

// Verdict says whether the bytes written make the ETag; see the table on
// ETagMatcher. Bytes of another length than the object's never match.
func (m *ETagMatcher) Verdict() ETagVerdict {
	if !m.Known() {
		return ETagUnknown
	}
	if m.written != m.size {
		return ETagMismatch
	}
	if m.plain != nil {
		if hex.EncodeToString(m.plain.Sum(nil)) == m.want {
			return ETagMatch
		}
		return ETagMismatch
	}
	for _, h := range m.parts {
		sums := h.sums
		if h.inPart > 0 {
			sums = h.cur.Sum(sums)
		}
		total := md5.Sum(sums)
		if hex.EncodeToString(total[:]) == m.want {
			return ETagMatch
		}
	}
	return ETagUnknown
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
