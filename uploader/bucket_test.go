package uploader_test

import (
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// TestBucket runs the conformance suite against MinIO.
func TestBucket(t *testing.T) {
	srv := server(t)
	client := srv.Client(t)
	buckettest.Run(t, func(t *testing.T) uploader.Bucket {
		return uploader.NewBucket(client, srv.NewBucket(t, true), uploader.Config{})
	})
}
