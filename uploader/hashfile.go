package uploader

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cespare/xxhash/v2"
)

// fileState is what a reader of a file compares before and after reading
// it: a writer that appended, truncated or rewrote the file meanwhile
// changed its size or mtime. (The inode of an open file cannot change.)
type fileState struct {
	size    int64
	mtimeNs int64
}

func stateOf(fi fs.FileInfo) fileState {
	return fileState{size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
}

// checkUnchanged stats the open file f again and returns an error wrapping
// ErrChanged when it is no longer the file that was before: what was read
// from it then describes no version of it.
func checkUnchanged(f *os.File, path string, before fileState) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if after := stateOf(fi); after != before {
		return fmt.Errorf("%s: %w (size %d, mtime %s at open; size %d, mtime %s after)",
			path, ErrChanged, before.size, formatNs(before.mtimeNs), after.size, formatNs(after.mtimeNs))
	}
	return nil
}

// hashSection returns the xxhash64 of the first size bytes of f, read into
// buf, and writes them to extra as well when it is not nil. A file shorter
// than size gives an error wrapping ErrChanged.
func hashSection(ctx context.Context, f *os.File, path string, size int64, buf []byte, extra io.Writer) (uint64, error) {
	d := xxhash.New()
	var w io.Writer = d
	if extra != nil {
		w = io.MultiWriter(d, extra)
	}
	r := io.NewSectionReader(f, 0, size)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m, err := r.Read(buf)
		w.Write(buf[:m]) // an xxhash.Digest never fails; extra must not either
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if n != size {
		return 0, fmt.Errorf("%s: %w (shorter than %d bytes)", path, ErrChanged, size)
	}
	return d.Sum64(), nil
}

// HashFile reads the open file f once, from its start, through xxhash64
// and, when it is not nil, through extra (which must not fail: an ETag
// matcher), and returns the hash and what fstat said of f before the
// read. A file that changes while it is read gives an error wrapping
// ErrChanged: its hash describes no version of it. The caller opens f (the
// agent beneath its source root) and closes it.
func HashFile(ctx context.Context, f *os.File, extra io.Writer) (uint64, fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		return 0, nil, fmt.Errorf("%s: %w (%s)", f.Name(), ErrNotRegular, fi.Mode().Type())
	}
	before := stateOf(fi)
	buf := make([]byte, min(hashBufferSize, before.size+1)) // small files get small buffers
	hash, err := hashSection(ctx, f, f.Name(), before.size, buf, extra)
	if err != nil {
		return 0, nil, err
	}
	if err := checkUnchanged(f, f.Name(), before); err != nil {
		return 0, nil, err
	}
	return hash, fi, nil
}
