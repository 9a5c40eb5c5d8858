package uploader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// ErrCorrupt means downloaded bytes do not match what the object says they
// are (its s3ferry xxhash, its MD5 ETag or its length). Nothing is written.
var ErrCorrupt = errors.New("downloaded content does not match the object's checksum")

// DownloadJob is one object version to write to a local file.
type DownloadJob struct {
	Key       string
	VersionID string // empty: the current version
	// Root and Rel name the local file to write: Rel (slash-separated)
	// beneath Root. Nothing is written through a symbolic link: a link on
	// the way, or at Rel, is an error matching beneath.ErrSymlink.
	Root beneath.Root
	Rel  string
	// Overwrite replaces an existing file at Rel; without it Download
	// fails with an error matching fs.ErrExist and changes nothing.
	Overwrite bool
	// KeepSpecialBits gives the file the mode its object records as it
	// is; without it, what Sanitize removes is removed (the bucket's
	// metadata is not trusted).
	KeepSpecialBits bool
	// DefaultMode is the mode of a file whose object records none; 0:
	// 0666 less the umask, as cp makes it.
	DefaultMode fs.FileMode
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
	Perm    Perm      // the object's mode and owner metadata (what of it was applied: see Download)
	Created []string  // directories Download created on the way to Rel, parents first
	// Sanitized is set when the file's recorded mode lost setuid, setgid
	// or write for others (see Sanitize).
	Sanitized bool
	// BadMtime is the object's MetaMtime when it was ignored: outside what
	// a timespec holds in nanoseconds (before 1678, after 2262). Mtime is
	// then the object's Last-Modified.
	BadMtime string
}

// Download writes an object version to job.Rel beneath job.Root. The
// content is verified on the way: the SDK checks a full-object S3 checksum
// (ChecksumMode enabled), and Download checks s3ferry's xxhash64 metadata,
// or else a plain-MD5 ETag, and the length. It is written to a temporary
// file beside Rel created 0600 (no other user reads it while it is
// written), synced, given the owner the object recorded (MetaUID, MetaGID:
// only when run as root), then the mode (MetaMode less what Sanitize
// removes, unless KeepSpecialBits; without it DefaultMode) and the mtime
// (MetaMtime), and only then renamed in the same directory fd, so Rel
// never holds a partial, unverified or wider-open file. Missing
// directories are created 0700; giving them their mode is the caller's
// (once it has written every file into them).
func Download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	res, err := download(ctx, b, job)
	if err != nil {
		// res.Created stays: the caller gives those directories their mode.
		return DownloadResult{Created: res.Created}, fmt.Errorf("download %s: %w", job.Key, err)
	}
	return res, nil
}

func download(ctx context.Context, b Bucket, job DownloadJob) (DownloadResult, error) {
	name := path.Base(job.Rel)
	if !job.Overwrite {
		if _, err := job.Root.Stat(job.Rel); err == nil {
			return DownloadResult{}, fmt.Errorf("%s: %w", job.Root.Join(job.Rel), fs.ErrExist)
		} else if errors.Is(err, beneath.ErrSymlink) {
			return DownloadResult{}, err
		}
	}
	body, obj, err := b.Get(ctx, job.Key, job.VersionID, 0, -1)
	if err != nil {
		return DownloadResult{}, err
	}
	defer body.Close()

	dir, created, err := job.Root.MkdirAll(path.Dir(job.Rel))
	if err != nil {
		return DownloadResult{Created: created}, err
	}
	defer dir.Close()
	f, tmp, err := dir.CreateTemp(".s3ferry-", randomSuffix())
	if err != nil {
		return DownloadResult{Created: created}, err
	}
	defer dir.Remove(tmp) // after a rename or link there is nothing left to remove
	defer f.Close()
	res, err := receive(f, body, obj, job)
	res.Created = created
	if err != nil {
		return res, err
	}
	mode := job.DefaultMode
	if mode == 0 {
		mode = 0o666 &^ Umask()
	}
	if res.Perm.HasMode {
		mode = res.Perm.Mode
		if !job.KeepSpecialBits {
			mode, res.Sanitized = Sanitize(mode, false)
		}
	}
	if err := applyPerm(f, res.Perm, mode); err != nil {
		return res, err
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	res.Mtime = obj.LastModified
	if t, err := time.Parse(time.RFC3339Nano, obj.Metadata[MetaMtime]); err == nil {
		if inNanoRange(t) {
			res.Mtime = t
		} else {
			res.BadMtime = obj.Metadata[MetaMtime]
		}
	}
	if !res.Mtime.IsZero() {
		if err := dir.Chtimes(tmp, res.Mtime); err != nil {
			return res, err
		}
	}
	if err := place(dir, tmp, name, job.Overwrite); err != nil {
		return res, err
	}
	return res, nil
}

// receive writes body to f (a file, or io.Discard for ReadBack),
// verifying it as Download says.
func receive(f io.Writer, body io.Reader, obj Object, job DownloadJob) (DownloadResult, error) {
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
	res := DownloadResult{Size: n, Hash: h.Sum64(), Checked: checks.sdk, Perm: ParseMetaPerm(obj.Metadata)}
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
	return res, nil
}

// applyPerm gives the file f the owner p records when run as root
// (first: chown clears setuid and setgid), then mode.
func applyPerm(f *os.File, p Perm, mode fs.FileMode) error {
	if p.HasOwner && os.Geteuid() == 0 {
		if err := f.Chown(int(p.UID), int(p.GID)); err != nil {
			return err
		}
	}
	return f.Chmod(mode)
}

// inNanoRange says whether t is within what int64 nanoseconds since 1970
// hold (1677-09-21 to 2262-04-11), which is how a timespec is set here:
// outside it, UnixNano wraps (2263 becomes 1678).
func inNanoRange(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

// Umask is the process's file mode creation mask, read from
// /proc/self/status (setting and restoring it would race other threads'
// creates); 0022 where the kernel does not say.
func Umask() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o022
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(m) & fs.ModePerm
			}
		}
	}
	return 0o022
}

// place moves the finished file tmp to name, both in dir. Without
// overwrite it links instead of renaming, which fails if name exists, even
// if it appeared during the download; on a file system without hard links
// it checks first, which leaves a moment for a race.
func place(dir *beneath.Dir, tmp, name string, overwrite bool) error {
	if overwrite {
		return dir.Rename(tmp, name)
	}
	err := dir.Link(tmp, name)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := dir.Lstat(name); serr == nil {
		return fmt.Errorf("%s: %w", dir.Join(name), fs.ErrExist)
	}
	return dir.Rename(tmp, name)
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
