package packaging

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"testing"

	"github.com/s3ferry/s3ferry/agent/local"
)

// The Object Lock variant of the policy grants the example policy's
// actions and what locks and holds need (docs/compliance.md), on the
// example config's destination, and denies what would let these
// credentials undo a lock: bypassing GOVERNANCE, deleting versions,
// changing the bucket's lock configuration.
func TestIAMPolicyObjectLock(t *testing.T) {
	var policy struct {
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	data, err := os.ReadFile("iam-policy-object-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &policy); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Sources []struct{ Destination string } `yaml:"sources"`
	}
	readYAML(t, "s3ferry.yml", &cfg)
	bucket, prefix, err := local.ParseDestination(cfg.Sources[0].Destination)
	if err != nil {
		t.Fatal(err)
	}
	list := func(v any) []string {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		var out []string
		for _, e := range v.([]any) {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	allowed, denied := map[string]string{}, map[string]bool{}
	for _, s := range policy.Statement {
		for _, a := range list(s.Action) {
			switch s.Effect {
			case "Allow":
				allowed[a] = list(s.Resource)[0]
			case "Deny":
				denied[a] = true
			default:
				t.Errorf("statement with Effect %q", s.Effect)
			}
		}
	}
	objects := "arn:aws:s3:::" + bucket + "/" + prefix + "*"
	want := map[string]string{
		"s3:ListBucket":                       "arn:aws:s3:::" + bucket,
		"s3:GetBucketObjectLockConfiguration": "arn:aws:s3:::" + bucket,
		"s3:PutObject":                        objects,
		"s3:AbortMultipartUpload":             objects,
		"s3:PutObjectRetention":               objects,
		"s3:GetObject":                        objects,
		"s3:GetObjectVersion":                 objects,
		"s3:GetObjectRetention":               objects,
		"s3:GetObjectLegalHold":               objects,
		"s3:PutObjectLegalHold":               objects,
	}
	if !maps.Equal(allowed, want) {
		t.Errorf("policy allows %v, want exactly %v", allowed, want)
	}
	for _, a := range []string{"s3:BypassGovernanceRetention", "s3:DeleteObjectVersion", "s3:PutObjectLockConfiguration"} {
		if !denied[a] {
			t.Errorf("policy does not deny %s", a)
		}
	}
}
