package index

import (
	"cmp"
	"errors"
	"fmt"
)

// Record is what the index knows about one local file that reached the
// bucket: the local identity it had when it was read (size, mtime, inode),
// the xxhash64 of the bytes that were sent, and what S3 answered.
type Record struct {
	Size       int64  // bytes
	MtimeNs    int64  // modification time, Unix nanoseconds
	Inode      uint64 // inode number; 0 where the platform has none
	Hash       uint64 // xxhash64 of the content sent
	ETag       string // as S3 returned it, quotes stripped
	VersionID  string // empty on an unversioned bucket
	Checksum   string // "CRC32C:<base64>" (algorithm, colon, S3's value)
	UploadedNs int64  // when S3 acknowledged the upload, Unix nanoseconds
}

// Pending marks a file that was found new or changed and must reach the
// bucket. It is written before the upload starts, so a crash or restart
// resumes it; Seq tells a re-queue apart from the entry an upload started on.
type Pending struct {
	Seq      uint64 // unique and increasing within one index
	QueuedNs int64  // when the file was queued, Unix nanoseconds
	// Upload is the multipart upload the file is being sent as, so a
	// crash or restart resumes it; nil for none. See Store.SetUpload.
	Upload *Upload
}

// Upload is a multipart upload in progress: which upload, of which file
// as it was when the upload started, and the parts S3 acknowledged so far.
type Upload struct {
	ID       string // S3's UploadId
	Key      string // the object key it completes to
	PartSize int64
	// The file's identity and content hash when the upload started: a
	// file that no longer has them cannot resume it.
	Size    int64
	MtimeNs int64
	Inode   uint64
	Hash    uint64
	Parts   []UploadedPart // acknowledged parts, by number
	// Refused is how many times in a row the bucket refused to complete
	// the upload (uploader.Multipart.Refused).
	Refused int
}

// UploadedPart is one acknowledged part of an Upload.
type UploadedPart struct {
	Number   int32
	Size     int64
	Checksum string // base64 value of the upload's checksum algorithm
	ETag     string
}

// Retry marks a file a walk found but could not back up (deferred as still
// being written, a name that cannot be a key, unreadable), or a directory
// it could not read. Every later walk retries it first, wherever it lives,
// until it is uploaded or gone: a walk that passes over a file may count as
// complete only because the file is here.
type Retry struct {
	Dir     bool  // a directory that could not be read: walk all of it
	Size    int64 // the file's size when it was last seen
	MtimeNs int64 // its mtime then, Unix nanoseconds
	SeenNs  int64 // since when it has had this size and mtime, Unix nanoseconds
}

// Replica marks an uploaded version whose copy in the replica bucket (the
// bucket's replication rule) is not yet confirmed: it is checked until
// HeadObject of the version says COMPLETED. A FAILED version whose file
// could not be sent again stays with Failed set, for
// `s3ferry manifest --replication-failed`.
type Replica struct {
	VersionID  string // the version uploaded
	UploadedNs int64  // when, Unix nanoseconds
	CheckNs    int64  // not checked before this, Unix nanoseconds; 0: at once
	Checks     int64  // PENDING answers so far; the back-off grows with them
	Failed     bool   // replication FAILED and the file could not be sent again
}

// Gone marks a recorded file that is not on the local disk on purpose:
// s3ferry deleted it under the local retention, or it vanished and its
// deletion is (to be) mirrored to the bucket. Its record stays: the bucket
// still holds the version, which restore brings back.
type Gone struct {
	Reason    GoneReason
	VersionID string // the version of the record when it went
	SinceNs   int64  // when it was deleted, or first seen missing, Unix nanoseconds
	MarkerID  string // GonePropagated: the delete marker written
}

// GoneReason says why a file is gone.
type GoneReason uint8

// The reasons of Gone.
const (
	GoneRetention  GoneReason = 1 // deleted by the local retention (the mark is written before the unlink)
	GoneVanished   GoneReason = 2 // deleted by someone else; a delete marker follows after the grace period
	GonePropagated GoneReason = 3 // deleted by someone else; its key has a delete marker
)

// Lock is the Object Lock of a recorded version: the retention it was
// given when it was uploaded or extended, and how. It is kept apart from
// the record (Store.Locks) so that an index with locks still reads with a
// binary that knows none: such a binary ignores the set.
type Lock struct {
	VersionID     string // the version locked
	Mode          string // GOVERNANCE or COMPLIANCE
	RetainUntilNs int64  // Unix nanoseconds
	// Via says how the version got the lock: "headers" (the upload
	// carried it) or "retention" (PutObjectRetention right after).
	Via string
	// Hold says a legal hold was put on the version (s3ferry hold set)
	// and not taken off since.
	Hold bool
}

