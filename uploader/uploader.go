package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"
)

// Metadata keys s3ferry puts on every object (S3 sends them as
// x-amz-meta-s3ferry-*).
const (
	MetaHash  = "s3ferry-xxhash64" // xxhash64 of the content: FormatMetaHash
	MetaMtime = "s3ferry-mtime"    // the file's mtime, RFC 3339 with ns, UTC
)

// FormatMetaHash is the MetaHash value of an xxhash64: 16 hex digits.
func FormatMetaHash(hash uint64) string { return fmt.Sprintf("%016x", hash) }

// ParseMetaHash reads the MetaHash value of an object's metadata; ok is
// false when there is none, or it is not a hash FormatMetaHash wrote.
func ParseMetaHash(meta map[string]string) (hash uint64, ok bool) {
	v := meta[MetaHash]
	if len(v) != 16 {
		return 0, false
	}
	hash, err := strconv.ParseUint(v, 16, 64)
	return hash, err == nil
}

// hashBufferSize is the read size of the hash pass over a large file.
const hashBufferSize = 1 << 20

// Uploader sends local files to Buckets. It is safe for concurrent use:
// the caller's worker pool calls Upload from many goroutines.
type Uploader struct {
	open    func(name string) Bucket
	retry   RetryPolicy // nil: a Put sent once is not retried
	cfg     Config      // with defaults
	cfgErr  error       // from Config.Validate; every Upload returns it
	sum     checksum
	buffers *bufferPool
}

// RetryPolicy decides the retries the Uploader makes itself rather than
// leaving them to the Bucket: those of a Put sent once (PutOptions.Once),
// between which it asks whether the last attempt stored the object
// although its answer was lost. Package s3's Client is the S3 SDK's.
type RetryPolicy interface {
	// Retry returns how long to wait before retrying a request whose
	// attempt number attempt (1, 2, ...) failed with err, or an error to
	// stop with instead: err itself when it is not worth retrying, or one
	// that says the attempts are spent.
	Retry(attempt int, err error) (time.Duration, error)
}

// New returns an Uploader that sends a Job to open(Job.Bucket), retrying
// the Puts it sends once by retry (nil: not at all). An invalid cfg (see
// Config.Validate) makes every Upload fail with an ErrInvalidConfig error.
func New(open func(name string) Bucket, retry RetryPolicy, cfg Config) *Uploader {
	u := &Uploader{open: open, retry: retry, cfgErr: cfg.Validate()}
	if u.cfgErr != nil {
		return u
	}
	u.cfg = cfg.withDefaults()
	u.sum, _ = checksumByName(u.cfg.Checksum) // valid: checked above
	u.buffers = newBufferPool(int(u.cfg.PartSize), u.cfg.Memory)
	return u
}

// Upload sends the file at job.Path to job.Bucket/job.Key, unless it still
// hashes to job.KnownHash. The object carries an S3 checksum of the
// configured algorithm, which S3 verifies, and the metadata MetaHash and
// MetaMtime, and the file's Perm (MetaMode...). An Unchanged Result has only
// Size, MtimeNs, Inode, Hash and Perm.
//
// Errors wrap ErrChanged when the file changed while it was read or sent
// (the object may then be in the bucket but must not be recorded),
// fs.ErrNotExist when it vanished, fs.ErrPermission when it cannot be read
// and ErrNotRegular when it is not a regular file. ReasonOf and Fatal
// classify every error.
func (u *Uploader) Upload(ctx context.Context, job Job) (Result, error) {
	if u.cfgErr != nil {
		return Result{}, fmt.Errorf("upload %s: %w", job.Key, u.cfgErr)
	}
	res, err := u.upload(ctx, job)
	if err != nil {
		return Result{}, fmt.Errorf("upload %s: %w", job.Key, describe(err))
	}
	return res, nil
}

