package main

import (
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestPlainHTTPBehindHTTPS: an https:// endpoint URL for a MinIO that
// speaks plain HTTP fails sync, doctor and run at once with one line
// saying so and what to write instead, after one attempt: a handshake
// answered in plain HTTP is answered so again, and retrying it cost a
// minute (12 attempts of the bucket check).
func TestPlainHTTPBehindHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "a.wav", "a", 0)
	relay := s3test.NewRelay(t, e.srv.Endpoint)
	url := "https://" + relay.Addr
	want := "endpoint " + url + " speaks plain HTTP, not TLS: write its URL with http://, not https://"
	for _, tt := range []struct {
		args []string
		// requests is how many requests the command makes before it
		// stops: one connection each, none retried.
		requests int64
	}{
		{[]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--endpoint-url", url}, 1},
		// The replication rule it reads first, then the bucket check.
		{[]string{"doctor", "{dest}", "--index-dir", "{index}", "--endpoint-url", url}, 2},
		{[]string{"run", "{root}", "{dest}", "--index-dir", "{index}", "--admin-listen", "off", "--endpoint-url", url}, 1},
	} {
		before := relay.Accepted()
		r := e.run(t, tt.args...)
		out := r.stdout + r.stderr
		if r.code == 0 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want non-zero and %q\nstdout: %s\nstderr: %s", tt.args[0], r.code, want, r.stdout, r.stderr)
		}
		if n := relay.Accepted() - before; n != tt.requests {
			t.Errorf("%s: %d connections to the endpoint, want %d: an answer in plain HTTP was retried", tt.args[0], n, tt.requests)
		}
	}
}
