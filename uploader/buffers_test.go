package uploader

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestBufferPool(t *testing.T) {
	p := newBufferPool(16<<20, 64<<20)
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
	}
	for _, tt := range tests {
		b, err := p.get(context.Background(), tt.n)
		if err != nil {
			t.Fatalf("get(%d): %v", tt.n, err)
		}
		if len(*b) != tt.n || cap(*b) != tt.wantCap {
			t.Errorf("get(%d): len %d, cap %d; want len %d, cap %d", tt.n, len(*b), cap(*b), tt.n, tt.wantCap)
		}
		p.put(b)
	}
}

func TestBufferPoolSmallLargest(t *testing.T) {
	// A pool whose largest class is below the fixed ones has just that.
	p := newBufferPool(1000, 1000)
	if b, err := p.get(context.Background(), 10); err != nil || cap(*b) != 1000 {
		t.Errorf("get(10): %v, want cap 1000", err)
	}
}

func TestBufferPoolBeyondLargest(t *testing.T) {
	p := newBufferPool(1<<20, 4<<20)
	if _, err := p.get(context.Background(), 1<<20+1); err == nil {
		t.Error("get beyond the largest class: no error")
	}
}

// TestBufferPoolBudget: a buffer that does not fit in what the budget has
// left waits for one to come back, and takes its class's capacity.
func TestBufferPoolBudget(t *testing.T) {
	p := newBufferPool(1<<20, 2<<20)
	ctx := context.Background()
	a, err := p.get(ctx, 700<<10) // 1 MiB class
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(ctx, 1) // 64 KiB class
	if err != nil {
		t.Fatal(err)
	}
	// 1 MiB + 64 KiB are out: another 1 MiB does not fit, so it waits, and a
	// wait whose context is done gives up.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.get(done, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("get beyond the budget with a done context: err = %v, want context.Canceled", err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := p.get(ctx, 1<<20)
		if err == nil {
			p.put(c)
		}
		got <- err
	}()
	p.put(a) // now it fits
	p.put(b)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if got, want := p.peak.Load(), int64(1<<20+64<<10); got != want {
		t.Errorf("peak = %d bytes, want %d (the two buffers first held)", got, want)
	}
	if got := p.out.Load(); got != 0 {
		t.Errorf("out = %d bytes after every put, want 0", got)
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