func (u *Uploader) upload(ctx context.Context, job Job) (Result, error) {
	f, err := openJob(job)
	if err != nil {
		if job.Resume != nil {
			u.drop(ctx, u.bucket(job.Bucket), job.Resume)
		}
		return Result{}, err
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	if err := checkIdentity(job, fi); err != nil {
		return Result{}, err
	}
	if !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("%s: %w (%s)", job.Path, ErrNotRegular, fi.Mode().Type())
	}
	before := stateOf(fi)
	res := Result{Size: before.size, MtimeNs: before.mtimeNs, Inode: inode(fi), Perm: permOf(fi, job.DirMode)}

	if before.size < u.cfg.PartSize {
		if job.Resume != nil { // it shrank below a part
			u.drop(ctx, u.bucket(job.Bucket), job.Resume)
		}
		err = u.putSmall(ctx, f, job, &res)
	} else {
		err = u.putLarge(ctx, f, job, &res)
	}
	// Whatever was read must be the file as it was at open: a writer that
	// appended, truncated or rewrote it meanwhile changed size or mtime.
	// That is what a failure means too when the file changed: the bytes
	// that failed (a short body, a checksum S3 did not get) were no
	// version of it, and the reason is "changed", not the symptom.
	if cerr := checkUnchanged(f, job.Path, before); cerr != nil && !errors.Is(err, ErrChanged) {
		return Result{}, cerr
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// putSmall reads the whole file into one pooled buffer, takes the xxhash
// and the S3 checksum from it and sends it with one PutObject that carries
// the checksum, so S3 verifies exactly the bytes that were hashed. The
// buffer comes from the memory budget: the upload waits until it fits.
func (u *Uploader) putSmall(ctx context.Context, f *os.File, job Job, res *Result) error {
	buf, err := u.buffers.get(ctx, int(res.Size))
	if err != nil {
		return err
	}
	defer u.buffers.put(buf)
	b := *buf
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w (shorter than %d bytes)", job.Path, ErrChanged, res.Size)
		}
		return err
	}
	res.Hash = xxhash.Sum64(b)
	if job.HasKnownHash && res.Hash == job.KnownHash {
		res.Unchanged = true
		return nil
	}

	sum := u.sum.sum(b)
	body := newBodyReader(b)
	defer body.revoke() // before the deferred put above

	w, err := u.put(ctx, u.bucket(job.Bucket), job.Key, body, res.Size, PutOptions{Metadata: metadata(res), Checksum: sum, Lock: lockOf(job)}, res)
	if err != nil {
		return err
	}
	res.ETag, res.VersionID, res.Checksum = w.ETag, w.VersionID, w.Checksum
	return nil
}

// putLarge hashes the file in one sequential pass, then sends it as a
// multipart upload straight from the file, every part with its checksum.
// With job.Resume it continues that upload instead, when the file is still
// the one it started with (see keptParts), and aborts it otherwise.
func (u *Uploader) putLarge(ctx context.Context, f *os.File, job Job, res *Result) error {
	b := u.bucket(job.Bucket)
	resume := job.Resume
	if resume != nil && !resume.resumes(res, job.Key, u.cfg.PartSize) {
		u.drop(ctx, b, resume)
		resume = nil
	}
	var sums partSums
	var extra io.Writer
	if resume != nil {
		sums = newPartSums(u.sum, resume.PartSize)
		extra = sums
	}
	buf, err := u.buffers.get(ctx, hashBufferSize)
	if err != nil {
		return err
	}
	hash, err := hashSection(ctx, f, job.Path, res.Size, *buf, extra)
	u.buffers.put(buf)
	if err != nil {
		return err
	}
	res.Hash = hash
	if resume != nil && resume.Hash != hash {
		u.drop(ctx, b, resume) // rewritten in place, with the same mtime
		resume = nil
	}
	if job.HasKnownHash && res.Hash == job.KnownHash {
		if resume != nil {
			u.drop(ctx, b, resume)
		}
		res.Unchanged = true
		return nil
	}
	up := &upload{b: b, job: job, f: f, res: res, resume: resume}
	if resume != nil {
		up.sums = sums.done()
	}
	w, multipart, err := u.sendParts(ctx, up)
	if err != nil {
		return err
	}
	res.Multipart = multipart
	res.ETag, res.VersionID, res.Checksum = w.ETag, w.VersionID, w.Checksum
	return nil
}

// drop aborts an upload that cannot be resumed; a failure is logged
// nowhere but costs only the parts a lifecycle rule removes later.
func (u *Uploader) drop(ctx context.Context, b Bucket, m *Multipart) {
	_ = abort(ctx, b, m.Key, m.ID)
}

// upload is one multipart upload on its way: the file, what the hash pass
// learned, and the upload it resumes, if any.
type upload struct {
	b      Bucket
	job    Job
	f      *os.File
	res    *Result
	resume *Multipart // nil: a new upload
	sums   []string   // with resume: each part's checksum of the local bytes
}

