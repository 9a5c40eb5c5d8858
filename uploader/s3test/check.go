package s3test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

// CheckObject checks the object bucket/key as the server stored it (its
// bytes and the checksum of algo) against res, an upload's Result, and data.
func CheckObject(tb testing.TB, c *s3.Client, bucket, key string, res uploader.Result, algo string, data []byte) {
	tb.Helper()
	client := c.SDK()
	ctx := context.Background()
	get, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	if !bytes.Equal(got, data) {
		tb.Errorf("object %s: %d bytes differ from the %d bytes of the file", key, len(got), len(data))
	}

	head, err := client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		tb.Fatalf("head %s: %v", key, err)
	}
	if got, want := head.Metadata[uploader.MetaHash], fmt.Sprintf("%016x", xxhash.Sum64(data)); got != want {
		tb.Errorf("metadata %s = %q, want %q", uploader.MetaHash, got, want)
	}
	if got, want := head.Metadata[uploader.MetaMtime], time.Unix(0, res.MtimeNs).UTC().Format(time.RFC3339Nano); got != want {
		tb.Errorf("metadata %s = %q, want %q", uploader.MetaMtime, got, want)
	}
	if got, want := strings.Trim(aws.ToString(head.ETag), `"`), res.ETag; got != want {
		tb.Errorf("ETag = %q, Upload said %q", got, want)
	}
	if got, want := aws.ToString(head.VersionId), res.VersionID; got != want && want != "" {
		tb.Errorf("VersionId = %q, Upload said %q", got, want)
	}
	stored := map[string]*string{
		"CRC32": head.ChecksumCRC32, "CRC32C": head.ChecksumCRC32C, "CRC64NVME": head.ChecksumCRC64NVME,
		"SHA1": head.ChecksumSHA1, "SHA256": head.ChecksumSHA256,
	}[algo]
	if stored == nil {
		tb.Fatalf("head %s: no %s checksum stored", key, algo)
	}
	if got, want := res.Checksum, algo+":"+*stored; got != want {
		tb.Errorf("Checksum = %q, S3 stored %q", got, want)
	}
}

// CheckClass checks that err, from op, has reason and is fatal or not.
func CheckClass(tb testing.TB, op string, err error, reason uploader.Reason, fatal bool) {
	tb.Helper()
	if err == nil {
		tb.Errorf("%s: err = nil, want a %s error", op, reason)
		return
	}
	if got := uploader.ReasonOf(err); got != reason {
		tb.Errorf("%s: Reason(%v) = %q, want %q", op, err, got, reason)
	}
	if got := uploader.Fatal(err); got != fatal {
		tb.Errorf("%s: Fatal(%v) = %t, want %t", op, err, got, fatal)
	}
}
