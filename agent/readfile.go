package agent

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/uploader"
)

// readBufferSize is the read size of a hash pass over a local file.
const readBufferSize = 1 << 20

// hashFile reads the file at abs once, through xxhash64 and also, when it
// is not nil, through extra (an ETag matcher), and returns the hash and the
// file's stat. A file that changes while it is read gives an error wrapping
// uploader.ErrChanged: its hash describes no version of it.
func hashFile(ctx context.Context, abs string, extra io.Writer) (uint64, fileStat, error) {
	f, err := os.Open(abs)
	if err != nil {
		return 0, fileStat{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fileStat{}, err
	}
	before := statOf(info)
	h := xxhash.New()
	var w io.Writer = h
	if extra != nil {
		w = io.MultiWriter(h, extra)
	}
	buf := make([]byte, min(readBufferSize, before.size+1)) // small files get small buffers
	for {
		if err := ctx.Err(); err != nil {
			return 0, fileStat{}, err
		}
		n, err := f.Read(buf)
		w.Write(buf[:n]) // hashes and matchers never fail
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fileStat{}, fmt.Errorf("read %s: %w", abs, err)
		}
	}
	info, err = f.Stat()
	if err != nil {
		return 0, fileStat{}, err
	}
	if after := statOf(info); after != before {
		return 0, fileStat{}, fmt.Errorf("%s: %w", abs, uploader.ErrChanged)
	}
	return h.Sum64(), before, nil
}