// Guard is a mass-deletion guard's state of one source, under a path that
// names the guard (see agent/retention): a sweep it stopped, and what an
// operator allowed since, or the source root's device id.
type Guard struct {
	Reason  string // why deletes stopped, one line; "" for a "root" entry
	Deletes int64  // the deletes the stopped pass would have made
	Records int64  // the source's records then
	SinceNs int64  // when it stopped, Unix nanoseconds
	// Confirmed is how many deletes an operator allowed the next pass
	// (s3ferry retention confirm); 0: none yet.
	Confirmed int64
	Dev       uint64 // the root's device id, in the "root" entry
}

// SourceState is per-source bookkeeping that is not about one file.
type SourceState struct {
	FullWalkNs int64 // when the last complete full walk finished; 0 = never
	// Root and Destination say which tree and s3://BUCKET/PREFIX/ the
	// source is, so `s3ferry status` can list the sources of an index;
	// empty in states written before they were kept.
	Root, Destination string
}

// Store is the index: one record per uploaded file, the pending set,
// per-source state, and the sets of files that need something other than
// an upload (Set). Records are addressed by (source, path): source is an
// opaque identifier the caller chooses (one per local root and destination),
// path the file's slash-separated path relative to that root, any bytes.
// A source must not contain a NUL byte; methods given one return an error.
//
// Implementations are safe for concurrent use. Every method that writes is
// atomic: after a crash either all of its effect is visible or none.
type Store interface {
	// Get returns the record of path; ok is false when there is none.
	Get(source, path string) (r Record, ok bool, err error)

	// GetMany calls fn with the record of each of paths, in the order
	// given; ok is false for a path with none. It reads them all in one
	// read, which costs less than a Get each when the paths are sorted
	// neighbours, as the files of one directory are. Same rules for fn as
	// Pending.
	GetMany(source string, paths []string, fn func(i int, r Record, ok bool) error) error

	// Queue adds path to the pending set (replacing an earlier entry for the
	// same path) and returns the entry written.
	Queue(source, path string) (Pending, error)

	// Commit records an upload that S3 acknowledged. In the same transaction
	// it removes the pending entry of path, but only if that entry's Seq is
	// seq: a file re-queued while it was being uploaded stays pending.
	// seq 0 removes nothing.
	Commit(source, path string, r Record, seq uint64) error

	// Touch replaces the record of path without an upload (the content hash
	// was unchanged) and removes the pending entry as Commit does.
	Touch(source, path string, r Record, seq uint64) error

	// Unqueue removes the pending entry of path if its Seq is seq (the file
	// vanished, or it is unchanged after all). A missing entry is not an error.
	Unqueue(source, path string, seq uint64) error

	// Delete removes the record and any pending entry of path.
	Delete(source, path string) error

	// Pending calls fn for every pending entry of source in path order. It
	// costs O(pending), never O(records). fn must not call methods that
	// write; an error from fn stops the iteration and is returned.
	Pending(source string, fn func(path string, p Pending) error) error

	// Records calls fn for every record of source whose path starts with
	// prefix, in path order. Same rules for fn as Pending.
	Records(source, prefix string, fn func(path string, r Record) error) error

	// Count returns how many records and pending entries source has, in O(1).
	Count(source string) (records, pending int64, err error)

	// State and SetState read and write the per-source state.
	State(source string) (SourceState, error)
	SetState(source string, s SourceState) error

	// Retries is the retry set: the files and directories walks passed
	// over, kept apart from the pending set (which holds files on their
	// way to the bucket) because what they need is another look, not an
	// upload.
	Retries() Set[Retry]

	// Replicas is the replica set: uploaded versions whose replication is
	// not yet confirmed, kept apart from records (which say what reached
	// the bucket) because what they need is a HeadObject, not an upload.
	// Add replaces the entry of an older version that a newer upload
	// supersedes; RemoveIf with ReplicaOf removes one version's entry
	// only, so the entry of a newer upload stays.
	Replicas() Set[Replica]

	// Removed is the removed set: recorded files that are not on the
	// local disk on purpose (see Gone), so verify does not call them
	// missing and a deletion is mirrored once.
	Removed() Set[Gone]

	// Locks is the lock set: the Object Lock of recorded versions (Lock),
	// for the sources that lock their uploads. An entry is of the version
	// it names: one of an older record is stale.
	Locks() Set[Lock]

	// Guards is the guard set: per source, the mass-deletion guards that
	// stopped a sweep and what they recorded (Guard).
	Guards() Set[Guard]

	// Sources returns, sorted, every source that has or had records,
	// pending entries or a retry set, or a state. It costs O(sources), never O(records).
	Sources() ([]string, error)

	// Resumable multipart uploads: a pending entry may carry the
	// multipart upload its file is being sent as (Pending.Upload).

	// GetPending returns the pending entry of path; ok is false when
	// there is none.
	GetPending(source, path string) (p Pending, ok bool, err error)

	// SetUpload records u (nil: none) in the pending entry of path if that
	// entry's Seq is seq; without such an entry it does nothing. Queue
	// keeps the Upload of the entry it replaces, so a re-queued file can
	// still resume (or abort) it; Commit, Touch, Unqueue and Delete drop it
	// with the entry.
	SetUpload(source, path string, seq uint64, u *Upload) error

	// GC reclaims the space of overwritten and deleted entries, if the
	// implementation keeps any; what it holds is unchanged. Only one GC may
	// run at a time, and none may overlap Close: a daemon calls it on a
	// timer from one goroutine it ends before closing the Store.
	GC() error

	// Close flushes and releases the index. The Store is unusable after.
	Close() error
}

