package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ferry/s3ferry/uploader"
)

// s3Bucket is the uploader.Bucket of an S3 (or S3-compatible) store:
// every SDK call s3ferry makes on objects is in this file, listing.go and
// bucketconfig.go. Every error it returns is classified (an sdkError).
type s3Bucket struct {
	client *s3.Client
	name   string
	cfg    Config                  // StorageClass and SSE apply to every Put and CreateMultipart
	algo   types.ChecksumAlgorithm // Config.Checksum: of every Put, part and completed upload
}

// Bucket returns the bucket name reached through c. c's Config's
// Checksum, StorageClass and SSE settings apply to what it writes.
func (c *Client) Bucket(name string) uploader.Bucket {
	return &s3Bucket{client: c.api, name: name, cfg: c.cfg, algo: types.ChecksumAlgorithm(c.cfg.Checksum)}
}

func (b *s3Bucket) Name() string { return b.name }

func (b *s3Bucket) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts uploader.PutOptions) (uploader.Written, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size),
		Metadata: opts.Metadata,
	}
	b.encryption(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	in.ChecksumAlgorithm = b.algo
	if opts.Checksum != "" {
		checksumFields{
			CRC32: &in.ChecksumCRC32, CRC32C: &in.ChecksumCRC32C, CRC64NVME: &in.ChecksumCRC64NVME,
			SHA1: &in.ChecksumSHA1, SHA256: &in.ChecksumSHA256,
		}.set(b.algo, opts.Checksum)
	}
	var once []func(*s3.Options)
	if opts.Once {
		once = append(once, func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	}
	setLock(opts.Lock, &in.ObjectLockMode, &in.ObjectLockRetainUntilDate)
	out, err := b.client.PutObject(ctx, in, once...)
	if err != nil {
		return uploader.Written{}, fmt.Errorf("put %s: %w", key, lockError(err, opts.Lock))
	}
	w := uploader.Written{ETag: trimETag(out.ETag), VersionID: aws.ToString(out.VersionId)}
	w.Checksum = checksumFields{
		CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
		SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
	}.format(b.algo)
	if w.Checksum == "" && opts.Checksum != "" {
		// The store accepted the checksum it was sent but did not echo it.
		w.Checksum = string(b.algo) + ":" + opts.Checksum
	}
	return w, nil
}

func (b *s3Bucket) CreateMultipart(ctx context.Context, key string, opts uploader.PutOptions) (string, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(b.name), Key: aws.String(key), Metadata: opts.Metadata,
		ChecksumAlgorithm: b.algo,
	}
	b.encryption(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	setLock(opts.Lock, &in.ObjectLockMode, &in.ObjectLockRetainUntilDate)
	out, err := b.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create multipart upload of %s: %w", key, lockError(err, opts.Lock))
	}
	return aws.ToString(out.UploadId), nil
}

func (b *s3Bucket) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64) (uploader.Part, error) {
	in := &s3.UploadPartInput{
		Bucket: aws.String(b.name), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(n), Body: body, ContentLength: aws.Int64(size), ChecksumAlgorithm: b.algo,
	}
	out, err := b.client.UploadPart(ctx, in)
	if err != nil {
		return uploader.Part{}, fmt.Errorf("upload part %d of %s: %w", n, key, notFound(err))
	}
	p := uploader.Part{Number: n, ETag: trimETag(out.ETag), Size: size}
	p.Checksum = checksumFields{
		CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
		SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
	}.get(b.algo)
	return p, nil
}

func (b *s3Bucket) ListParts(ctx context.Context, key, uploadID string) ([]uploader.Part, error) {
	var parts []uploader.Part
	pages := s3.NewListPartsPaginator(b.client, &s3.ListPartsInput{
		Bucket: aws.String(b.name), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list parts of %s: %w", key, notFound(err))
		}
		for _, p := range page.Parts {
			part := uploader.Part{Number: aws.ToInt32(p.PartNumber), ETag: trimETag(p.ETag), Size: aws.ToInt64(p.Size)}
			part.Checksum = checksumFields{
				CRC32: &p.ChecksumCRC32, CRC32C: &p.ChecksumCRC32C, CRC64NVME: &p.ChecksumCRC64NVME,
				SHA1: &p.ChecksumSHA1, SHA256: &p.ChecksumSHA256,
			}.get(b.algo)
			parts = append(parts, part)
		}
	}
	return parts, nil
}

func (b *s3Bucket) CompleteMultipart(ctx context.Context, key, uploadID string, parts []uploader.Part) (uploader.Written, error) {
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		if p.Checksum != "" {
			checksumFields{
				CRC32: &done[i].ChecksumCRC32, CRC32C: &done[i].ChecksumCRC32C, CRC64NVME: &done[i].ChecksumCRC64NVME,
				SHA1: &done[i].ChecksumSHA1, SHA256: &done[i].ChecksumSHA256,
			}.set(b.algo, p.Checksum)
		}
	}
	out, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(b.name), Key: aws.String(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return uploader.Written{}, fmt.Errorf("complete multipart upload of %s: %w", key, notFound(err))
	}
	return uploader.Written{
		ETag: trimETag(out.ETag), VersionID: aws.ToString(out.VersionId),
		Checksum: checksumFields{
			CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
			SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
		}.format(b.algo),
	}, nil
}

