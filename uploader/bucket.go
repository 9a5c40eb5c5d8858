package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound means the key, the version or the multipart upload asked for
// does not exist: never written, deleted (a delete marker is the current
// version), or its version or upload removed. Match it with errors.Is.
var ErrNotFound = errors.New("not found")

// Bucket is everything s3ferry asks of one bucket. Package s3's
// Client.Bucket returns the S3 implementation; buckettest.Fake is an in-memory one, and
// buckettest.Run is the suite both pass.
//
// Every method of the S3 implementation is retried by the SDK's retryer
// (s3.Config.MaxAttempts, with backoff) on throttling, 5xx answers and
// network errors before it returns an error; ReasonOf and Fatal classify
// what it returns. Methods are safe for concurrent use. Errors name the
// operation and key, and wrap the cause.
type Bucket interface {
	// Name is the bucket's name.
	Name() string

	// Put stores body (exactly size bytes) as a new version of key in one
	// request, with opts' metadata and a checksum of the bucket's
	// algorithm (s3.Config.Checksum, which every write carries), and returns
	// what was written. Not idempotent on a versioned bucket: each call makes a
	// version. A body whose checksum differs from opts.Checksum is
	// refused (ReasonChecksumMismatch) and nothing is stored.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, opts PutOptions) (Written, error)

	// CreateMultipart starts a multipart upload of key with opts' metadata
	// (opts.Checksum is ignored: every part carries its own) and returns
	// its upload ID. Nothing is visible
	// under key until CompleteMultipart.
	CreateMultipart(ctx context.Context, key string, opts PutOptions) (uploadID string, err error)

	// UploadPart stores part n (1 to 10,000) of an upload: exactly size
	// bytes of body, every part but the last at least MinPartSize. The
	// part carries a checksum of the upload's algorithm. Idempotent:
	// sending part n again replaces it. ErrNotFound: no such upload
	// (completed or aborted).
	UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64) (Part, error)

	// ListParts returns the parts of an upload stored so far, by number;
	// ErrNotFound when there is no such upload. This is what a resumed
	// upload asks to learn which parts it need not send again. Some
	// servers list parts without their checksums, or a number once per
	// time it was sent, the last one last (SeaweedFS); the caller copes.
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)

	// CompleteMultipart makes parts (in ascending order of number, as
	// UploadPart returned them, each with its checksum: the Uploader sends
	// none without) one new version of key. ErrNotFound: no such upload.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) (Written, error)

	// AbortMultipart discards an upload and its parts. Idempotent: an
	// upload that is gone already is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error

	// ListMultipartUploads calls emit for every multipart upload in
	// progress (created, neither completed nor aborted) whose key starts
	// with prefix, in no particular order (MinIO's is not S3's). An error
	// from emit stops the listing and is returned.
	ListMultipartUploads(ctx context.Context, prefix string, emit func(MultipartUpload) error) error

	// Head describes a version of key without its content (versionID
	// empty: the current version). ErrNotFound: no such key or version,
	// or the current version is a delete marker.
	Head(ctx context.Context, key, versionID string) (Object, error)

	// Get returns the bytes [offset, offset+length) of a version of key
	// (versionID empty: the current one; length < 0: to the end) and what
	// Head would say of it; the caller closes the body. On a whole-object
	// read the S3 implementation's body fails on a full-object checksum
	// that does not match. ErrNotFound as for Head.
	Get(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, Object, error)

	// List calls emit once for every current object below prefix (not
	// the deleted ones), splitting the key space at "/" to list parts
	// concurrently (see ListOptions): emit is called from several
	// goroutines at once, each with one part's objects in key order. An
	// error from emit stops the listing and is returned.
	List(ctx context.Context, prefix string, opts ListOptions, emit func(Object) error) error

	// ListVersions is List of every key's history below prefix: its
	// versions and delete markers, newest first, one call per key.
	ListVersions(ctx context.Context, prefix string, opts ListOptions, emit func(History) error) error

	// Delete without versionID puts a delete marker on key and returns
	// its version ID; the versions below it stay. Not idempotent on a
	// versioned bucket: each call adds a marker, also on a key that does
	// not exist. With versionID it removes that version for good (doctor
	// removes its probe so); a version that does not exist is not an
	// error.
	Delete(ctx context.Context, key, versionID string) (markerVersionID string, err error)

	// Check verifies that there are credentials and that the bucket can
	// be reached; its error is one line a user can act on ("bucket x does
	// not exist: create it or fix --destination"), which ReasonOf and
	// Fatal classify as any other.
	Check(ctx context.Context) error

	// Credentials returns where the credentials come from (e.g.
	// "EnvConfigCredentials"), or an error wrapping ErrNoCredentials.
	Credentials(ctx context.Context) (source string, err error)

	// Versioning, Replication, Lifecycle and ObjectLock read the parts of
	// the bucket's configuration that decide whether it holds a real
	// backup. A configuration that is not set (or that the store does not
	// implement) is not an error: the result is then empty.
	Versioning(ctx context.Context) (VersioningStatus, error)
	Replication(ctx context.Context) ([]ReplicationRule, error)
	Lifecycle(ctx context.Context) ([]LifecycleRule, error)
	ObjectLock(ctx context.Context) (*ObjectLock, error)

	// ClockSkew returns how far the server's clock is ahead of the local
	// one (negative: behind), to the second.
	ClockSkew(ctx context.Context) (time.Duration, error)
}

