package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cespare/xxhash/v2"
)

// Metadata keys s3ferry puts on every object (S3 sends them as
// x-amz-meta-s3ferry-*).
const (
	MetaHash  = "s3ferry-xxhash64" // xxhash64 of the content, 16 hex digits
	MetaMtime = "s3ferry-mtime"    // the file's mtime, RFC 3339 with ns, UTC
)

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

	// multipart sends files of at least PartSize.
	//lint:ignore SA1019 DESIGN.md fixes feature/s3/manager; its successor transfermanager is not a dependency.
	multipart *manager.Uploader
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
	u.buffers = newBufferPool(int(u.cfg.PartSize))
	//lint:ignore SA1019 see the multipart field.
	u.multipart = manager.NewUploader(client, func(m *manager.Uploader) {
		m.PartSize = u.cfg.PartSize
		m.Concurrency = u.cfg.PartConcurrency
	})
	return u
}

// Upload sends the file at job.Path to job.Bucket/job.Key, unless it still
// hashes to job.KnownHash. The object carries an S3 checksum of the
// configured algorithm, which S3 verifies, and the metadata MetaHash and
// MetaMtime. An Unchanged Result has only Size, MtimeNs, Inode and Hash.
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
		return Result{}, fmt.Errorf("upload %s: %w", job.Key, err)
	}
	return res, nil
}

func (u *Uploader) upload(ctx context.Context, job Job) (Result, error) {
	f, err := os.OpenFile(job.Path, openFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			// A directory on the way was replaced by a file: the file
			// vanished as surely as with ENOENT.
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return Result{}, err
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	if !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("%s: %w (%s)", job.Path, ErrNotRegular, fi.Mode().Type())
	}
	before := stateOf(fi)
	res := Result{Size: before.size, MtimeNs: before.mtimeNs, Inode: inode(fi)}

	if before.size < u.cfg.PartSize {
		err = u.putSmall(ctx, f, job, &res)
	} else {
		err = u.putLarge(ctx, f, job, &res)
	}
	if err != nil {
		return Result{}, err
	}

	// Whatever was read must be the file as it was at open: a writer that
	// appended, truncated or rewrote it meanwhile changed size or mtime.
	if err := checkUnchanged(f, job.Path, before); err != nil {
		return Result{}, err
	}
	return res, nil
}

// putSmall reads the whole file into one pooled buffer, takes the xxhash
// and the S3 checksum from it and sends it with one PutObject that carries
// the checksum, so S3 verifies exactly the bytes that were hashed.
func (u *Uploader) putSmall(ctx context.Context, f *os.File, job Job, res *Result) error {
	buf := u.buffers.get(int(res.Size))
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

	in := u.putInput(job, res)
	in.Body = body
	in.ContentLength = aws.Int64(res.Size)
	u.sum.setOnPut(in, sum)
	out, err := u.client.PutObject(ctx, in)
	if err != nil {
		return err
	}
	res.ETag = strings.Trim(aws.ToString(out.ETag), `"`)
	res.VersionID = aws.ToString(out.VersionId)
	res.Checksum = u.sum.format(checksumFields{
		CRC32: out.ChecksumCRC32, CRC32C: out.ChecksumCRC32C, CRC64NVME: out.ChecksumCRC64NVME,
		SHA1: out.ChecksumSHA1, SHA256: out.ChecksumSHA256,
	})
	if res.Checksum == "" {
		// The store accepted the checksum it was sent but did not echo it.
		res.Checksum = string(u.sum.algorithm) + ":" + sum
	}
	return nil
}

// putLarge hashes the file in one sequential pass, then sends it as a
// multipart upload straight from the file, every part with its checksum.
func (u *Uploader) putLarge(ctx context.Context, f *os.File, job Job, res *Result) error {
	buf := u.buffers.get(hashBufferSize)
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

	in := u.putInput(job, res)
	// A section reader sends exactly the bytes that were hashed, even if
	// the file grows meanwhile, and the manager reads parts from it with
	// ReadAt, without buffering them.
	in.Body = io.NewSectionReader(f, 0, res.Size)
	in.ChecksumAlgorithm = u.sum.algorithm
	//lint:ignore SA1019 see the multipart field.
	out, err := u.multipart.Upload(ctx, in)
	if err != nil {
		return err
	}
	res.Multipart = out.UploadID != ""
	res.ETag = strings.Trim(aws.ToString(out.ETag), `"`)
	res.VersionID = aws.ToString(out.VersionID)
	res.Checksum = u.sum.format(checksumFields{
		CRC32: out.ChecksumCRC32, CRC32C: out.ChecksumCRC32C, CRC64NVME: out.ChecksumCRC64NVME,
		SHA1: out.ChecksumSHA1, SHA256: out.ChecksumSHA256,
	})
	return nil
}

// putInput returns the PutObjectInput for job without a body or checksum.
func (u *Uploader) putInput(job Job, res *Result) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket: aws.String(job.Bucket),
		Key:    aws.String(job.Key),
		Metadata: map[string]string{
			MetaHash:  fmt.Sprintf("%016x", res.Hash),
			MetaMtime: formatNs(res.MtimeNs),
		},
	}
	if u.cfg.StorageClass != "" {
		in.StorageClass = types.StorageClass(u.cfg.StorageClass)
	}
	if u.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(u.cfg.SSE)
	}
	if u.cfg.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(u.cfg.SSEKMSKeyID)
	}
	return in
}

// formatNs formats Unix nanoseconds as MetaMtime does.
func formatNs(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
