package s3

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

	"github.com/s3ferry/s3ferry/uploader"
)

// These implement the Bucket methods that read the bucket's configuration,
// and turn the SDK's rules into plain ones.

func (b *s3Bucket) Versioning(ctx context.Context) (uploader.VersioningStatus, error) {
	out, err := b.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
	if err != nil {
		return "", fmt.Errorf("get versioning of bucket %s: %w", b.name, err)
	}
	return uploader.VersioningStatus(out.Status), nil
}

func (b *s3Bucket) Replication(ctx context.Context) ([]uploader.ReplicationRule, error) {
	out, err := b.client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(b.name)})
	if notConfigured(err, "ReplicationConfigurationNotFoundError") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get replication of bucket %s: %w", b.name, err)
	}
	if out.ReplicationConfiguration == nil {
		return nil, nil
	}
	var rules []uploader.ReplicationRule
	for _, r := range out.ReplicationConfiguration.Rules {
		rules = append(rules, replicationRule(r))
	}
	return rules, nil
}

// replicationRule reads one SDK replication rule.
func replicationRule(r types.ReplicationRule) uploader.ReplicationRule {
	prefix, tagged := replicationScope(r)
	out := uploader.ReplicationRule{ID: aws.ToString(r.ID), Enabled: r.Status == types.ReplicationRuleStatusEnabled, Prefix: prefix, Tagged: tagged}
	if r.Destination != nil {
		out.Destination = aws.ToString(r.Destination.Bucket)
	}
	return out
}

func (b *s3Bucket) Lifecycle(ctx context.Context) ([]uploader.LifecycleRule, error) {
	out, err := b.client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b.name)})
	if notConfigured(err, "NoSuchLifecycleConfiguration") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lifecycle of bucket %s: %w", b.name, err)
	}
	var rules []uploader.LifecycleRule
	for _, r := range out.Rules {
		rules = append(rules, lifecycleRule(r))
	}
	return rules, nil
}

// lifecycleRule reads one SDK lifecycle rule.
func lifecycleRule(r types.LifecycleRule) uploader.LifecycleRule {
	prefix, tagged := lifecycleScope(r)
	out := uploader.LifecycleRule{ID: aws.ToString(r.ID), Enabled: r.Status == types.ExpirationStatusEnabled, Prefix: prefix, Tagged: tagged}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		out.AbortIncompleteDays = int(aws.ToInt32(a.DaysAfterInitiation))
	}
	if n := r.NoncurrentVersionExpiration; n != nil && n.NoncurrentDays != nil {
		out.NoncurrentDays = int(*n.NoncurrentDays)
	}
	return out
}

func (b *s3Bucket) ObjectLock(ctx context.Context) (*uploader.ObjectLock, error) {
	out, err := b.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(b.name)})
	if notConfigured(err, "ObjectLockConfigurationNotFoundError") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get object lock of bucket %s: %w", b.name, err)
	}
	cfg := out.ObjectLockConfiguration
	if cfg == nil || cfg.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return nil, nil
	}
	lock := &uploader.ObjectLock{}
	if cfg.Rule != nil && cfg.Rule.DefaultRetention != nil {
		r := cfg.Rule.DefaultRetention
		lock.DefaultRetention = &uploader.Retention{Mode: string(r.Mode), Days: int(aws.ToInt32(r.Days)), Years: int(aws.ToInt32(r.Years))}
	}
	return lock, nil
}

// ClockSkew measures against the server's Date header, which has whole
// seconds, and the middle of a HeadBucket round trip.
func (b *s3Bucket) ClockSkew(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	out, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.name)})
	if err != nil {
		return 0, fmt.Errorf("head bucket %s: %w", b.name, err)
	}
	end := time.Now()
	server, ok := awsmiddleware.GetServerTime(out.ResultMetadata)
	if !ok {
		return 0, fmt.Errorf("head bucket %s: the answer has no Date header", b.name)
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

// replicationScope returns the key prefix a rule applies to and whether it
// also requires tags.
func replicationScope(r types.ReplicationRule) (prefix string, tagged bool) {
	f := r.Filter
	if f == nil {
		f = &types.ReplicationRuleFilter{}
	}
	and := f.And
	if and == nil {
		and = &types.ReplicationRuleAndOperator{}
	}
	return ruleScope(r.Prefix, f.Prefix, f.Tag, and.Prefix, and.Tags) //lint:ignore SA1019 rules of the old schema still use r.Prefix
}

// lifecycleScope is replicationScope for a lifecycle rule.
func lifecycleScope(r types.LifecycleRule) (prefix string, tagged bool) {
	f := r.Filter
	if f == nil {
		f = &types.LifecycleRuleFilter{}
	}
	and := f.And
	if and == nil {
		and = &types.LifecycleRuleAndOperator{}
	}
	return ruleScope(r.Prefix, f.Prefix, f.Tag, and.Prefix, and.Tags) //lint:ignore SA1019 rules of the old schema still use r.Prefix
}

// ruleScope reads a rule's filter, of either kind: the most specific prefix
// given wins, and a tag with a key makes it tagged. MinIO sends empty Tag
// and And elements when there is none.
func ruleScope(legacy, prefix *string, tag *types.Tag, andPrefix *string, andTags []types.Tag) (string, bool) {
	p := aws.ToString(legacy)
	for _, v := range []*string{prefix, andPrefix} {
		if v != nil {
			p = *v
		}
	}
	return p, tag != nil && aws.ToString(tag.Key) != "" || len(andTags) > 0
}