// PrefixLister is a Bucket that lists the names right below a prefix in
// one request (a delimiter listing), for a hint such as restore's when its
// prefix holds nothing. It is optional: a Bucket without it gives no hint.
type PrefixLister interface {
	// ListPrefixes returns up to max of the names right below prefix, in
	// key order: "2026-12-06/" for a folder, the key's name for an object
	// (any version, deleted ones too) right there.
	ListPrefixes(ctx context.Context, prefix string, max int) ([]string, error)
}

// PutOptions is what Put and CreateMultipart store beside the content.
type PutOptions struct {
	// Metadata is stored as x-amz-meta-*; keys are lower case.
	Metadata map[string]string
	// Checksum is the base64 value of the bucket's checksum algorithm
	// over the body, computed by the caller; "" lets the client compute
	// it (by reading the body once more). The store verifies it.
	Checksum string
	// Once makes a Put one attempt, without the SDK's retries: the caller
	// retries, and asks between attempts whether the last one stored the
	// object although its answer was lost (Uploader.put).
	Once bool
	// Lock, when not zero, is the Object Lock retention of the new
	// version (x-amz-object-lock-mode and -retain-until-date). S3 requires
	// a content checksum beside it on the request and on every part of a
	// multipart upload, which package s3 always sends. A store that
	// refuses the headers answers ErrLockHeadersRefused.
	Lock Lock
}

// Written is what a Put or CompleteMultipart stored.
type Written struct {
	ETag      string // quotes stripped
	VersionID string // "" on a bucket that never had versioning
	// Checksum is "ALGO:value" as the store answered it for the
	// algorithm asked for; "" when it answered none. A multipart
	// object's is a checksum of the parts' checksums, "value-N".
	Checksum string
}

// Part is one stored part of a multipart upload.
type Part struct {
	Number   int32
	ETag     string // quotes stripped
	Size     int64
	Checksum string // base64 value of the upload's algorithm; "" none
}

// MultipartUpload is a multipart upload in progress.
type MultipartUpload struct {
	Key       string
	ID        string
	Initiated time.Time
}

// Object describes one object version.
type Object struct {
	Key          string
	VersionID    string // "null" for one written while versioning was off
	Size         int64
	ETag         string // quotes stripped
	LastModified time.Time
	// The fields below are filled by Head and Get, not by List.
	Metadata map[string]string // x-amz-meta-* without the prefix
	// Checksums holds the additional checksums the store keeps, by
	// algorithm ("CRC32C": base64 value; "value-N" for a multipart
	// object's checksum of part checksums).
	Checksums map[string]string
	// Composite says the checksums are of the parts, not of the content.
	Composite bool
	// Encrypted says the ETag is not an MD5 of the content (SSE-KMS,
	// SSE-C).
	Encrypted bool
	// Replication is the version's x-amz-replication-status, filled by
	// Head: "" when no replication rule applies to it, else one of the
	// Replication* constants.
	Replication ReplicationStatus
	// Lock is the version's Object Lock, filled by Head (when the caller
	// may read it: s3:GetObjectRetention, s3:GetObjectLegalHold).
	Lock LockState
}

