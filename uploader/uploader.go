package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// Uploader sends local files to S3. It is safe for concurrent use: the
// caller's worker pool calls Upload from many goroutines.
type Uploader struct {
	client  *s3.Client
	cfg     Config // with defaults
	cfgErr  error  // from Config.Validate; every Upload returns it
	sum     checksum
	buffers *bufferPool
}

// New returns an Uploader that sends with client. An invalid cfg (see
// Config.Validate) makes every Upload fail with an ErrInvalidConfig error.
func New(client *s3.Client, cfg Config) *Uploader {
	u := &Uploader{client: client, cfgErr: cfg.Validate()}
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
// and ErrNotRegular when it is not a regular file. Reason and Fatal
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

	w, err := u.bucket(job.Bucket).Put(ctx, job.Key, body, res.Size, PutOptions{Metadata: metadata(res), Checksum: sum})
	if err != nil {
		return err
	}
	res.ETag, res.VersionID, res.Checksum = w.ETag, w.VersionID, w.Checksum
	return nil
}

// putLarge hashes the file in one sequential pass, then sends it as a
// multipart upload straight from the file, every part with its checksum.
func (u *Uploader) putLarge(ctx context.Context, f *os.File, job Job, res *Result) error {
	buf, err := u.buffers.get(ctx, hashBufferSize)
	if err != nil {
		return err
	}
	hash, err := hashSection(ctx, f, job.Path, res.Size, *buf, nil)
	u.buffers.put(buf)
	if err != nil {
		return err
	}
	res.Hash = hash
	if job.HasKnownHash && res.Hash == job.KnownHash {
		res.Unchanged = true
		return nil
	}

	w, multipart, err := u.sendParts(ctx, u.bucket(job.Bucket), job.Key, f, job.Path, res)
	if err != nil {
		return err
	}
	res.Multipart = multipart
	res.ETag, res.VersionID, res.Checksum = w.ETag, w.VersionID, w.Checksum
	return nil
}

// sendParts sends the first res.Size bytes of f as a multipart upload of
// PartSize parts, PartConcurrency of them in flight, each read straight
// from the file (a section reader sends exactly the bytes that were
// hashed, even if the file grows meanwhile) with its checksum. A file of
// one part goes with one Put instead (multipart is then false). On
// failure the upload is aborted, so no parts stay behind.
func (u *Uploader) sendParts(ctx context.Context, b Bucket, key string, f *os.File, path string, res *Result) (w Written, multipart bool, err error) {
	size, partSize := res.Size, u.cfg.PartSize
	before := fileState{size: res.Size, mtimeNs: res.MtimeNs}
	n := ceilDiv(size, partSize)
	opts := PutOptions{Metadata: metadata(res)}
	if n <= 1 {
		w, err = b.Put(ctx, key, newGuardedSection(f, path, before, 0, size), size, opts)
		return w, false, err
	}
	id, err := b.CreateMultipart(ctx, key, opts)
	if err != nil {
		return Written{}, false, err
	}
	parts := make([]Part, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.cfg.PartConcurrency)
	for i := range n {
		off := i * partSize
		g.Go(func() error {
			p, err := b.UploadPart(gctx, key, id, int32(i+1), newGuardedSection(f, path, before, off, min(partSize, size-off)), min(partSize, size-off))
			parts[i] = p
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		w, err = b.CompleteMultipart(ctx, key, id, parts)
	}
	if err != nil {
		if aerr := b.AbortMultipart(ctx, key, id); aerr != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w (and the upload %s stays until a lifecycle rule aborts it: %v)", err, id, aerr)
		}
		return Written{}, false, err
	}
	return w, true, nil
}

// bucket returns the Bucket a job goes to.
func (u *Uploader) bucket(name string) Bucket {
	return NewBucket(u.client, name, u.cfg)
}

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
