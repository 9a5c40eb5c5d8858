package uploader

import (
	"errors"
	"io"
	"testing"
)

func TestBufferPool(t *testing.T) {
	p := newBufferPool(16 << 20)
	tests := []struct {
		n       int
		wantCap int
	}{
		{0, 64 << 10},
		{1, 64 << 10},
		{64 << 10, 64 << 10},
		{64<<10 + 1, 1 << 20},
		{1<<20 + 1, 16 << 20},
		{16 << 20, 16 << 20},
		{16<<20 + 1, 16<<20 + 1}, // beyond the classes: exact, not kept
	}
	for _, tt := range tests {
		b := p.get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.wantCap {
			t.Errorf("get(%d): len %d, cap %d; want len %d, cap %d", tt.n, len(*b), cap(*b), tt.n, tt.wantCap)
		}
		p.put(b)
	}
}

func TestBufferPoolSmallLargest(t *testing.T) {
	// A pool whose largest class is below the fixed ones has just that.
	p := newBufferPool(1000)
	if b := p.get(10); cap(*b) != 1000 {
		t.Errorf("get(10): cap %d, want 1000", cap(*b))
	}
}

func TestBodyReaderRevoke(t *testing.T) {
	b := newBodyReader([]byte("hello"))
	if got, want := b.Len(), 5; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	buf := make([]byte, 2)
	if n, err := b.Read(buf); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v; want 2, nil", n, err)
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b.revoke()
	if n, err := b.Read(buf); n != 0 || !errors.Is(err, errRevoked) {
		t.Errorf("Read after revoke = %d, %v; want 0, errRevoked", n, err)
	}
	if _, err := b.Seek(0, io.SeekStart); !errors.Is(err, errRevoked) {
		t.Errorf("Seek after revoke: err = %v, want errRevoked", err)
	}
	if got := b.Len(); got != 0 {
		t.Errorf("Len() after revoke = %d, want 0", got)
	}
}
