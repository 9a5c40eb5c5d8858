package packaging

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/s3ferry/s3ferry/agent/local"
)

// The example policy grants what the agent does (HeadBucket, PutObject,
// multipart uploads and their abort) on the example config's destination,
// and nothing else: no s3:DeleteObject, no wildcards.
func TestIAMPolicy(t *testing.T) {
	p := readPolicy(t, "iam-policy.json")
	want := map[string]string{
		"s3:ListBucket":           p.bucket,
		"s3:PutObject":            p.objects,
		"s3:AbortMultipartUpload": p.objects,
	}
	if !maps.Equal(p.allowed, want) || len(p.denied) != 0 {
		t.Errorf("policy allows %v and denies %v, want exactly %v allowed", p.allowed, p.denied, want)
	}
}

// The Object Lock variant of the policy grants the example policy's
// actions and what locks and holds need (docs/compliance.md), on the
// example config's destination, and denies what would let these
// credentials undo a lock: bypassing GOVERNANCE, deleting versions,
// changing the bucket's lock configuration.
func TestIAMPolicyObjectLock(t *testing.T) {
	p := readPolicy(t, "iam-policy-object-lock.json")
	want := map[string]string{
		"s3:ListBucket":                       p.bucket,
		"s3:GetBucketObjectLockConfiguration": p.bucket,
		"s3:PutObject":                        p.objects,
		"s3:AbortMultipartUpload":             p.objects,
		"s3:PutObjectRetention":               p.objects,
		"s3:GetObject":                        p.objects,
		"s3:GetObjectVersion":                 p.objects,
		"s3:GetObjectRetention":               p.objects,
		"s3:GetObjectLegalHold":               p.objects,
		"s3:PutObjectLegalHold":               p.objects,
	}
	if !maps.Equal(p.allowed, want) {
		t.Errorf("policy allows %v, want exactly %v", p.allowed, want)
	}
	for _, a := range []string{"s3:BypassGovernanceRetention", "s3:DeleteObjectVersion", "s3:PutObjectLockConfiguration"} {
		if !p.denied[a] {
			t.Errorf("policy does not deny %s", a)
		}
	}
}

// policy is a shipped IAM policy read for a test: the actions it allows
// (each with its statement's first resource) and denies, and the ARNs of
// the example config's bucket and of the objects under its prefix.
type policy struct {
	allowed         map[string]string
	denied          map[string]bool
	bucket, objects string
}

// readPolicy reads the policy file name, failing the test on a statement
// that neither allows nor denies.
func readPolicy(tb testing.TB, name string) policy {
	tb.Helper()
	var doc struct {
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatal(err)
	}
	var cfg struct {
		Sources []struct{ Destination string } `yaml:"sources"`
	}
	if err := yaml.Unmarshal([]byte(exampleSources(tb)), &cfg); err != nil || len(cfg.Sources) != 1 {
		tb.Fatalf("the shipped configuration's example source: %v, %d sources", err, len(cfg.Sources))
	}
	bucket, prefix, err := local.ParseDestination(cfg.Sources[0].Destination)
	if err != nil {
		tb.Fatal(err)
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
	p := policy{allowed: map[string]string{}, denied: map[string]bool{},
		bucket: "arn:aws:s3:::" + bucket, objects: "arn:aws:s3:::" + bucket + "/" + prefix + "*"}
	for _, s := range doc.Statement {
		for _, a := range list(s.Action) {
			switch s.Effect {
			case "Allow":
				p.allowed[a] = list(s.Resource)[0]
			case "Deny":
				p.denied[a] = true
			default:
				tb.Errorf("statement with Effect %q", s.Effect)
			}
		}
	}
	return p
}