// Set is one of a Store's sets of paths (Store.Retries, Store.Replicas,
// Store.Removed): per source, at most one entry of type T per path, kept
// apart from records, pending entries and the other sets. Sources and paths
// follow the Store's rules. Like the Store's, every method that writes is
// atomic, and an implementation is safe for concurrent use.
type Set[T any] interface {
	// Add puts v as path's entry, replacing an earlier one.
	Add(source, path string, v T) error

	// Remove takes path out of the set. A missing entry is not an error.
	Remove(source, path string) error

	// RemoveIf takes path out of the set if match accepts its entry. The
	// entry is read, matched and removed in one transaction: if an Add
	// replaced the entry the caller last saw, match is given the new one.
	// match runs while the Store's writes wait: it must be quick and must
	// not call the Store. A missing entry is not an error, and match is
	// not called then.
	RemoveIf(source, path string, match func(v T) bool) error

	// Each calls fn for every entry of source in path order. It costs
	// O(entries), never O(records). Same rules for fn as Store.Pending.
	Each(source string, fn func(path string, v T) error) error

	// Count returns how many entries source has, in O(1).
	Count(source string) (int64, error)
}

// ReplicaOf matches the replica set entry of versionID, or any entry when
// versionID is "" (a bucket without versioning): with Replicas().RemoveIf
// it removes a checked version and leaves the entry of a newer upload.
func ReplicaOf(versionID string) func(Replica) bool {
	return func(r Replica) bool { return versionID == "" || r.VersionID == versionID }
}

// ErrLocked is returned (wrapped in a *LockedError) when another process
// holds the index.
var ErrLocked = errors.New("index is in use by another process")

// LockedError says which process holds the index directory, as its lock
// file says (Holder is zero when it does not say, or names a process that
// is gone).
type LockedError struct {
	Dir string
	Holder
	// Status is the command line that asks the daemon holding the index,
	// as the user would type it; "" says 's3ferry status'.
	Status string
}

// Error names the holder and what to do about it, in one line:
//
//	holder                        next step
//	a daemon (s3ferry run)        ask it with s3ferry status, or stop the service
//	a one-shot command (sync)     wait for it to finish, or stop its pid
//	unknown                       wait for it, or stop it
func (e *LockedError) Error() string {
	h := e.Holder
	switch {
	case h.PID <= 0:
		return fmt.Sprintf("index %s is in use by another process: wait for it to finish or stop it, then try again", e.Dir)
	case h.Daemon():
		return fmt.Sprintf("index %s is in use by the daemon (%s): ask it with '%s', or stop it (sudo systemctl stop s3ferry, or kill %d) and try again", e.Dir, h, cmp.Or(e.Status, "s3ferry status"), h.PID)
	default:
		return fmt.Sprintf("index %s is in use by %s: wait for it to finish or stop pid %d (kill %d), then try again", e.Dir, h, h.PID, h.PID)
	}
}

func (e *LockedError) Unwrap() error { return ErrLocked }
