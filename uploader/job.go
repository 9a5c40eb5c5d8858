package uploader

import (
	"io/fs"
	"os"
)

// This file is what one upload is asked and answers; Uploader.Upload
// (uploader.go) does it.

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
	// The first call of a resumed upload lists the parts kept from Resume,
	// which are not sent again.
	// A job with Progress keeps its upload when it fails or is cancelled,
	// for the next attempt to resume; one without aborts it.
	Progress func(Multipart)

	// Lock, when its Mode is set, locks the version the upload writes
	// until Lock.Retain after it is sent (see PutOptions.Lock).
	Lock LockPolicy
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
	Parts    []Part // by number, each once, each with its checksum
	// Refused is how many times in a row the bucket refused to complete
	// this upload (see refused); at multipartRefusals it is aborted.
	Refused int
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
	// Lock is the Object Lock retention the version was given (zero:
	// none), and LockVia how: LockViaHeaders or LockViaRetention.
	Lock    Lock
	LockVia string
}
