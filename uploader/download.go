package uploader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// ErrCorrupt means downloaded bytes do not match what the object says they
// are (its s3ferry xxhash, its MD5 ETag or its length). Nothing is written.
var ErrCorrupt = errors.New("downloaded content does not match the object's checksum")

// DownloadJob is one object version to write to a local file.
type DownloadJob struct {
	Key       string
	VersionID string // empty: the current version
	Path      string // the local file to write
	// Overwrite replaces an existing file at Path; without it Download
	// fails with an error matching fs.ErrExist and changes nothing.
	Overwrite bool
	// WantHash, when HasWantHash, is the xxhash64 the content must have
	// (the index's): a mismatch is ErrCorrupt.
	WantHash    uint64
	HasWantHash bool
}

// DownloadResult is what Download wrote.
type DownloadResult struct {
	Size    int64
	Hash    uint64    // xxhash64 of the content
	Mtime   time.Time // set on the file: MetaMtime, else the object's Last-Modified
	Checked []string  // what the content was verified against: "xxhash64", "CRC32C", "MD5"...
}

// Download writes an object version to job.Path. The content is verified on
// the way: the SDK checks a full-object S3 checksum (ChecksumMode enabled),
// and Download checks s3ferry's xxhash64 metadata, or else a plain-MD5 ETag,
// and the length. It is written to a temporary file beside Path, synced,
// given the mtime the object recorded (MetaMtime) and only then renamed, so
// Path never holds a partial or unverified file.
func Download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	res, err := download(ctx, b, job)
	if err != nil {
		return DownloadResult{}, fmt.Errorf("download %s: %w", job.Key, err)
	}
	return res, nil
}

func download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	if !job.Overwrite {
		if _, err := os.Lstat(job.Path); err == nil {
			return DownloadResult{}, fmt.Errorf("%s: %w", job.Path, fs.ErrExist)
		}
	}
	body, obj, err := b.Get(ctx, job.Key, job.VersionID, 0, -1)
	if err != nil {
		return DownloadResult{}, err
	}
	defer body.Close()

	dir := filepath.Dir(job.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return DownloadResult{}, err
	}
	tmp := filepath.Join(dir, ".s3ferry-"+randomSuffix()+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return DownloadResult{}, err
	}
	defer os.Remove(tmp) // after a rename or link there is nothing left to remove
	defer f.Close()

	checks := contentChecks(obj)
	h := xxhash.New()
	w := io.MultiWriter(f, h)
	var etag *ETagMatcher
	if !checks.hash && checks.etag {
		etag = NewETagMatcher(obj.ETag, obj.Size)
		w = io.MultiWriter(w, etag)
	}
	n, err := io.Copy(w, body) // the SDK's reader fails here on a checksum mismatch
	if err != nil {
		return DownloadResult{}, err
	}
	res := DownloadResult{Size: n, Hash: h.Sum64(), Checked: checks.sdk}
	if n != obj.Size {
		return DownloadResult{}, fmt.Errorf("%w: %d bytes received, the object has %d", ErrCorrupt, n, obj.Size)
	}
	if checks.hash {
		if res.Hash != checks.wantHash {
			return DownloadResult{}, fmt.Errorf("%w: xxhash64 %016x, the object's metadata says %016x", ErrCorrupt, res.Hash, checks.wantHash)
		}
		res.Checked = append(res.Checked, "xxhash64")
	} else if etag != nil {
		switch etag.Verdict() {
		case ETagMismatch:
			return DownloadResult{}, fmt.Errorf("%w: MD5 differs from the ETag %s", ErrCorrupt, obj.ETag)
		case ETagMatch:
			res.Checked = append(res.Checked, "MD5")
		}
	}
	if job.HasWantHash && res.Hash != job.WantHash {
		return DownloadResult{}, fmt.Errorf("%w: xxhash64 %016x, the index says %016x", ErrCorrupt, res.Hash, job.WantHash)
	}
	if err := f.Sync(); err != nil {
		return DownloadResult{}, err
	}
	if err := f.Close(); err != nil {
		return DownloadResult{}, err
	}
	res.Mtime = obj.LastModified
	if t, err := time.Parse(time.RFC3339Nano, obj.Metadata[MetaMtime]); err == nil {
		res.Mtime = t
	}
	if !res.Mtime.IsZero() {
		if err := os.Chtimes(tmp, res.Mtime, res.Mtime); err != nil {
			return DownloadResult{}, err
		}
	}
	if err := place(tmp, job.Path, job.Overwrite); err != nil {
		return DownloadResult{}, err
	}
	return res, nil
}

// place moves the finished file tmp to path. Without overwrite it links
// instead of renaming, which fails if path exists, even if it appeared
// during the download; on a file system without hard links it checks
// first, which leaves a moment for a race.
func place(tmp, path string, overwrite bool) error {
	if overwrite {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	return os.Rename(tmp, path)
}

// downloadChecks says what a GetObject response lets Download verify.
type downloadChecks struct {
	sdk      []string // full-object checksums the SDK verified while reading
	hash     bool     // the object carries MetaHash
	wantHash uint64
	etag     bool // the ETag may be an MD5 of the content (no SSE-KMS, no SSE-C)
}

func contentChecks(obj Object) downloadChecks {
	var c downloadChecks
	if !obj.Composite {
		for _, algo := range []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"} {
			// A composite checksum ("...-3") is a checksum of part
			// checksums, which the SDK cannot verify.
			if v := obj.Checksums[algo]; v != "" && !strings.Contains(v, "-") {
				c.sdk = append(c.sdk, algo)
			}
		}
	}
	c.wantHash, c.hash = ParseMetaHash(obj.Metadata)
	c.etag = !obj.Encrypted
	return c
}

func randomSuffix() string {
	b := make([]byte, 8)
	rand.Read(b) // never returns an error
	return hex.EncodeToString(b)
}