// sendParts sends the first res.Size bytes of the file as a multipart
// upload of PartSize parts, PartConcurrency of them in flight, each read
// straight from the file (a section reader sends exactly the bytes that
// were hashed, even if the file grows meanwhile) with its checksum. A file
// of one part goes with one Put instead (multipart is then false).
//
// A resumed upload first asks ListParts what S3 holds and sends only the
// other parts. When S3 answers that the upload is gone (to ListParts or to
// the completion), the object may be there already, its answer lost: if
// the current version is this file's content (stored), it is the result.
//
// Every part the completion names carries its checksum (checkSums). On
// failure a job that records its progress (Job.Progress) keeps the upload
// for the next attempt to resume, unless the bucket refused to complete it
// multipartRefusals times in a row (Multipart.Refused): that one is
// aborted with ErrMultipartRefused, and the next attempt starts anew. A
// job that does not record its progress aborts its upload on any failure.
func (u *Uploader) sendParts(ctx context.Context, up *upload) (w Written, multipart bool, err error) {
	b, key, res := up.b, up.job.Key, up.res
	size, partSize := res.Size, u.cfg.PartSize
	before := fileState{size: res.Size, mtimeNs: res.MtimeNs}
	n := ceilDiv(size, partSize)
	opts := PutOptions{Metadata: metadata(res), Lock: lockOf(up.job)}
	if n <= 1 {
		w, err = u.put(ctx, b, key, newGuardedSection(up.f, up.job.Path, before, 0, size), size, opts, res)
		return w, false, err
	}
	prog := &progress{fn: up.job.Progress}
	var kept []Part
	if m := up.resume; m != nil {
		held, err := b.ListParts(ctx, key, m.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			if w, ok, err := stored(ctx, b, key, res, u.sum.algorithm); err != nil || ok {
				if err == nil {
					err = u.lockWritten(ctx, b, key, w, opts.Lock, true, res)
				}
				return w, true, err
			}
		case err != nil:
			return Written{}, false, err // kept: the next attempt resumes it
		default:
			kept = keptParts(held, m.Parts, up.sums, size, partSize)
			prog.state = *m
			prog.state.Parts = kept
		}
	}
	if prog.state.ID == "" {
		if up.resume != nil {
			u.drop(ctx, b, up.resume)
		}
		id, err := b.CreateMultipart(ctx, key, opts)
		if err != nil && !opts.Lock.IsZero() && errors.Is(err, ErrLockHeadersRefused) {
			lockAfter := opts.Lock
			opts.Lock = Lock{}
			id, err = b.CreateMultipart(ctx, key, opts)
			opts.Lock = lockAfter
			res.LockVia = LockViaRetention
		}
		if err != nil {
			return Written{}, false, err
		}
		prog.state = Multipart{
			ID: id, Key: key, PartSize: partSize,
			Size: size, MtimeNs: res.MtimeNs, Inode: res.Inode, Hash: res.Hash,
		}
	}
	prog.report()
	id := prog.state.ID

	parts := make([]Part, n)
	for _, p := range kept {
		parts[p.Number-1] = p
		res.Kept += p.Size
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.cfg.PartConcurrency)
	for i := range n {
		if parts[i].Number != 0 {
			continue
		}
		off := i * partSize
		g.Go(func() error {
			p, err := b.UploadPart(gctx, key, id, int32(i+1), newGuardedSection(up.f, up.job.Path, before, off, min(partSize, size-off)), min(partSize, size-off))
			if err == nil {
				parts[i] = p
				prog.add(p)
			}
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		err = checkSums(parts, u.sum.algorithm)
		if err != nil {
			err = fmt.Errorf("complete multipart upload of %s: %w", key, err)
		}
	}
	if err == nil {
		w, err = b.CompleteMultipart(ctx, key, id, parts)
		if errors.Is(err, ErrNotFound) {
			// A retry of a completion whose answer was lost.
			if sw, ok, serr := stored(ctx, b, key, res, u.sum.algorithm); serr == nil && ok {
				sweep(ctx, b, key, id) // as after any completion: a lost CreateMultipart's upload too
				return sw, true, u.lockWritten(ctx, b, key, sw, opts.Lock, true, res)
			}
		}
		if err != nil && up.job.Progress != nil && refused(err) {
			if n := prog.refusal(); n >= multipartRefusals {
				err = fmt.Errorf("%w %d times in a row, so it was aborted: %w", ErrMultipartRefused, n, err)
			}
		}
	}
	if err != nil {
		if up.job.Progress == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrMultipartRefused) {
			if aerr := abort(ctx, b, key, id); aerr != nil {
				err = fmt.Errorf("%w (and %v)", err, aerr)
			}
		}
		return Written{}, false, err
	}
	sweep(ctx, b, key, id)
	if err := u.lockWritten(ctx, b, key, w, opts.Lock, up.resume != nil && prog.state.ID == up.resume.ID, res); err != nil {
		return Written{}, false, err
	}
	return w, true, nil
}

// bucket returns the Bucket a job goes to.
func (u *Uploader) bucket(name string) Bucket { return u.open(name) }

// metadata is what every object carries beside its content.
func metadata(res *Result) map[string]string {
	meta := map[string]string{
		MetaHash:  FormatMetaHash(res.Hash),
		MetaMtime: formatNs(res.MtimeNs),
	}
	FormatMetaPerm(res.Perm, meta)
	return meta
}

// formatNs formats Unix nanoseconds as MetaMtime does.
func formatNs(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
