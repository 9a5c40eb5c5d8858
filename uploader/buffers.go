package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// bufferPool hands out byte slices in a few size classes, so that a 1 KiB
// file does not hold a PartSize buffer, and bounds the bytes handed out at
// once by a budget (Config.Memory): the capacity of every slice is taken
// from it, and a get that does not fit waits until enough comes back
// (first come, first served, so a large buffer is not starved by small
// ones). In-flight upload memory is so bounded by the budget, whatever the
// number of workers. Each Uploader owns one; buffers that sit unused are
// freed by the garbage collector (sync.Pool).
type bufferPool struct {
	sizes  []int       // ascending capacities of the classes
	pools  []sync.Pool // pools[i] holds *[]byte of capacity sizes[i]
	budget *semaphore.Weighted
	total  int64 // the budget's size

	// out and peak count the capacity handed out and not yet put back,
	// now and at most, apart from the budget: tests check the bound with
	// them.
	out, peak atomic.Int64
}

// newBufferPool returns a pool whose largest class holds largest bytes and
// that hands out at most budget bytes at once; budget is at least largest.
func newBufferPool(largest int, budget int64) *bufferPool {
	var sizes []int
	for _, s := range []int{64 << 10, 1 << 20} {
		if s < largest {
			sizes = append(sizes, s)
		}
	}
	sizes = append(sizes, largest)
	return &bufferPool{sizes: sizes, pools: make([]sync.Pool, len(sizes)), budget: semaphore.NewWeighted(budget), total: budget}
}

// get returns a slice of length n at most the largest class, once its
// class's capacity fits in the budget; pass it to put when done. The error
// is ctx's, when it is done first.
func (p *bufferPool) get(ctx context.Context, n int) (*[]byte, error) {
	i := 0
	for i < len(p.sizes)-1 && n > p.sizes[i] {
		i++
	}
	c := p.sizes[i]
	if n > c || int64(c) > p.total {
		return nil, fmt.Errorf("buffer of %d bytes: more than the largest (%d) or the memory budget (%d)", n, c, p.total)
	}
	if err := p.budget.Acquire(ctx, int64(c)); err != nil {
		return nil, fmt.Errorf("wait for %d bytes of the upload memory budget: %w", c, err)
	}
	now := p.out.Add(int64(c))
	for peak := p.peak.Load(); now > peak && !p.peak.CompareAndSwap(peak, now); peak = p.peak.Load() {
	}
	if b, ok := p.pools[i].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b, nil
	}
	b := make([]byte, n, c)
	return &b, nil
}

// put returns b, from get, to its class and its capacity to the budget.
func (p *bufferPool) put(b *[]byte) {
	c := cap(*b)
	for i, s := range p.sizes {
		if c == s {
			p.pools[i].Put(b)
			break
		}
	}
	p.out.Add(-int64(c))
	p.budget.Release(int64(c))
}

// errRevoked is what the SDK or net/http would read from a body after its
// upload returned; nothing should, see bodyReader.
var errRevoked = errors.New("request body read after its upload returned")

// bodyReader is a request body over a pooled buffer. net/http may still
// read a request body after the round trip returned (a server that answers
// before reading it all); revoke waits for any read in progress and makes
// later ones fail, so the buffer can go back to the pool.
type bodyReader struct {
	mu      sync.Mutex
	r       *bytes.Reader
	revoked bool
}

func newBodyReader(b []byte) *bodyReader {
	return &bodyReader{r: bytes.NewReader(b)}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revoked {
		return 0, errRevoked
	}
	return b.r.Read(p)
}

func (b *bodyReader) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revoked {
		return 0, errRevoked
	}
	return b.r.Seek(offset, whence)
}

// Len is the number of unread bytes; the SDK uses it as the body's length.
func (b *bodyReader) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revoked {
		return 0
	}
	return b.r.Len()
}

func (b *bodyReader) revoke() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revoked = true
}

var _ io.ReadSeeker = (*bodyReader)(nil)
