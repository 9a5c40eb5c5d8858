package bucket

import (
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
)

func TestReplicationCheck(t *testing.T) {
	rule := func(id string, enabled bool, prefix string) uploader.ReplicationRule {
		return uploader.ReplicationRule{ID: id, Enabled: enabled, Prefix: prefix, Destination: "arn:aws:s3:::replica"}
	}
	tests := []struct {
		name  string
		rules []uploader.ReplicationRule
		want  CheckStatus
	}{
		{"whole bucket", []uploader.ReplicationRule{rule("all", true, "")}, CheckOK},
		{"the prefix", []uploader.ReplicationRule{rule("rec", true, "rec/")}, CheckOK},
		{"disabled", []uploader.ReplicationRule{rule("rec", false, "rec/")}, CheckWarning},
		{"another prefix", []uploader.ReplicationRule{rule("cams", true, "cams/")}, CheckWarning},
		{"part of the prefix", []uploader.ReplicationRule{rule("part", true, "rec/2026-")}, CheckWarning},
		{"tagged only", []uploader.ReplicationRule{{ID: "tags", Enabled: true, Tagged: true}}, CheckWarning},
		{"a covering rule after others", []uploader.ReplicationRule{rule("cams", true, "cams/"), rule("all", true, "")}, CheckOK},
	}
	for _, tt := range tests {
		if got := replicationCheck(tt.rules, "rec/"); got.Status != tt.want {
			t.Errorf("%s: status %s (%s), want %s", tt.name, got.Status, got.Message, tt.want)
		}
	}
}
