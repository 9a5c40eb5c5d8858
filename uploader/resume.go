package uploader

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// abortTimeout bounds the abort of a multipart upload that will not be
// resumed. It runs on a fresh context: the upload's own is often the one
// that was cancelled.
const abortTimeout = 10 * time.Second

// abort discards an upload that will not be resumed, within abortTimeout
// even when ctx is done, and says in err's text what stays behind if it
// cannot.
func abort(ctx context.Context, b Bucket, key, id string) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if err := b.AbortMultipart(actx, key, id); err != nil {
		return fmt.Errorf("the upload %s of %s stays until a lifecycle rule aborts it: %w", id, key, err)
	}
	return nil
}

// Abort discards the multipart upload id of bucket/key (a resumable one
// whose file is gone), within a short timeout of its own.
func (u *Uploader) Abort(ctx context.Context, bucket, key, id string) error {
	if u.cfgErr != nil {
		return u.cfgErr
	}
	return abort(ctx, u.bucket(bucket), key, id)
}

// resumes says whether m can continue the upload of res (the file as it
// is now, before hashing) under key with partSize parts.
func (m *Multipart) resumes(res *Result, key string, partSize int64) bool {
	return m.Key == key && m.PartSize == partSize && m.Size == res.Size && m.MtimeNs == res.MtimeNs && m.Inode == res.Inode
}

// partSums cuts the bytes written to it at part boundaries and returns
// each part's checksum: the hash pass of a resumed upload writes to it, so
// the parts S3 already holds are verified against the local bytes in the
// same one read. It is the ETag matcher's partHasher with the upload's
// checksum for MD5.
type partSums struct{ h *partHasher }

func newPartSums(sum checksum, partSize int64) partSums {
	return partSums{&partHasher{partSize: partSize, cur: sum.newHash()}}
}

func (s partSums) Write(b []byte) (int, error) {
	s.h.write(b)
	return len(b), nil
}

// done ends the last, shorter part and returns the checksums, base64, by
// part number - 1.
func (s partSums) done() []string {
	h := s.h
	raw := h.sums
	if h.inPart > 0 {
		raw = h.cur.Sum(raw)
	}
	n := h.cur.Size()
	out := make([]string, 0, len(raw)/n)
	for len(raw) >= n {
		out = append(out, base64.StdEncoding.EncodeToString(raw[:n]))
		raw = raw[n:]
	}
	return out
}

// keptParts returns the parts of held (what ListParts says S3 has) that
// need not be sent again: the right size and a checksum equal to the
// local bytes' (sums). A part S3 lists without a checksum is kept only if
// the part recorded for it has the same ETag and a matching checksum.
// Each kept part carries the checksum it was verified with, whether S3
// listed it or not: the completion of an upload created with a checksum
// must name every part's (AWS, SeaweedFS), and the kept parts are what
// the next attempt's Resume records.
//
// A number listed more than once (SeaweedFS lists each time a part was
// sent, oldest first) counts once, as the last one listed: the one the
// completion takes (AWS and the Fake take the part sent last; SeaweedFS,
// among those of the number, the newest with the ETag the completion
// names, so that one). The others are neither kept nor counted.
//
// Kept parts are verified, not trusted: the hash pass reads the whole file
// anyway (its xxhash is the object's metadata and tells a file rewritten
// in place from the one the upload started with), and checksumming the
// same bytes on the way costs no extra read. A kept part is therefore
// exactly the local bytes.
func keptParts(held []Part, recorded []Part, sums []string, size, partSize int64) []Part {
	last := make(map[int32]Part, len(held))
	for _, p := range held {
		last[p.Number] = p
	}
	var kept []Part
	for _, p := range last {
		i := int64(p.Number) - 1
		if i < 0 || i >= int64(len(sums)) || p.Size != min(partSize, size-i*partSize) {
			continue
		}
		sum := p.Checksum
		if sum == "" {
			if j := slices.IndexFunc(recorded, func(r Part) bool { return r.Number == p.Number }); j >= 0 && recorded[j].ETag == p.ETag {
				sum = recorded[j].Checksum
			}
		}
		if sum != "" && sum == sums[i] {
			p.Checksum = sum
			kept = append(kept, p)
		}
	}
	slices.SortFunc(kept, func(a, b Part) int { return int(a.Number) - int(b.Number) })
	return kept
}

// multipartRefusals is how many times in a row the bucket may refuse to
// complete one upload before it is aborted (ErrMultipartRefused): once may
// be a part the next attempt's ListParts finds wrong and sends again;
// twice, with every part verified in between, the same request would be
// refused for ever.
const multipartRefusals = 2

