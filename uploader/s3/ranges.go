package s3

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/uploader"
)

var _ uploader.RangeGetter = (*s3Bucket)(nil)

// GetRanges fetches a version in ranged GETs with the SDK's transfer
// manager (feature/s3/transfermanager, DownloadObject in its RANGE mode):
// it writes each part at its offset of w as its body streams in, so no
// part is held in memory. Every GET carries the VersionId and If-Match;
// a part whose request fails is retried by the client's retryer, one
// whose body is cut is fetched again alone, up to Config.MaxAttempts
// times. The watchdog and the bandwidth limit are the client's, as for
// every request.
func (b *s3Bucket) GetRanges(ctx context.Context, key, versionID string, w io.WriterAt, opts uploader.RangeOptions) (uploader.Object, error) {
	if opts.PartSize < 1 || opts.Concurrency < 1 {
		return uploader.Object{}, fmt.Errorf("get %s in parts: part size %d and concurrency %d must be at least 1", key, opts.PartSize, opts.Concurrency)
	}
	tm := transfermanager.New(b.client, func(o *transfermanager.Options) {
		o.GetObjectType = tmtypes.GetObjectRanges
		o.PartSizeBytes = opts.PartSize
		o.Concurrency = opts.Concurrency
		o.PartBodyMaxRetries = max(b.cfg.MaxAttempts, 1)
	})
	in := &transfermanager.DownloadObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key), WriterAt: w,
		ChecksumMode: tmtypes.ChecksumModeEnabled,
	}
	if versionID != "" {
		in.VersionID = aws.String(versionID)
	}
	if opts.ETag != "" {
		in.IfMatch = aws.String(`"` + strings.Trim(opts.ETag, `"`) + `"`)
	}
	out, err := tm.DownloadObject(ctx, in)
	if err != nil {
		return uploader.Object{}, fmt.Errorf("get %s in parts: %w", key, notFound(err))
	}
	// The transfer manager answers ContentRange "bytes=0-<size-1>" for
	// the whole object, ContentLength the bytes it wrote.
	size := aws.ToInt64(out.ContentLength)
	if _, end, ok := strings.Cut(aws.ToString(out.ContentRange), "-"); ok {
		if n, err := strconv.ParseInt(end, 10, 64); err == nil {
			size = n + 1
		}
	}
	return objectOf(key, out.VersionID, size, out.ETag, out.LastModified, out.Metadata,
		checksumFields{
			CRC32: &out.ChecksumCRC32, CRC32C: &out.ChecksumCRC32C, CRC64NVME: &out.ChecksumCRC64NVME,
			SHA1: &out.ChecksumSHA1, SHA256: &out.ChecksumSHA256,
		}, types.ChecksumType(out.ChecksumType), types.ServerSideEncryption(out.ServerSideEncryption), out.SSECustomerAlgorithm), nil
}