// ReplicationStatus is where a version stands in the bucket's replication
// to another: S3 never retries a FAILED one, it must be written again.
type ReplicationStatus string

// Replication states as HeadObject answers them on the source bucket
// (REPLICA on the destination).
const (
	ReplicationPending   ReplicationStatus = "PENDING"
	ReplicationCompleted ReplicationStatus = "COMPLETED"
	ReplicationFailed    ReplicationStatus = "FAILED"
	ReplicationReplica   ReplicationStatus = "REPLICA"
)

// Checksum returns, in the form of Result.Checksum ("CRC32C:<base64>"),
// the checksum o carries for the algorithm of recorded (a Result.Checksum);
// "" when it carries none.
func (o Object) Checksum(recorded string) string {
	algo, _, _ := strings.Cut(recorded, ":")
	if algo == "" || o.Checksums[algo] == "" {
		return ""
	}
	return algo + ":" + o.Checksums[algo]
}

// Version is one entry of a key's history: an object version or a delete
// marker.
type Version struct {
	VersionID    string // "null" for what was written while versioning was off
	Deleted      bool   // a delete marker
	Latest       bool   // the server's IsLatest: the current version
	Size         int64
	ETag         string // quotes stripped
	LastModified time.Time
}

// History is every version of one key, newest first, in the order the
// server listed them (never re-sorted by LastModified).
type History struct {
	Key      string
	Versions []Version
}

// ErrImpossibleHistory means a key's history is one S3 cannot produce
// (Check), or one whose times cannot say which version was current at a
// point in time (At): its version timestamps cannot be trusted (VersityGW
// gives an overwritten version the time of the overwrite, a delete marker
// the time of the version it hides). Match it with errors.Is.
var ErrImpossibleHistory = errors.New("impossible version history")

