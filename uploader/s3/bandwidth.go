package s3

import (
	"context"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/time/rate"
)

// Bounds of the limiter's burst: the most bytes one Read may pass at once.
const (
	minBurst = 32 << 10 // fewer, larger reads for any sane limit
	maxBurst = 1 << 20  // so a high limit still smooths within ~1 s
)

// waiter is the part of *rate.Limiter a limitedReader uses; tests count
// with a fake.
type waiter interface {
	WaitN(ctx context.Context, n int) error
}

// newLimiter returns the limiter shared by every request of a client for
// bytesPerSecond > 0.
func newLimiter(bytesPerSecond float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(bytesPerSecond), burstFor(bytesPerSecond))
}

// burstFor sizes the limiter's bucket: an eighth of a second of traffic,
// at least minBurst (or the whole limit, when that is smaller), at most
// maxBurst.
func burstFor(bytesPerSecond float64) int {
	b := int(bytesPerSecond / 8)
	lo := min(minBurst, max(int(bytesPerSecond), 1))
	return min(max(b, lo), maxBurst)
}

// limitedClient is an aws.HTTPClient whose request bodies are read no
// faster than the shared limiter allows. It wraps the SDK's own client after
// config loading, so the CA bundle and transport settings still apply.
type limitedClient struct {
	next  aws.HTTPClient
	lim   waiter
	burst int
}

func (c *limitedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		// A zero-length request stays as it is: wrapping it would turn a
		// known empty body into one of unknown length.
		return c.next.Do(req)
	}
	r := req.Clone(req.Context())
	r.Body = c.wrap(req.Context(), req.Body)
	if req.GetBody != nil {
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			return c.wrap(req.Context(), b), nil
		}
	}
	return c.next.Do(r)
}

func (c *limitedClient) wrap(ctx context.Context, body io.ReadCloser) io.ReadCloser {
	return &limitedReader{ctx: ctx, body: body, lim: c.lim, burst: c.burst}
}

// limitedReader passes at most burst bytes per Read and waits on the
// limiter for every byte it passed.
type limitedReader struct {
	ctx   context.Context
	body  io.ReadCloser
	lim   waiter
	burst int
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if len(p) > r.burst {
		p = p[:r.burst]
	}
	n, err := r.body.Read(p)
	if n > 0 {
		if werr := r.lim.WaitN(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (r *limitedReader) Close() error { return r.body.Close() }
