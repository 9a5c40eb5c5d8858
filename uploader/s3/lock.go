package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ferry/s3ferry/uploader"
)

// This file is the Object Lock of single versions: the headers of a write
// (Put, CreateMultipart), what Head reads back, and uploader.Locker.

var _ uploader.Locker = (*s3Bucket)(nil)

// setLock puts l, when set, in a write's lock fields. The write carries
// a checksum of the bucket's algorithm already (Put: its value;
// CreateMultipart: the algorithm, so every part carries one), which S3
// requires beside lock headers.
func setLock(l uploader.Lock, mode *types.ObjectLockMode, until **time.Time) {
	if l.IsZero() {
		return
	}
	*mode = types.ObjectLockMode(l.Mode)
	t := l.RetainUntil.UTC()
	*until = &t
}

// lockState is a HeadObject answer's lock.
func lockState(mode types.ObjectLockMode, until *time.Time, hold types.ObjectLockLegalHoldStatus) uploader.LockState {
	s := uploader.LockState{LegalHold: hold == types.ObjectLockLegalHoldStatusOn}
	if mode != "" && until != nil {
		s.Mode, s.RetainUntil = uploader.LockMode(mode), until.UTC()
	}
	return s
}

// lockRefused says whether a write that carried lock headers was refused
// for them: a store that does not implement them on uploads.
func lockRefused(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NotImplemented":
			return true
		}
	}
	return false
}

// lockError is the error of a write with lock headers: ErrLockHeadersRefused
// when refused for them, else classified.
func lockError(err error, l uploader.Lock) error {
	if !l.IsZero() && lockRefused(err) {
		return fmt.Errorf("%w: %w", uploader.ErrLockHeadersRefused, classified(err))
	}
	return classified(err)
}

func (b *s3Bucket) PutRetention(ctx context.Context, key, versionID string, l uploader.Lock) error {
	until := l.RetainUntil.UTC()
	in := &s3.PutObjectRetentionInput{
		Bucket: aws.String(b.name), Key: aws.String(key),
		Retention:         &types.ObjectLockRetention{Mode: types.ObjectLockRetentionMode(l.Mode), RetainUntilDate: &until},
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if _, err := b.client.PutObjectRetention(ctx, in); err != nil {
		return fmt.Errorf("put retention of %s version %s: %w", key, versionID, notFound(err))
	}
	return nil
}

func (b *s3Bucket) PutLegalHold(ctx context.Context, key, versionID string, on bool) error {
	status := types.ObjectLockLegalHoldStatusOff
	if on {
		status = types.ObjectLockLegalHoldStatusOn
	}
	in := &s3.PutObjectLegalHoldInput{
		Bucket: aws.String(b.name), Key: aws.String(key),
		LegalHold:         &types.ObjectLockLegalHold{Status: status},
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if _, err := b.client.PutObjectLegalHold(ctx, in); err != nil {
		return fmt.Errorf("put legal hold of %s version %s: %w", key, versionID, notFound(err))
	}
	return nil
}
