package uploader

import (
	"io/fs"
	"os"
	"sync/atomic"
	"time"
)

// This file is the contract the agent codes against; the implementation
// lives in client.go and uploader.go.

// Config is everything the S3 side needs, as plain values.
type Config struct {
	Region      string // empty: from the SDK chain (AWS_REGION, profile); still empty: us-east-1
	EndpointURL string // empty: AWS_ENDPOINT_URL or AWS's own endpoints
	PathStyle   bool   // path-style addressing (MinIO, Ceph)
	Profile     string // shared config profile; empty: the SDK default
	MaxAttempts int    // per request, SDK retryer with jittered back-off; 0: DefaultMaxAttempts

	// ConnectTimeout bounds a TCP connect and, separately, a TLS handshake;
	// 0: DefaultConnectTimeout. StallTimeout bounds the time without a byte
	// moving on a request in flight: its body being sent, its answer's
	// headers awaited, its answer's body being read. An attempt that
	// stalls is cancelled and retried; 0: DefaultStallTimeout.
	ConnectTimeout time.Duration
	StallTimeout   time.Duration

	StorageClass string // empty: the bucket's default
	SSE          string // "", "AES256" or "aws:kms"
	SSEKMSKeyID  string // with SSE "aws:kms"

	PartSize        int64   // files of at least this size go multipart; 0: DefaultPartSize
	PartConcurrency int     // parts in flight per multipart file; 0: DefaultPartConcurrency
	BandwidthLimit  float64 // bytes per second over all uploads; 0: unlimited
	Checksum        string  // "CRC32C" (default), "CRC32", "SHA1", "SHA256", "CRC64NVME"

	// Memory bounds the bytes all uploads of an Uploader hold in buffers
	// at once (a small file is read whole into one, a large one hashed
	// through one; parts are sent straight from the file): an upload whose
	// buffer does not fit waits. At least PartSize; 0: DefaultMemory, or
	// PartSize when that is larger.
	Memory int64

	// Throttled, when set, counts every request S3 throttled (503
	// SlowDown and the like), also those the retries then got through:
	// the adaptive upload pool backs off on it.
	Throttled *atomic.Int64
}

// Job is one file to send.
type Job struct {
	Bucket string
	Key    string
	Path   string // absolute local path, for messages (and to open, when Open is nil)

	// Open opens the file to send; the upload reads from the file it
	// returns and nothing else (the agent opens it beneath its source root,
	// see package beneath). Nil: Path is opened as it is, following every
	// link on it, for callers that trust each of its components.
	Open func() (*os.File, error)
	// Dev and Inode, when Inode is not 0, are the file's identity when it
	// was found: an opened file that is not a regular file with them is
	// not the file that was found, and the upload fails with ErrChanged.
	Dev, Inode uint64
	// DirMode, when not 0, is the mode of the file's directory, recorded
	// in the object's metadata (MetaDirMode) for restore.
	DirMode fs.FileMode

	// KnownHash, when HasKnownHash, is the xxhash64 the index holds for an
	// earlier version of this file. If the content still hashes to it,
	// nothing is sent and Result.Unchanged is true.
	KnownHash    uint64
	HasKnownHash bool

	// Resume, when set, is a multipart upload of this file that an earlier
	// attempt started (the caller kept what Progress reported). It is
	// continued when the file still has the size, mtime, inode and hash
	// it had then, and aborted otherwise.
	Resume *Multipart
	// Progress, when set, is called with the state of the file's
	// multipart upload each time it changes (started, a part
	// acknowledged), one call at a time; the caller records it for Resume.
	// A job with Progress keeps its upload when it fails or is cancelled,
	// for the next attempt to resume; one without aborts it.
	Progress func(Multipart)
}

// Multipart is a multipart upload in progress: which upload, of the file
// as it was when the upload started, and the parts S3 acknowledged.
type Multipart struct {
	ID       string
	Key      string
	PartSize int64
	Size     int64
	MtimeNs  int64
	Inode    uint64
	Hash     uint64
	Parts    []Part // by number
}

// Result is what happened to a Job.
type Result struct {
	Unchanged bool   // content hashed to Job.KnownHash; nothing was sent
	Size      int64  // bytes read (and sent, unless Unchanged)
	MtimeNs   int64  // the file's mtime when it was opened
	Inode     uint64 // the file's inode
	Hash      uint64 // xxhash64 of the content
	ETag      string // quotes stripped
	VersionID string
	Checksum  string // "ALGO:value" as S3 stored it
	Multipart bool
	Perm      Perm // the file's mode and owner, as the object's metadata records them
	// Kept is how many bytes of parts an earlier attempt sent were found
	// in S3, verified and not sent again.
	Kept int64
}
