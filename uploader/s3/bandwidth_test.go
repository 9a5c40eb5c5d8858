package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWaiter records the waits a limitedReader asks for.
type countingWaiter struct {
	mu    sync.Mutex
	total int   // bytes waited for
	sizes []int // one entry per WaitN
	err   error // returned by every WaitN
}

func (w *countingWaiter) WaitN(_ context.Context, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total += n
	w.sizes = append(w.sizes, n)
	return w.err
}

func TestLimitedReaderWaitsForEveryByte(t *testing.T) {
	const burst = 1000
	data := bytes.Repeat([]byte("x"), 10*burst+17)
	w := &countingWaiter{}
	r := &limitedReader{ctx: context.Background(), body: io.NopCloser(bytes.NewReader(data)), lim: w, burst: burst}

	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("read %d bytes, want the %d written", len(got), len(data))
	}
	if w.total != len(data) {
		t.Errorf("waited for %d bytes, want %d", w.total, len(data))
	}
	for _, n := range w.sizes {
		if n < 1 || n > burst {
			t.Errorf("WaitN(%d): want 1 to %d (the burst)", n, burst)
		}
	}
}

func TestLimitedReaderStopsOnWaitError(t *testing.T) {
	w := &countingWaiter{err: context.Canceled}
	r := &limitedReader{ctx: context.Background(), body: io.NopCloser(strings.NewReader("data")), lim: w, burst: 2}
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAll: err = %v, want the limiter's context.Canceled", err)
	}
}

// drainingClient reads every request body, as a transport does.
type drainingClient struct {
	got []byte
}

func (c *drainingClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		c.got = b
		req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestLimitedClient(t *testing.T) {
	data := bytes.Repeat([]byte("y"), 5000)
	tests := []struct {
		name     string
		body     []byte
		wantWait int
	}{
		{"body", data, len(data)},
		{"empty body", []byte{}, 0},
		{"no body", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &countingWaiter{}
			next := &drainingClient{}
			c := &limitedClient{next: next, lim: w, burst: 512}
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			req, err := http.NewRequest(http.MethodPut, "http://example.invalid/k", body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Do(req); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(next.got, tt.body) {
				t.Errorf("sent %d bytes, want %d", len(next.got), len(tt.body))
			}
			if w.total != tt.wantWait {
				t.Errorf("waited for %d bytes, want %d", w.total, tt.wantWait)
			}
		})
	}
}

// TestLimitedClientGetBody checks that a body net/http re-reads (a retry on
// a reused connection, a redirect) is limited too.
func TestLimitedClientGetBody(t *testing.T) {
	data := []byte("0123456789")
	w := &countingWaiter{}
	var sent *http.Request
	c := &limitedClient{next: doFunc(func(req *http.Request) (*http.Response, error) {
		sent = req
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}), lim: w, burst: 4}
	req, err := http.NewRequest(http.MethodPut, "http://example.invalid/k", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	again, err := sent.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(again); err != nil {
		t.Fatal(err)
	}
	if w.total != len(data) {
		t.Errorf("waited for %d bytes of the re-read body, want %d", w.total, len(data))
	}
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

func TestBurstFor(t *testing.T) {
	tests := []struct {
		limit float64
		want  int
	}{
		{0.5, 1},             // at least one byte
		{1000, 1000},         // below minBurst: the whole limit
		{64 << 10, minBurst}, // an eighth would be below minBurst
		{1 << 20, 128 << 10}, // an eighth of a second
		{16 << 20, maxBurst}, // an eighth would be above maxBurst
	}
	for _, tt := range tests {
		if got := burstFor(tt.limit); got != tt.want {
			t.Errorf("burstFor(%g) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// BenchmarkLimitedReader reads through a real limiter of 8 MiB/s and
// reports the rate it achieved, which should be close to the limit.
func BenchmarkLimitedReader(b *testing.B) {
	const limit = 8 << 20
	lim := newLimiter(limit)
	data := make([]byte, 1<<20)
	start := time.Now()
	for b.Loop() {
		r := &limitedReader{ctx: context.Background(), body: io.NopCloser(bytes.NewReader(data)), lim: lim, burst: lim.Burst()}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(len(data))/time.Since(start).Seconds()/(1<<20), "MiB/s")
	b.ReportMetric(limit/(1<<20), "limit-MiB/s")
}
