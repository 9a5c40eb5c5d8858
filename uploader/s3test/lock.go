package s3test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// NewLockedBucket creates a bucket with Object Lock enabled (and so
// versioning) on s and returns its name. Versions locked in COMPLIANCE
// mode cannot be removed until they expire, so tests lock them for
// seconds.
func (s *Server) NewLockedBucket(tb testing.TB) string {
	tb.Helper()
	name := "s3test-lock-" + randomHex(6)
	_, err := s.admin.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)})
	if err != nil {
		tb.Fatalf("create bucket %s with Object Lock: %v", name, err)
	}
	return name
}

// SetDefaultRetention gives bucket (one with Object Lock) a default
// retention of mode for days.
func (s *Server) SetDefaultRetention(tb testing.TB, bucket, mode string, days int32) {
	tb.Helper()
	_, err := s.admin.PutObjectLockConfiguration(context.Background(), &awss3.PutObjectLockConfigurationInput{
		Bucket: aws.String(bucket),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{
			ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionMode(mode), Days: aws.Int32(days)}},
		},
	})
	if err != nil {
		tb.Fatalf("set default retention of %s: %v", bucket, err)
	}
}

// Retention reads a version's retention with GetObjectRetention, as the
// bucket's owner: mode "" when it has none.
func (s *Server) Retention(ctx context.Context, bucket, key, versionID string) (mode string, until time.Time, err error) {
	out, err := s.admin.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get retention of %s version %s: %w", key, versionID, err)
	}
	if out.Retention == nil {
		return "", time.Time{}, nil
	}
	return string(out.Retention.Mode), aws.ToTime(out.Retention.RetainUntilDate), nil
}

// LegalHold reads whether a version has a legal hold on, with
// GetObjectLegalHold.
func (s *Server) LegalHold(ctx context.Context, bucket, key, versionID string) (bool, error) {
	out, err := s.admin.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if apiErr := smithy.APIError(nil); errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchObjectLockConfiguration" {
		return false, nil // MinIO: a version that never had a hold
	}
	if err != nil {
		return false, fmt.Errorf("get legal hold of %s version %s: %w", key, versionID, err)
	}
	return out.LegalHold != nil && out.LegalHold.Status == types.ObjectLockLegalHoldStatusOn, nil
}

// DeleteVersion removes a version for good as the bucket's owner, without
// bypassing a GOVERNANCE retention: what an attacker with the owner's
// keys but no s3:BypassGovernanceRetention would try.
func (s *Server) DeleteVersion(ctx context.Context, bucket, key, versionID string) error {
	_, err := s.admin.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	return err
}
