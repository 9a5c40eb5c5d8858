package local

import (
	"strings"
	"testing"
)

// FuzzParseDestination: any string is a destination or an error, never a
// panic; a destination parses to a bucket without a slash and a prefix that
// is empty or one directory ("x/"), and prints back to itself.
func FuzzParseDestination(f *testing.F) {
	for _, d := range []string{"s3://bucket/prefix/", "s3://bucket", "s3://bucket/", "s3://b//a//b", "s3:///x", "bucket/prefix", "S3://bucket/p", "s3://b/p\x00q", "s3://b/../../etc/"} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, dest string) {
		bucket, prefix, err := ParseDestination(dest)
		if err != nil {
			if bucket != "" || prefix != "" {
				t.Fatalf("ParseDestination(%q) = %q, %q with error %v", dest, bucket, prefix, err)
			}
			return
		}
		if bucket == "" || strings.Contains(bucket, "/") {
			t.Fatalf("ParseDestination(%q): bucket %q", dest, bucket)
		}
		if prefix != "" && (!strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/")) {
			t.Fatalf("ParseDestination(%q): prefix %q, want empty or like a/b/", dest, prefix)
		}
		b2, p2, err := ParseDestination("s3://" + bucket + "/" + prefix)
		if err != nil || b2 != bucket || p2 != prefix {
			t.Fatalf("ParseDestination(%q) = %q, %q; printed back and parsed: %q, %q, %v", dest, bucket, prefix, b2, p2, err)
		}
	})
}
