package uploader

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// guardedSection is the body of one part of a file: its bytes at offset
// off, read straight from the file. Each time a pass over it ends (the
// SDK reads a body once for its checksums and once to send it) it stats
// the file: a file truncated or rewritten since it was opened ends the
// pass with an error wrapping ErrChanged, which is not retried (see
// notRetryable). Otherwise a truncated file would be sent as a short body
// and a rewritten one fail S3's checksum, both retried until the budget
// is spent and then reported as network or checksum-mismatch.
type guardedSection struct {
	*io.SectionReader
	f      *os.File
	path   string
	before fileState
	read   int64 // bytes read in this pass
}

func newGuardedSection(f *os.File, path string, before fileState, off, n int64) *guardedSection {
	return &guardedSection{SectionReader: io.NewSectionReader(f, off, n), f: f, path: path, before: before}
}

func (g *guardedSection) Read(p []byte) (int, error) {
	n, err := g.SectionReader.Read(p)
	g.read += int64(n)
	if !errors.Is(err, io.EOF) {
		return n, err
	}
	if cerr := checkUnchanged(g.f, g.path, g.before); cerr != nil {
		return n, cerr
	}
	if g.read < g.Size() {
		return n, fmt.Errorf("%s: %w (shorter than %d bytes)", g.path, ErrChanged, g.before.size)
	}
	return n, err
}

func (g *guardedSection) Seek(offset int64, whence int) (int64, error) {
	pos, err := g.SectionReader.Seek(offset, whence)
	if err == nil {
		g.read = pos
	}
	return pos, err
}
