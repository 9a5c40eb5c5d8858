package uploader

import (
	"context"
	"fmt"
	"io"
)

// ReadBackResult is what ReadBack read of one object version.
type ReadBackResult struct {
	Size    int64
	Hash    uint64   // xxhash64 of the content
	Checked []string // what the content was verified against, as DownloadResult.Checked
}

// ReadBack reads a version of key whole and verifies it as Download does
// (a full-object S3 checksum through the SDK, s3ferry's xxhash64
// metadata or else a plain-MD5 ETag, the length) and, when hasWant,
// against want, the xxhash64 the index recorded: a mismatch is ErrCorrupt.
// The content is streamed through the hashes and dropped: nothing is kept
// in memory beyond a copy buffer, nothing is written to disk. It is the
// read of a restore drill (verify --read): proof that the bytes the index
// recorded can be read back. ErrNotFound: the version is gone.
func ReadBack(ctx context.Context, b Bucket, key, versionID string, want uint64, hasWant bool) (ReadBackResult, error) {
	body, obj, err := b.Get(ctx, key, versionID, 0, -1)
	if err != nil {
		return ReadBackResult{}, fmt.Errorf("read back %s: %w", key, err)
	}
	defer body.Close()
	res, err := receive(io.Discard, body, obj, DownloadJob{Key: key, VersionID: versionID, WantHash: want, HasWantHash: hasWant})
	if err != nil {
		return ReadBackResult{Size: res.Size}, fmt.Errorf("read back %s: %w", key, err)
	}
	if hasWant {
		res.Checked = append(res.Checked, "index")
	}
	return ReadBackResult{Size: res.Size, Hash: res.Hash, Checked: res.Checked}, nil
}
