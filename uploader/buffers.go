package uploader

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// bufferPool hands out byte slices in a few size classes, so that a 1 KiB
// file does not hold a PartSize buffer. Each Uploader owns one; buffers
// that sit unused are freed by the garbage collector (sync.Pool).
type bufferPool struct {
	sizes []int       // ascending capacities of the classes
	pools []sync.Pool // pools[i] holds *[]byte of capacity sizes[i]
}

// newBufferPool returns a pool whose largest class holds largest bytes.
func newBufferPool(largest int) *bufferPool {
	var sizes []int
	for _, s := range []int{64 << 10, 1 << 20} {
		if s < largest {
			sizes = append(sizes, s)
		}
	}
	sizes = append(sizes, largest)
	return &bufferPool{sizes: sizes, pools: make([]sync.Pool, len(sizes))}
}

// get returns a slice of length n; pass it to put when done. A slice larger
// than the largest class is allocated and not kept.
func (p *bufferPool) get(n int) *[]byte {
	for i, s := range p.sizes {
		if n <= s {
			if b, ok := p.pools[i].Get().(*[]byte); ok {
				*b = (*b)[:n]
				return b
			}
			b := make([]byte, n, s)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

// put returns b to its class.
func (p *bufferPool) put(b *[]byte) {
	for i, s := range p.sizes {
		if cap(*b) == s {
			p.pools[i].Put(b)
			return
		}
	}
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