// refused says whether err, from CompleteMultipart, is the bucket's
// refusal: an answer the same request gets again. The first matching row
// wins:
//
//	err matches                                    refused
//	ErrNotFound (the upload is gone)               no: sendParts looks for the object
//	canceled, throttled, server-error, network     no: worth sending again as it is
//	Fatal                                          no: the run stops
//	anything else (400 InvalidRequest, InvalidPart) yes
func refused(err error) bool {
	if errors.Is(err, ErrNotFound) || Fatal(err) {
		return false
	}
	switch ReasonOf(err) {
	case ReasonCanceled, ReasonThrottled, ReasonServerError, ReasonNetwork:
		return false
	}
	return true
}

// checkSums returns an error naming the first of parts that lacks its
// checksum. Every upload s3ferry creates has a checksum algorithm, and a
// completion that leaves out a part's checksum is refused (AWS,
// SeaweedFS) or, worse, completes an object without its checksum.
func checkSums(parts []Part, algorithm string) error {
	for _, p := range parts {
		if p.Checksum == "" {
			return fmt.Errorf("part %d has no %s checksum, which the completion of an upload created with one must carry", p.Number, algorithm)
		}
	}
	return nil
}

// stored looks for the object an upload of res meant to write, when S3
// answers as if the upload were gone (NoSuchUpload): the answer to its
// completion was lost and a retry found it done. The current version of
// key is the one if it has res's size and content hash (MetaHash).
func stored(ctx context.Context, b Bucket, key string, res *Result, algo string) (Written, bool, error) {
	o, err := b.Head(ctx, key, "")
	if errors.Is(err, ErrNotFound) {
		return Written{}, false, nil
	}
	if err != nil {
		return Written{}, false, err
	}
	hash, ok := ParseMetaHash(o.Metadata)
	if !ok || hash != res.Hash || o.Size != res.Size || o.Metadata[MetaMtime] != formatNs(res.MtimeNs) {
		return Written{}, false, nil
	}
	w := Written{ETag: o.ETag, VersionID: o.VersionID}
	if v := o.Checksums[algo]; v != "" {
		w.Checksum = algo + ":" + v
	}
	return w, true, nil
}

// progress serializes the Progress calls of one upload and keeps its
// state.
type progress struct {
	mu    sync.Mutex
	state Multipart
	fn    func(Multipart) // nil: nobody records it
}

// add records an acknowledged part and reports the new state.
func (p *progress) add(part Part) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Parts = append(p.state.Parts, part)
	slices.SortFunc(p.state.Parts, func(a, b Part) int { return int(a.Number) - int(b.Number) })
	p.report()
}

// refusal counts one more refused completion and reports it; it returns
// how many there were in a row.
func (p *progress) refusal() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Refused++
	p.report()
	return p.state.Refused
}

// report calls fn with a copy of the state; p.mu is held or p is not
// shared yet.
func (p *progress) report() {
	if p.fn != nil {
		s := p.state
		s.Parts = slices.Clone(s.Parts)
		p.fn(s)
	}
}

// put stores body as key with Bucket.Put, retried here rather than by the
// Bucket: a Put whose answer was lost stored its object, and the Bucket's
// retry would store it again, a second version of the same bytes. Before
// each retry put asks (stored) whether the last attempt's object is the
// current version, and takes it if so. What is retried, and after how
// long, is the RetryPolicy's.
//
// A Put with a Lock the store refuses (ErrLockHeadersRefused) is sent
// again at once without it, and the version locked after (lockWritten).
func (u *Uploader) put(ctx context.Context, b Bucket, key string, body io.ReadSeeker, size int64, opts PutOptions, res *Result) (Written, error) {
	opts.Once = true
	lock := opts.Lock
	for attempt := 1; ; attempt++ {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return Written{}, err
		}
		w, err := b.Put(ctx, key, body, size, opts)
		if err != nil && !opts.Lock.IsZero() && errors.Is(err, ErrLockHeadersRefused) {
			opts.Lock = Lock{}
			res.LockVia = LockViaRetention
			attempt--
			continue
		}
		if err == nil {
			return w, u.lockWritten(ctx, b, key, w, lock, false, res)
		}
		if ctx.Err() != nil || u.retry == nil {
			return w, err
		}
		wait, stop := u.retry.Retry(attempt, err)
		if stop != nil {
			return Written{}, stop
		}
		select {
		case <-ctx.Done():
			return Written{}, err
		case <-time.After(wait):
		}
		if w, ok, herr := stored(ctx, b, key, res, u.sum.algorithm); herr == nil && ok {
			return w, u.lockWritten(ctx, b, key, w, lock, false, res)
		}
	}
}

// sweep aborts the other multipart uploads of key once the upload done
// completed it: a CreateMultipart whose answer was lost and that the SDK
// retried started one nobody knows the ID of, and an older upload of the
// same file cannot be resumed any more. The destination is s3ferry's, so
// an upload of exactly this key is one of its own. Best effort: what it
// misses, the lifecycle rule removes.
func sweep(ctx context.Context, b Bucket, key, done string) {
	_ = b.ListMultipartUploads(ctx, key, func(m MultipartUpload) error {
		if m.Key == key && m.ID != done {
			_ = abort(ctx, b, key, m.ID)
		}
		return nil
	})
}