func (b *s3Bucket) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(b.name), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	if err != nil && !errors.Is(notFound(err), uploader.ErrNotFound) {
		return fmt.Errorf("abort multipart upload of %s: %w", key, classified(err))
	}
	return nil
}

func (b *s3Bucket) ListMultipartUploads(ctx context.Context, prefix string, emit func(uploader.MultipartUpload) error) error {
	// The whole bucket's uploads, filtered here: MinIO takes the prefix
	// as an exact key. Uploads in progress are few (a crash's worth), so
	// this costs one or two requests.
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.name), EncodingType: types.EncodingTypeUrl}
	for more := true; more; {
		page, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("list multipart uploads below %q: %w", prefix, classified(err))
		}
		more, err = nextMarker(aws.ToBool(page.IsTruncated), page.NextKeyMarker, page.NextUploadIdMarker, page.EncodingType, &in.KeyMarker, &in.UploadIdMarker)
		if err != nil {
			return fmt.Errorf("list multipart uploads below %q: %w", prefix, err)
		}
		for _, u := range page.Uploads {
			key, ok := decodeKey(b.name, u.Key, page.EncodingType)
			if !ok || !strings.HasPrefix(key, prefix) {
				continue
			}
			err := emit(uploader.MultipartUpload{Key: key, ID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *s3Bucket) Head(ctx context.Context, key, versionID string) (uploader.Object, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(b.name), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := b.client.HeadObject(ctx, in)
	if err != nil {
		return uploader.Object{}, fmt.Errorf("head %s: %w", key, notFound(err))
	}
	o := objectOf(key, out.VersionId, aws.ToInt64(out.ContentLength), out.ETag, out.LastModified, out.Metadata,
		checksumFields{
			CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
			SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
		}, out.ChecksumType, out.ServerSideEncryption, out.SSECustomerAlgorithm)
	o.Replication = uploader.ReplicationStatus(out.ReplicationStatus)
	o.Lock = lockState(out.ObjectLockMode, out.ObjectLockRetainUntilDate, out.ObjectLockLegalHoldStatus)
	return o, nil
}

func (b *s3Bucket) Get(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, uploader.Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	switch {
	case length == 0:
		return nil, uploader.Object{}, fmt.Errorf("get %s: a range of 0 bytes", key)
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, uploader.Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	size := aws.ToInt64(out.ContentLength)
	if r := aws.ToString(out.ContentRange); r != "" {
		// "bytes 0-9/1234": the object's size is after the slash.
		if _, total, ok := strings.Cut(r, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				size = n
			}
		}
	}
	return out.Body, objectOf(key, out.VersionId, size, out.ETag, out.LastModified, out.Metadata,
		checksumFields{
			CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
			SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
		}, out.ChecksumType, out.ServerSideEncryption, out.SSECustomerAlgorithm), nil
}

// objectOf is the uploader.Object a HeadObject or GetObject answer describes.
func objectOf(key string, version *string, size int64, etag *string, modified *time.Time, meta map[string]string,
	sums checksumFields, sumType types.ChecksumType, sse types.ServerSideEncryption, customerAlgorithm *string) uploader.Object {
	return uploader.Object{
		Key: key, VersionID: aws.ToString(version), Size: size,
		ETag: trimETag(etag), LastModified: aws.ToTime(modified), Metadata: meta,
		Checksums: sums.values(),
		Composite: sumType == types.ChecksumTypeComposite,
		// SSE-KMS and SSE-C make an ETag that is not an MD5 of the content.
		Encrypted: sse == types.ServerSideEncryptionAwsKms || sse == types.ServerSideEncryptionAwsKmsDsse ||
			aws.ToString(customerAlgorithm) != "",
	}
}

func (b *s3Bucket) Delete(ctx context.Context, key, versionID string) (string, error) {
	in := &s3.DeleteObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := b.client.DeleteObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("delete %s: %w", key, classified(err))
	}
	if versionID != "" {
		return "", nil
	}
	return aws.ToString(out.VersionId), nil
}

func (b *s3Bucket) Check(ctx context.Context) error { return checkBucket(ctx, b.client, b.name) }

func (b *s3Bucket) Credentials(ctx context.Context) (string, error) {
	creds := b.client.Options().Credentials
	if creds == nil {
		return "", fmt.Errorf("%w: no credential provider", uploader.ErrNoCredentials)
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return "", classified(err)
	}
	return c.Source, nil
}

// encryption sets the storage class and server-side encryption of a write
// from the bucket's Config.
func (b *s3Bucket) encryption(class *types.StorageClass, sse *types.ServerSideEncryption, kmsKey **string) {
	if b.cfg.StorageClass != "" {
		*class = types.StorageClass(b.cfg.StorageClass)
	}
	if b.cfg.SSE != "" {
		*sse = types.ServerSideEncryption(b.cfg.SSE)
	}
	if b.cfg.SSEKMSKeyID != "" {
		*kmsKey = aws.String(b.cfg.SSEKMSKeyID)
	}
}

// notFound classifies an SDK error and makes an S3 answer that the key,
// version or upload does not exist match uploader.ErrNotFound.
// NoSuchBucket is not one: a missing bucket is Fatal.
func notFound(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchUpload":
			return &sdkError{err: err, notFound: true}
		}
	}
	return classified(err)
}

func trimETag(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }
