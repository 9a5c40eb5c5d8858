package agent

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/s3ferry/s3ferry/uploader"
)

// Transfers follows the files a run moves, for a progress display: how
// many files and bytes it found to move, how many of them are done, the
// bytes that crossed the network, and each file in flight. The pipeline
// (Options.Transfers) and restore fill it; Progress reads it at any time,
// from any goroutine.
//
//	event                       files, bytes total   files, bytes done   in flight
//	Found (queued, listed)      + 1, + size          -                   -
//	Start (upload, download)    -                    -                   + the file
//	Transfer.Moved (the wire)   -                    -                   its bytes grow
//	Transfer.Kept (resumed)     -                    -                   its bytes grow
//	Transfer.End (any end)      -                    + 1, + size         - the file
//	Done (never started)        -                    + 1, + size         -
type Transfers struct {
	moved atomic.Int64 // every Transfer's Moved
	kept  atomic.Int64 // every Transfer's Kept

	mu                sync.Mutex
	files, filesTotal int64
	bytes, bytesTotal int64
	counted           bool
	flying            map[*Transfer]struct{}
}

// NewTransfers returns Transfers still counting: Counted says when the
// totals are final.
func NewTransfers() *Transfers { return &Transfers{flying: map[*Transfer]struct{}{}} }

// Found adds a file of size bytes to move to the totals.
func (t *Transfers) Found(size int64) {
	t.mu.Lock()
	t.filesTotal++
	t.bytesTotal += size
	t.mu.Unlock()
}

// Counted says that every file to move was Found: the totals are final.
func (t *Transfers) Counted() {
	t.mu.Lock()
	t.counted = true
	t.mu.Unlock()
}

// Done counts a file of size bytes that Found counted, and that never
// Started, as done: nothing is left to do of it (it was left alone, or
// the run stopped before it began).
func (t *Transfers) Done(size int64) {
	t.mu.Lock()
	t.files++
	t.bytes += size
	t.mu.Unlock()
}

// Start says that the file name (for a person, escaped by the display) of
// size bytes begins to move; the Transfer's End says it stopped.
func (t *Transfers) Start(name string, size int64) *Transfer {
	tr := &Transfer{all: t, Name: name, Size: size}
	t.mu.Lock()
	t.flying[tr] = struct{}{}
	t.mu.Unlock()
	return tr
}

// Transfer is one file moving: an uploader.Meter for the requests that
// move it.
type Transfer struct {
	all   *Transfers
	Name  string
	Size  int64
	moved atomic.Int64
	kept  atomic.Int64
}

var _ uploader.Meter = (*Transfer)(nil)

// Moved counts n bytes of the file's requests that crossed the network.
func (tr *Transfer) Moved(n int64) {
	tr.moved.Add(n)
	tr.all.moved.Add(n)
}

// Kept counts n bytes of the file an earlier run sent, verified and not
// sent again: done, but not moved by this run.
func (tr *Transfer) Kept(n int64) {
	tr.kept.Add(n)
	tr.all.kept.Add(n)
}

// End says the file stopped moving, whatever its end, and counts it as
// Done.
func (tr *Transfer) End() {
	t := tr.all
	t.mu.Lock()
	delete(t.flying, tr)
	t.files++
	t.bytes += tr.Size
	t.mu.Unlock()
}

// done is how much of the file is there: kept and moved, at most its size
// (a retried request moves its bytes again).
func (tr *Transfer) done() int64 { return min(tr.Size, tr.kept.Load()+tr.moved.Load()) }

// Progress is a run's progress as Transfers.Progress reads it.
type Progress struct {
	Files, FilesTotal int64 // files done (whatever their end), and found
	// Bytes is the size of the files done plus what of the files in
	// flight is there; BytesTotal the size of every file found.
	Bytes, BytesTotal int64
	// Counting says more files may be found: the totals still grow.
	Counting bool
	// Moved is the bytes this run moved over the network, for a rate;
	// Kept the bytes of resumed uploads an earlier run had sent.
	Moved, Kept int64
	// Flying is every file in flight, the largest first.
	Flying []Flying
}

// Flying is one file in flight: Done of Size bytes are there.
type Flying struct {
	Name       string
	Done, Size int64
}

// Progress reads the totals as they are now.
func (t *Transfers) Progress() Progress {
	t.mu.Lock()
	p := Progress{
		Files: t.files, FilesTotal: t.filesTotal, Bytes: t.bytes, BytesTotal: t.bytesTotal,
		Counting: !t.counted,
	}
	for tr := range t.flying {
		d := tr.done()
		p.Bytes += d
		p.Flying = append(p.Flying, Flying{Name: tr.Name, Done: d, Size: tr.Size})
	}
	t.mu.Unlock()
	p.Moved, p.Kept = t.moved.Load(), t.kept.Load()
	p.Bytes = min(p.Bytes, p.BytesTotal)
	slices.SortFunc(p.Flying, func(a, b Flying) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Name, b.Name))
	})
	return p
}
