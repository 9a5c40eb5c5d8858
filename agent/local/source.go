package local

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// DefaultLookback is how far back a partition walk looks when a source sets
// no look-back window.
const DefaultLookback = 48 * time.Hour

// maxKeyLen is S3's limit on the length of an object key, in bytes.
const maxKeyLen = 1024

// Source is one local tree backed up to one bucket prefix.
type Source struct {
	Root           string        // absolute path of the local tree
	Bucket         string        // destination bucket
	Prefix         string        // key prefix; empty or ending in "/"
	Layout         Layout        // date partitions below Root; zero: none
	Lookback       time.Duration // partitions ending less than this ago are walked
	Filter         Filter        // which files are backed up
	FollowSymlinks bool          // follow symbolic links to files and directories
	// Replicated says a replication rule covers Prefix: each upload is
	// tracked in the index until S3 says its replication COMPLETED.
	Replicated bool
	// LocalRetention, when positive, lets Retention delete the local
	// files older than it that are safely in the bucket; RequireReplica
	// also asks that their replication COMPLETED (when Replicated).
	LocalRetention time.Duration
	RequireReplica bool
	// ReplicaBucket and ReplicaPrefix, when ReplicaBucket is set, say
	// where the bucket's replication copies Prefix: the replica of the
	// file rel is ReplicaPrefix+rel, with the same VersionId (S3
	// replication keeps it). With a Lock and RequireReplica, the local
	// retention then waits for the replica's version to be locked too.
	ReplicaBucket string
	ReplicaPrefix string
	// PropagateDeletes turns a recorded file deleted locally (not by the
	// retention) into a delete marker on its key, PropagateDeletesAfter
	// (0: DefaultPropagateDeletesAfter) after the delete was seen.
	PropagateDeletes      bool
	PropagateDeletesAfter time.Duration
	// Lock, when its Mode is set, locks every version uploaded (Object
	// Lock) until Lock.Retain after its upload; the local retention then
	// deletes a file only once its version is seen locked.
	Lock uploader.LockPolicy
	// MaxDelete and MaxDeleteFraction stop a retention or propagation
	// pass that would delete more files than this, or more than this
	// fraction of the source's, before it deletes any (package
	// retention's guards). 0: the default; negative: no limit.
	MaxDelete         int
	MaxDeleteFraction float64
}

// ID names the source in the index. It changes when the root, bucket or
// prefix changes, so a new destination starts from an empty index instead of
// trusting records of uploads that went elsewhere.
func (s Source) ID() string {
	h := xxhash.New()
	for _, part := range []string{s.Root, s.Bucket, s.Prefix} {
		_, _ = h.WriteString(part)
		_, _ = h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Window is the source's look-back window: Lookback, or DefaultLookback.
func (s *Source) Window() time.Duration {
	if s.Lookback <= 0 {
		return DefaultLookback
	}
	return s.Lookback
}

// Tree is the source's tree as files are opened in it: beneath Root, not
// through a symbolic link unless links are followed.
func (s *Source) Tree() beneath.Root {
	return beneath.New(s.Root, beneath.Options{FollowSymlinks: s.FollowSymlinks})
}

// Stat is lstat, or stat when links are followed, of rel beneath the root:
// an error matching beneath.ErrSymlink when a link the source does not
// follow is on the way.
func (s *Source) Stat(rel string) (fs.FileInfo, error) {
	return s.Tree().Stat(rel)
}

// Writable is the source's tree as verify --repair and the local retention
// write into it: beneath Root, never through a symbolic link, whether or
// not the source follows them.
func (s *Source) Writable() beneath.Root { return beneath.New(s.Root, beneath.Options{}) }

// String is how logs and status name the source.
func (s Source) String() string {
	return s.Root + " -> " + s.Destination()
}

// Destination is the source's bucket and prefix as s3://bucket/prefix.
func (s Source) Destination() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// ErrBadName is returned for a file whose path cannot be an S3 key.
var ErrBadName = fmt.Errorf("name cannot be an S3 key")

// Key is the object key of the file at rel (slash-separated, relative to
// Root). S3 keys are UTF-8 of at most 1024 bytes; a path that is not gets an
// error saying so, and the file is reported instead of being renamed behind
// the operator's back. Every other name round-trips: with url-encoded
// listings, a key holding any C0 control character but NUL, or DEL, lists
// back exactly (buckettest's ControlKeys proves it against MinIO). NUL,
// which no Linux name holds, is refused too. The local retention deletes
// only a file that has a key, so never one the listing cannot return.
func (s Source) Key(rel string) (string, error) {
	if strings.IndexByte(rel, 0) >= 0 {
		return "", fmt.Errorf("%w: %q holds a NUL byte", ErrBadName, rel)
	}
	if !utf8.ValidString(rel) {
		return "", fmt.Errorf("%w: %q is not valid UTF-8; rename the file (e.g. convmv -f latin1 -t utf8)", ErrBadName, rel)
	}
	key := s.Prefix + rel
	if len(key) > maxKeyLen {
		return "", fmt.Errorf("%w: %q is %d bytes with the prefix, S3 allows %d; shorten the path", ErrBadName, rel, len(key), maxKeyLen)
	}
	return key, nil
}

// ParseDestination splits "s3://bucket/prefix" into bucket and a prefix that
// is empty or ends in "/".
func ParseDestination(dest string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(dest, "s3://")
	if !ok {
		return "", "", fmt.Errorf("destination %q must look like s3://bucket/prefix/", dest)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("destination %q has no bucket name: use s3://bucket/prefix/", dest)
	}
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// UploadJob is the upload of rel, found with info (nil: not known), to key:
// the uploader reads the file opened beneath the root, and only if it is
// still the file that was found; the object records the mode of its
// directory for restore.
func (s *Source) UploadJob(rel, key string, info fs.FileInfo) uploader.Job {
	root := s.Tree()
	j := uploader.Job{Bucket: s.Bucket, Key: key, Path: root.Join(rel),
		Open: func() (*os.File, error) { return root.Open(rel) }, Lock: s.Lock}
	if info != nil {
		id := IDOf(info)
		j.Dev, j.Inode = id.Dev, id.Ino
	}
	if dir, err := root.Stat(path.Dir(rel)); err == nil {
		j.DirMode = dir.Mode() // best effort: restore falls back to 0777 less the umask
	}
	return j
}

// Watched reports whether run watches the directory rel at now: the root,
// and the directories the filter takes that are inside the look-back
// window of the layout (partition names read in loc).
func (s *Source) Watched(rel string, now time.Time, loc *time.Location) bool {
	if rel == "" {
		return true
	}
	if !s.Filter.Dir(rel) {
		return false
	}
	if s.Layout.IsZero() {
		return true
	}
	from := now.Add(-s.Window())
	dated := ""
	for i, name := range strings.Split(rel, "/") {
		if i >= s.Layout.Depth() {
			break
		}
		if !s.Layout.Wildcard(i) {
			dated = path.Join(dated, name)
		}
		if _, inside, ok := s.Layout.Match(i, dated, from, loc); !ok || !inside {
			return false
		}
	}
	return true
}
