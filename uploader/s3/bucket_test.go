package s3_test

import (
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestBucket runs the conformance suite against MinIO.
func TestBucket(t *testing.T) {
	srv := s3test.Start(t)
	client := srv.Client(t)
	buckettest.Run(t, func(t *testing.T) uploader.Bucket {
		return client.Bucket(srv.NewBucket(t, true))
	}, buckettest.Quirks{})
}
