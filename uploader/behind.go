package uploader

import (
	"context"
	"io"
	"sync"
)

// writebackChunk is how much a ranged fetch reads back before it asks the
// kernel to start writing those bytes to storage (startWriteback): the
// sync that makes the file durable then finds little left to write.
const writebackChunk = 8 << 20

// behind reads a ranged fetch's file back while the parts are still
// arriving: the parts are written at their offsets in any order, and
// behind hashes the front, the bytes from 0 up to the first byte not yet
// written, as it grows, reading them from the file (the page cache) as a
// verifying pass after the download would. Bytes written once never
// change, so when every byte was written once the hash is the file's; a
// write over bytes already written (a part fetched again after its
// answer was cut) marks the pass rewritten, and the caller reads the
// whole file back instead.
//
// WriteAt is called from the fetch's goroutines; run, in its own
// goroutine, is the only reader of f and the only writer of the hashes.
type behind struct {
	f    FetchFile
	wake chan struct{} // the front grew by wakeStep (capacity 1)

	mu        sync.Mutex
	runs      []span // bytes written, sorted, disjoint, not touching
	rewritten bool   // a write landed on bytes already written
	woken     int64  // the front when wake was last sent
}

// wakeStep is how far the front grows before run is woken to read it: a
// read and a wake-up per part's write (32 KiB) would cost more than the
// reading saves.
const wakeStep = 1 << 20

// span is the bytes [start, end).
type span struct{ start, end int64 }

func newBehind(f FetchFile) *behind {
	return &behind{f: f, wake: make(chan struct{}, 1)}
}

// WriteAt writes p at off of the file and records the bytes written.
func (b *behind) WriteAt(p []byte, off int64) (int, error) {
	n, err := b.f.WriteAt(p, off)
	if n == 0 {
		return n, err
	}
	b.mu.Lock()
	b.add(span{off, off + int64(n)})
	wake := len(b.runs) > 0 && b.runs[0].start == 0 && b.runs[0].end >= b.woken+wakeStep
	if wake {
		b.woken = b.runs[0].end
	}
	b.mu.Unlock()
	if wake {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return n, err
}

// add records s in b.runs, merging what touches it; b.mu is held.
func (b *behind) add(s span) {
	i := 0
	for i < len(b.runs) && b.runs[i].end < s.start {
		i++
	}
	j := i
	for j < len(b.runs) && b.runs[j].start <= s.end {
		if b.runs[j].start < s.end && s.start < b.runs[j].end {
			b.rewritten = true
		}
		s.start, s.end = min(s.start, b.runs[j].start), max(s.end, b.runs[j].end)
		j++
	}
	b.runs = append(b.runs[:i], append([]span{s}, b.runs[j:]...)...)
}

// front is the bytes from 0 on written so far, and whether they are all
// that was written, once.
func (b *behind) front() (n int64, whole bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.runs) == 0 {
		return 0, !b.rewritten
	}
	if b.runs[0].start != 0 {
		return 0, false
	}
	return b.runs[0].end, len(b.runs) == 1 && !b.rewritten
}

// run writes the front into w as it grows, in reads of buf, until done is
// closed (no more writes) and the front is read; it returns the bytes
// read. Every writebackChunk bytes read it starts their writeback.
func (b *behind) run(ctx context.Context, w io.Writer, buf []byte, done <-chan struct{}) (int64, error) {
	var read, flushed int64
	for {
		front, _ := b.front()
		if front == read {
			select {
			case <-b.wake:
				continue
			case <-done:
				if front, _ = b.front(); front == read {
					startWriteback(b.f, flushed, read-flushed)
					return read, nil
				}
			case <-ctx.Done():
				return read, ctx.Err()
			}
		}
		n, err := b.f.ReadAt(buf[:min(front-read, int64(len(buf)))], read)
		if err != nil {
			return read, err
		}
		w.Write(buf[:n]) // hashes: never fail
		read += int64(n)
		if read-flushed >= writebackChunk {
			startWriteback(b.f, flushed, read-flushed)
			flushed = read
		}
	}
}
