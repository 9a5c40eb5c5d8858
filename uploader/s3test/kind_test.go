//go:build linux

package s3test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestStartEveryKind starts each kind of server over HTTP and HTTPS, makes
// a versioned bucket on it, writes two versions of a key, and checks that
// stopping it leaves no process of its behind.
func TestStartEveryKind(t *testing.T) {
	for _, kind := range Kinds() {
		for _, useTLS := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tls=%t", kind, useTLS), func(t *testing.T) {
				t.Parallel()
				bin, err := kind.Binary()
				if err != nil {
					skipOrFail(t, err)
				}
				s, err := start(bin, t.TempDir(), Options{Kind: kind, TLS: useTLS})
				if err != nil {
					t.Fatal(err)
				}
				defer s.stop()
				if got, want := strings.HasPrefix(s.Endpoint, "https://"), useTLS; got != want {
					t.Errorf("endpoint %s: https %t, want %t", s.Endpoint, got, want)
				}
				bucket := s.NewBucket(t, true)
				ctx := context.Background()
				ids := map[string]bool{}
				for _, body := range []string{"one", "two"} {
					out, err := s.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader(body)})
					if err != nil {
						t.Fatalf("put: %v\n%s", err, s.Output())
					}
					ids[aws.ToString(out.VersionId)] = true
				}
				if len(ids) != 2 || ids[""] {
					t.Errorf("two puts made versions %q, want two distinct version IDs", slices.Collect(maps.Keys(ids)))
				}
				pid := s.cmd.Process.Pid
				s.stop()
				deadline := time.Now().Add(10 * time.Second)
				for !errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) {
					if time.Now().After(deadline) {
						t.Fatalf("process group %d still has processes after stop", pid)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}
}

// TestSkipOrFailByKind: under CI=true a missing MinIO or VersityGW fails
// the test, which make test promises; a missing SeaweedFS, which only
// make test-compat builds, skips it.
func TestSkipOrFailByKind(t *testing.T) {
	t.Setenv("CI", "true")
	for _, c := range []struct {
		kind     Kind
		err      error
		wantFail bool
	}{
		{MinIO, ErrNoMinIO, true},
		{VersityGW, ErrNoVersityGW, true},
		{SeaweedFS, ErrNoSeaweedFS, false},
		{SeaweedFS, errors.New("S3FERRY_WEED: no such file"), true},
	} {
		tb := &recordingTB{}
		c.kind.skipOrFail(tb, c.err)
		if tb.failed != c.wantFail || tb.skipped == c.wantFail {
			t.Errorf("%s, %v: failed %t, skipped %t; want failed %t", c.kind, c.err, tb.failed, tb.skipped, c.wantFail)
		}
	}
}
