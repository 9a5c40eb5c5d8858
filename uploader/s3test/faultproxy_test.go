package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// backend is a plain HTTP server behind a proxy: it answers 200 with the
// body "ok" and keeps the bodies it received.
type backend struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	hosts  []string
}

func newBackend(tb testing.TB) *backend {
	tb.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request that names this server itself did not come through a
		// proxy (which keeps its own Host): a stray one from another test
		// whose server had this port a moment ago. It is not counted.
		if r.Host == b.Listener.Addr().String() {
			http.Error(w, "not through the proxy", http.StatusMisdirectedRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies = append(b.bodies, body)
		b.hosts = append(b.hosts, r.Host)
		b.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	tb.Cleanup(b.Close)
	return b
}

func (b *backend) received() ([][]byte, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.bodies...), append([]string(nil), b.hosts...)
}

// put sends body to the proxy with a client that gives up after timeout,
// and returns the status, or 0 and the error.
func put(tb testing.TB, p *FaultProxy, body []byte, timeout time.Duration) (int, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.URL+"/bucket/key?x=1", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	// A fresh connection per request: a dropped one must not be reused.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestFaultProxyPassesThrough(t *testing.T) {
	b := newBackend(t)
	p := NewFaultProxy(t, b.URL, 1)
	body := []byte("hello, bucket")
	if code, err := put(t, p, body, 10*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("put through a proxy without faults: %d, %v", code, err)
	}
	bodies, hosts := b.received()
	if len(bodies) != 1 || !bytes.Equal(bodies[0], body) {
		t.Fatalf("backend got %q, want %q", bodies, body)
	}
	if want := strings.TrimPrefix(p.URL, "http://"); hosts[0] != want {
		t.Errorf("backend got Host %q, want the proxy's %q (signatures cover it)", hosts[0], want)
	}
	got := p.Stats()
	if got.Requests != 1 || got.Forwarded != 1 || got.BytesForwarded != int64(len(body)) || got.BytesAnswered != 2 {
		t.Errorf("stats = %+v, want 1 request forwarded with %d bytes, 2 answered", got, len(body))
	}
}

func TestFaultProxyFaults(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name      string
		faults    Faults
		wantCode  int  // 0: a transport error
		forwarded bool // the backend got the request
		stat      func(ProxyStats) int64
	}{
		{"server errors", Faults{ServerErrors: 1}, -1, false, func(s ProxyStats) int64 { return s.ServerErrors }},
		{"hangs", Faults{Hangs: 1}, 0, false, func(s ProxyStats) int64 { return s.Hangs }},
		{"lost answers", Faults{LostAnswers: 1}, 0, true, func(s ProxyStats) int64 { return s.LostAnswers }},
		{"cut bodies", Faults{CutBodies: 1}, 0, false, func(s ProxyStats) int64 { return s.CutBodies }},
		{"corrupt", Faults{Corrupt: 1}, http.StatusOK, true, func(s ProxyStats) int64 { return s.Corrupted }},
		{"latency", Faults{Latency: 50 * time.Millisecond}, http.StatusOK, true, func(s ProxyStats) int64 { return s.Forwarded }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			p := NewFaultProxy(t, b.URL, 1)
			p.Set(tt.faults)
			start := time.Now()
			code, err := put(t, p, body, 2*time.Second)
			switch {
			case tt.wantCode == 0 && err == nil:
				t.Errorf("put: answered %d, want a transport error", code)
			case tt.wantCode == -1 && code != http.StatusInternalServerError && code != http.StatusServiceUnavailable:
				t.Errorf("put: %d, %v; want 500 or 503", code, err)
			case tt.wantCode > 0 && code != tt.wantCode:
				t.Errorf("put: %d, %v; want %d", code, err, tt.wantCode)
			}
			if tt.faults.Hangs > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("put to a hanging proxy: %v, want the client's deadline", err)
			}
			if elapsed := time.Since(start); elapsed < tt.faults.Latency {
				t.Errorf("answered after %s, want at least the latency %s", elapsed, tt.faults.Latency)
			}
			bodies, _ := b.received()
			if got := len(bodies) > 0; got != tt.forwarded {
				t.Fatalf("backend got the request: %t, want %t", got, tt.forwarded)
			}
			if tt.faults.Corrupt > 0 {
				if diff := countDiff(bodies[0], body); diff != 1 || len(bodies[0]) != len(body) {
					t.Errorf("corrupted body differs in %d bytes (length %d), want 1 byte of %d", diff, len(bodies[0]), len(body))
				}
			}
			if got := tt.stat(p.Stats()); got != 1 {
				t.Errorf("the fault's counter = %d, want 1 (stats %+v)", got, p.Stats())
			}
		})
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestFaultProxySeed: the same seed gives the same faults in the same
// order; another seed other ones.
func TestFaultProxySeed(t *testing.T) {
	b := newBackend(t)
	outcomes := func(seed uint64) string {
		p := NewFaultProxy(t, b.URL, seed)
		p.Set(Faults{ServerErrors: 0.3, LostAnswers: 0.2, CutBodies: 0.2})
		var s strings.Builder
		for range 40 {
			code, err := put(t, p, []byte("some body"), 10*time.Second)
			if err != nil {
				code = 0
			}
			fmt.Fprintf(&s, "%d ", code)
		}
		return s.String()
	}
	a, again, other := outcomes(7), outcomes(7), outcomes(8)
	if a != again {
		t.Errorf("seed 7 gave\n%s\nthen\n%s", a, again)
	}
	if a == other {
		t.Errorf("seeds 7 and 8 gave the same faults: %s", a)
	}
	for _, want := range []string{"200", "500", "503", "0 "} {
		if !strings.Contains(a, want) {
			t.Errorf("outcomes %s lack %q", a, want)
		}
	}
}

func TestFaultProxyOutage(t *testing.T) {
	b := newBackend(t)
	p := NewFaultProxy(t, b.URL, 1)
	p.Outage(time.Hour)
	if code, err := put(t, p, []byte("x"), 10*time.Second); err == nil {
		t.Fatalf("put during an outage: %d, want a transport error", code)
	}
	p.Outage(0) // over
	if code, err := put(t, p, []byte("x"), 10*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("put after the outage: %d, %v", code, err)
	}
	if got := p.Stats(); got.Refused != 1 || got.Forwarded != 1 {
		t.Errorf("stats = %+v, want 1 refused, 1 forwarded", got)
	}
}

// TestFaultProxyMinIO: an S3 client through the proxy works against MinIO
// (signatures verify), and a cut body is retried by the SDK.
func TestFaultProxyMinIO(t *testing.T) {
	srv := Start(t)
	bucket := srv.NewBucket(t, false)
	p := NewFaultProxy(t, srv.Endpoint, 5)
	cfg := srv.Config()
	cfg.EndpointURL = p.URL
	c, err := srv.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := c.SDK()
	data := make([]byte, 256<<10)
	rand.Read(data)
	p.Set(Faults{CutBodies: 0.3})
	ctx := context.Background()
	for i := range 4 {
		key := fmt.Sprintf("k%d", i)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s through the proxy: %v", key, err)
		}
	}
	p.Set(Faults{})
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k3")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object read back through the proxy: %d bytes, %v; want the %d put", len(got), err, len(data))
	}
	st := p.Stats()
	if st.CutBodies == 0 || st.BytesForwarded < 4*int64(len(data)) || st.BytesAnswered < int64(len(data)) {
		t.Errorf("stats = %+v, want cut bodies, at least %d bytes forwarded and %d answered", st, 4*len(data), len(data))
	}
}