// Check says whether h is a history S3 can produce; the error wraps
// ErrImpossibleHistory and says why. With versions listed newest first
// by the server:
//
//	shape                                           possible
//	exactly one version IsLatest, and it is first   yes
//	no version IsLatest, or two                     no
//	the IsLatest version not first                  no
//	a noncurrent version newer than the current one no
//	a delete marker older than the version it hides no
//	any other version newer than the one above it   no
//
// Equal times are possible (S3 lists whole seconds).
func (h History) Check() error {
	if len(h.Versions) == 0 {
		return nil
	}
	current := 0
	for _, v := range h.Versions {
		if v.Latest {
			current++
		}
	}
	switch {
	case current == 0:
		return fmt.Errorf("%w: none of its %d versions is the current one", ErrImpossibleHistory, len(h.Versions))
	case current > 1:
		return fmt.Errorf("%w: %d versions are the current one", ErrImpossibleHistory, current)
	case !h.Versions[0].Latest:
		return fmt.Errorf("%w: the current version is not the newest listed", ErrImpossibleHistory)
	}
	for i := 1; i < len(h.Versions); i++ {
		above, v := h.Versions[i-1], h.Versions[i]
		if !v.LastModified.After(above.LastModified) {
			continue
		}
		switch {
		case i == 1:
			return fmt.Errorf("%w: noncurrent version %s (%s) is newer than the current %s (%s)", ErrImpossibleHistory,
				v.VersionID, stamp(v.LastModified), above.VersionID, stamp(above.LastModified))
		case above.Deleted:
			return fmt.Errorf("%w: delete marker %s (%s) is older than version %s it hides (%s)", ErrImpossibleHistory,
				above.VersionID, stamp(above.LastModified), v.VersionID, stamp(v.LastModified))
		default:
			return fmt.Errorf("%w: version %s (%s) is listed below %s (%s) yet is newer", ErrImpossibleHistory,
				v.VersionID, stamp(v.LastModified), above.VersionID, stamp(above.LastModified))
		}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// At returns the version of h a reader saw at t: the newest one that
// existed then; ok is false when there was none, or a delete marker. It
// goes by LastModified, so it first checks h (see Check), and no version
// is picked when the error wraps ErrImpossibleHistory:
//
//	history                                        At
//	impossible (Check)                             the error of Check
//	two versions after t with the same time        an error: VersityGW gives an
//	                                               overwritten version the time of
//	                                               the overwrite, so the lower one
//	                                               may have existed at t
//	otherwise                                      the newest at or before t
//
// The second row may refuse a history AWS wrote (two versions in one
// second), but only for a t before both: refused, never restored wrong.
func (h History) At(t time.Time) (v Version, ok bool, err error) {
	if err := h.Check(); err != nil {
		return Version{}, false, err
	}
	for i, v := range h.Versions {
		if v.LastModified.After(t) {
			if i+1 < len(h.Versions) && h.Versions[i+1].LastModified.Equal(v.LastModified) {
				below := h.Versions[i+1]
				return Version{}, false, fmt.Errorf("%w at %s: versions %s and %s have one time (%s), so when %s was written is unknown",
					ErrImpossibleHistory, stamp(t), v.VersionID, below.VersionID, stamp(v.LastModified), below.VersionID)
			}
			continue
		}
		return v, !v.Deleted, nil
	}
	return Version{}, false, nil
}

// Latest returns the current version, the one the server marks IsLatest,
// whatever the timestamps say; ok is false when the key is deleted (a
// delete marker is current) or has no versions. The error, wrapping
// ErrImpossibleHistory, means no version or more than one is marked.
func (h History) Latest() (v Version, ok bool, err error) {
	if len(h.Versions) == 0 {
		return Version{}, false, nil
	}
	var cur []Version
	for _, v := range h.Versions {
		if v.Latest {
			cur = append(cur, v)
		}
	}
	if len(cur) != 1 {
		return Version{}, false, fmt.Errorf("%w: %d of its %d versions are the current one", ErrImpossibleHistory, len(cur), len(h.Versions))
	}
	return cur[0], !cur[0].Deleted, nil
}

// DefaultListWorkers is how many listings of one bucket run at once.
const DefaultListWorkers = 16

// ListOptions tunes List and ListVersions.
type ListOptions struct {
	Workers int // listings at once; 0: DefaultListWorkers
	// Depth is how many levels below the prefix the listing may split the
	// key space at "/": a partition layout's depth, so a part is never
	// smaller than a partition. 0 lists the prefix in one part.
	Depth int
	// PageSize is the keys per request; 0 is the store's default (and
	// S3's largest), 1,000. Tests make it small.
	PageSize int32
}

// VersioningStatus is a bucket's versioning state.
type VersioningStatus string

// Versioning states; "" means versioning was never enabled.
const (
	VersioningEnabled   VersioningStatus = "Enabled"
	VersioningSuspended VersioningStatus = "Suspended"
)

// ReplicationRule is one rule of a bucket's replication configuration.
type ReplicationRule struct {
	ID          string
	Enabled     bool
	Prefix      string // the keys it applies to; "" all
	Tagged      bool   // it applies only to objects with some tags
	Destination string // the destination bucket's ARN
}

// LifecycleRule is one rule of a bucket's lifecycle configuration; the
// day counts are 0 when the rule has no such action.
type LifecycleRule struct {
	ID      string
	Enabled bool
	Prefix  string // the keys it applies to; "" all
	Tagged  bool   // it applies only to objects with some tags
	// AbortIncompleteDays aborts multipart uploads this long after they
	// started.
	AbortIncompleteDays int
	// NoncurrentDays deletes a version this long after it stopped being
	// the current one.
	NoncurrentDays int
}

// ObjectLock is a bucket's Object Lock configuration, when enabled.
type ObjectLock struct {
	// DefaultRetention locks every new version; nil when there is none.
	DefaultRetention *Retention
}

// Retention is an Object Lock default retention: Days or Years is set.
type Retention struct {
	Mode  string // GOVERNANCE or COMPLIANCE
	Days  int
	Years int
}
