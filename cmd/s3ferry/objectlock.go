package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// parseObjectLock reads a source's object-lock; nil is none. Mode and
// retain come together.
func parseObjectLock(c *objectLockConfig) (uploader.LockPolicy, error) {
	if c == nil || (c.Mode == "" && c.Retain == "") {
		return uploader.LockPolicy{}, nil
	}
	if c.Mode == "" || c.Retain == "" {
		return uploader.LockPolicy{}, fmt.Errorf("object-lock wants both a mode and a retain (--%s, --%s), e.g. {mode: COMPLIANCE, retain: 7y}", flagObjectLockMode, flagObjectLockRetain)
	}
	mode, err := uploader.ParseLockMode(c.Mode)
	if err != nil {
		return uploader.LockPolicy{}, err
	}
	retain, err := uploader.ParseLockRetain(c.Retain)
	if err != nil {
		return uploader.LockPolicy{}, err
	}
	return uploader.LockPolicy{Mode: mode, Retain: retain}, nil
}

// refuseUnlocked returns a one-line error naming the first bucket a
// source with object-lock goes to that has no Object Lock enabled (or
// will not say): its uploads would fail one by one. Object Lock can only
// be enabled on a versioned bucket, in place since 2023 on AWS.
func refuseUnlocked(ctx context.Context, open func(bucket string) uploader.Bucket, sources []*local.Source, log *slog.Logger) error {
	asked := map[string]bool{}
	for _, src := range sources {
		if src.Lock.Mode == "" || asked[src.Bucket] {
			continue
		}
		asked[src.Bucket] = true
		lock, err := open(src.Bucket).ObjectLock(ctx)
		if err != nil {
			return fmt.Errorf("source %s has object-lock but bucket %s will not say whether Object Lock is enabled (s3:GetBucketObjectLockConfiguration): %w", src.Root, src.Bucket, err)
		}
		if lock == nil {
			return fmt.Errorf("source %s has object-lock but bucket %s has no Object Lock enabled: enable it (aws s3api put-object-lock-configuration --bucket %s --object-lock-configuration ObjectLockEnabled=Enabled) or drop object-lock", src.Root, src.Bucket, src.Bucket)
		}
		log.Debug("bucket has Object Lock", "bucket", src.Bucket)
	}
	return nil
}
