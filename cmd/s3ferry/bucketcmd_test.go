package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// decode reads the JSON object a run printed last on stdout into v.
func (r result) decode(tb testing.TB, v any) {
	tb.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		tb.Fatalf("decode %q: %v (exit %d, stderr: %s)", r.stdout, err, r.code, r.stderr)
	}
}

// put writes rec/key behind s3ferry's back.
func (e *testEnv) put(tb testing.TB, key, body string) {
	tb.Helper()
	_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key), Body: bytes.NewReader([]byte(body)),
	})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

// remove deletes rec/key behind s3ferry's back: a delete marker, in a
// versioned bucket.
func (e *testEnv) remove(tb testing.TB, key string) {
	tb.Helper()
	if _, err := e.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key)}); err != nil {
		tb.Fatalf("delete %s: %v", key, err)
	}
}

// latestVersions maps each key below rec/ to the version ID of its current
// version.
func (e *testEnv) latestVersions(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	p := s3.NewListObjectVersionsPaginator(e.client, &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, v := range page.Versions {
			if aws.ToBool(v.IsLatest) {
				out[aws.ToString(v.Key)] = aws.ToString(v.VersionId)
			}
		}
	}
	return out
}

func TestBucketCommandsUsageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"restore without --to", []string{"restore", "{dest}"}, "--to DIR is required"},
		{"restore at a bad time", []string{"restore", "{dest}", "--to", "{index}/r", "--at", "yesterday"}, "write it as RFC 3339"},
		{"restore at a future time", []string{"restore", "{dest}", "--to", "{index}/r", "--at", "24h"}, "with a minus"},
		{"restore with an absolute prefix", []string{"restore", "{dest}", "--to", "{index}/r", "--prefix", "/etc"}, "relative to the destination"},
		{"manifest without --out", []string{"manifest", "{root}", "{dest}"}, "--out FILE is required"},
		{"verify of a lone destination", []string{"verify", "{dest}"}, "want SRC s3://BUCKET/PREFIX/"},
		{"adopt with a bad list-workers", []string{"adopt", "{root}", "{dest}", "--list-workers", "0"}, "--list-workers must be at least 1"},
	}
	for _, tt := range tests {
		r := e.run(t, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tt.name, r.code, r.stderr, exitUsage, tt.want)
		}
	}
}
