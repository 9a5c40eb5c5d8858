package s3

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/uploader"
)

// TestReplicationRule reads the filters of both schemas, and what MinIO
// sends, into the prefix and tags of a plain rule.
func TestReplicationRule(t *testing.T) {
	rule := func(status types.ReplicationRuleStatus, f *types.ReplicationRuleFilter) types.ReplicationRule {
		return types.ReplicationRule{ID: aws.String("r"), Status: status, Filter: f,
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::replica")}}
	}
	prefix := func(p string) *types.ReplicationRuleFilter {
		return &types.ReplicationRuleFilter{Prefix: aws.String(p)}
	}
	minioAll := &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{}, Tag: &types.Tag{}} // what MinIO sends
	tagged := &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{Prefix: aws.String(""), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}
	//lint:ignore SA1019 rules of the old schema still use Prefix
	oldSchema := types.ReplicationRule{ID: aws.String("r"), Status: types.ReplicationRuleStatusEnabled, Prefix: aws.String("rec/")}
	tests := []struct {
		name string
		rule types.ReplicationRule
		want uploader.ReplicationRule
	}{
		{"whole bucket", rule(types.ReplicationRuleStatusEnabled, prefix("")), uploader.ReplicationRule{Enabled: true}},
		{"MinIO's empty filter", rule(types.ReplicationRuleStatusEnabled, minioAll), uploader.ReplicationRule{Enabled: true}},
		{"no filter, old schema prefix", oldSchema, uploader.ReplicationRule{Enabled: true, Prefix: "rec/"}},
		{"the prefix", rule(types.ReplicationRuleStatusEnabled, prefix("rec/")), uploader.ReplicationRule{Enabled: true, Prefix: "rec/"}},
		{"disabled", rule(types.ReplicationRuleStatusDisabled, prefix("rec/")), uploader.ReplicationRule{Prefix: "rec/"}},
		{"tagged only", rule(types.ReplicationRuleStatusEnabled, tagged), uploader.ReplicationRule{Enabled: true, Tagged: true}},
	}
	for _, tt := range tests {
		got := replicationRule(tt.rule)
		got.ID, got.Destination = "", ""
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := replicationRule(rule(types.ReplicationRuleStatusEnabled, nil)); got.ID != "r" || got.Destination != "arn:aws:s3:::replica" {
		t.Errorf("ID and destination: %+v, want r and the replica", got)
	}
}

func TestLifecycleScope(t *testing.T) {
	tests := []struct {
		name   string
		rule   types.LifecycleRule
		prefix string
		tagged bool
	}{
		{"no filter", types.LifecycleRule{}, "", false},
		{"prefix", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{Prefix: aws.String("rec/")}}, "rec/", false},
		{"and prefix", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("a/")}}}, "a/", false},
		{"tag", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("k")}}}, "", true},
		{"empty tag", types.LifecycleRule{Filter: &types.LifecycleRuleFilter{Tag: &types.Tag{}}}, "", false},
	}
	for _, tt := range tests {
		prefix, tagged := lifecycleScope(tt.rule)
		if prefix != tt.prefix || tagged != tt.tagged {
			t.Errorf("%s: got %q, %v; want %q, %v", tt.name, prefix, tagged, tt.prefix, tt.tagged)
		}
	}
	r := lifecycleRule(types.LifecycleRule{ID: aws.String("x"), Status: types.ExpirationStatusEnabled,
		AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(7)},
		NoncurrentVersionExpiration:    &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(30)}})
	if want := (uploader.LifecycleRule{ID: "x", Enabled: true, AbortIncompleteDays: 7, NoncurrentDays: 30}); r != want {
		t.Errorf("lifecycleRule = %+v, want %+v", r, want)
	}
}
