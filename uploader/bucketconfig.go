package uploader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// These read the parts of a bucket's configuration that decide whether it
// holds a real backup. A configuration that is not set is not an error: the
// result is then empty (nil, or "" for versioning).

// Versioning returns the bucket's versioning status: Enabled, Suspended, or
// "" when versioning was never enabled.
func Versioning(ctx context.Context, client *s3.Client, bucket string) (types.BucketVersioningStatus, error) {
	out, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return "", fmt.Errorf("get versioning of bucket %s: %w", bucket, err)
	}
	return out.Status, nil
}

// Replication returns the bucket's replication rules; nil when it has none.
func Replication(ctx context.Context, client *s3.Client, bucket string) (*types.ReplicationConfiguration, error) {
	out, err := client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	if notConfigured(err, "ReplicationConfigurationNotFoundError") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get replication of bucket %s: %w", bucket, err)
	}
	return out.ReplicationConfiguration, nil
}

// Lifecycle returns the bucket's lifecycle rules; nil when it has none.
func Lifecycle(ctx context.Context, client *s3.Client, bucket string) ([]types.LifecycleRule, error) {
	out, err := client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if notConfigured(err, "NoSuchLifecycleConfiguration") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lifecycle of bucket %s: %w", bucket, err)
	}
	return out.Rules, nil
}

// ObjectLock returns the bucket's Object Lock configuration; nil when
// Object Lock is not enabled on it.
func ObjectLock(ctx context.Context, client *s3.Client, bucket string) (*types.ObjectLockConfiguration, error) {
	out, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if notConfigured(err, "ObjectLockConfigurationNotFoundError") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get object lock of bucket %s: %w", bucket, err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return nil, nil
	}
	return out.ObjectLockConfiguration, nil
}

// ClockSkew returns how far the server's clock (its Date header, which has
// whole seconds) is ahead of the local one, measured against the middle of
// a HeadBucket round trip.
func ClockSkew(ctx context.Context, client *s3.Client, bucket string) (time.Duration, error) {
	start := time.Now()
	out, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err != nil {
		return 0, fmt.Errorf("head bucket %s: %w", bucket, err)
	}
	end := time.Now()
	server, ok := awsmiddleware.GetServerTime(out.ResultMetadata)
	if !ok {
		return 0, fmt.Errorf("head bucket %s: the answer has no Date header", bucket)
	}
	local := start.Add(end.Sub(start) / 2)
	return server.Sub(local.Truncate(time.Second)), nil
}

// notConfigured reports whether err is S3's answer for a configuration that
// is not set: code, or NotImplemented from a store without the feature.
func notConfigured(err error, code string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode() == code || apiErr.ErrorCode() == "NotImplemented"
}
