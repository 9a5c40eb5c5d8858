package agent

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestReplicationCheck(t *testing.T) {
	rule := func(id string, status types.ReplicationRuleStatus, f *types.ReplicationRuleFilter) types.ReplicationRule {
		return types.ReplicationRule{ID: aws.String(id), Status: status, Filter: f,
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::replica")}}
	}
	prefix := func(p string) *types.ReplicationRuleFilter {
		return &types.ReplicationRuleFilter{Prefix: aws.String(p)}
	}
	minioAll := &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{}, Tag: &types.Tag{}} // what MinIO sends
	tagged := &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{Prefix: aws.String(""), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}
	tests := []struct {
		name  string
		rules []types.ReplicationRule
		want  CheckStatus
	}{
		{"whole bucket", []types.ReplicationRule{rule("all", types.ReplicationRuleStatusEnabled, prefix(""))}, CheckOK},
		{"MinIO's empty filter", []types.ReplicationRule{rule("all", types.ReplicationRuleStatusEnabled, minioAll)}, CheckOK},
		{"no filter, old schema prefix", []types.ReplicationRule{{ID: aws.String("old"), Status: types.ReplicationRuleStatusEnabled, Prefix: aws.String("rec/")}}, CheckOK},
		{"the prefix", []types.ReplicationRule{rule("rec", types.ReplicationRuleStatusEnabled, prefix("rec/"))}, CheckOK},
		{"disabled", []types.ReplicationRule{rule("rec", types.ReplicationRuleStatusDisabled, prefix("rec/"))}, CheckWarning},
		{"another prefix", []types.ReplicationRule{rule("cams", types.ReplicationRuleStatusEnabled, prefix("cams/"))}, CheckWarning},
		{"part of the prefix", []types.ReplicationRule{rule("part", types.ReplicationRuleStatusEnabled, prefix("rec/2026-"))}, CheckWarning},
		{"tagged only", []types.ReplicationRule{rule("tags", types.ReplicationRuleStatusEnabled, tagged)}, CheckWarning},
		{"a covering rule after others", []types.ReplicationRule{
			rule("cams", types.ReplicationRuleStatusEnabled, prefix("cams/")),
			rule("all", types.ReplicationRuleStatusEnabled, prefix("")),
		}, CheckOK},
	}
	for _, tt := range tests {
		if got := replicationCheck(tt.rules, "rec/"); got.Status != tt.want {
			t.Errorf("%s: status %s (%s), want %s", tt.name, got.Status, got.Message, tt.want)
		}
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
}
