package agent

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// What the bucket-side tools (package agent/bucket) use of the agent: the
// local side of a Source, read the way the pipeline reads it.

// Stat returns the file info of rel, resolved beneath the root through no
// symbolic link the source does not follow (an error matching
// beneath.ErrSymlink when one is on the way).
func (s *Source) Stat(rel string) (fs.FileInfo, error) { return s.stat(rel) }

// StatRecord returns what the index records of info: Size, MtimeNs and
// Inode are set.
func StatRecord(info fs.FileInfo) index.Record { return statOf(info).record() }

// record is what the index records of st.
func (st fileStat) record() index.Record {
	return index.Record{Size: st.size, MtimeNs: st.mtimeNs, Inode: st.inode}
}

// HashFile reads the file rel of s once, opened beneath its root (not
// through a link the source does not follow), through xxhash64 and also,
// when extra is not nil, through extra (an ETag matcher), and returns the
// hash and StatRecord of the file. A file that changes while it is read
// gives an error wrapping uploader.ErrChanged.
func (s *Source) HashFile(ctx context.Context, rel string, extra io.Writer) (uint64, index.Record, error) {
	hash, st, err := hashFile(ctx, s, rel, extra)
	return hash, st.record(), err
}

// Writable is the source's tree as verify --repair writes into it:
// beneath Root, never through a symbolic link, whether or not the source
// follows them.
func (s *Source) Writable() beneath.Root { return beneath.New(s.Root, beneath.Options{}) }

// WithDefaults returns o with every zero value replaced by its default.
func (o Options) WithDefaults() Options { return o.withDefaults() }

// RunPool runs work on each job that produce sends, in workers goroutines
// at once, and returns when produce has returned and every job is done;
// the first error cancels the rest and is returned.
func RunPool[J any](ctx context.Context, workers int, produce func(ctx context.Context, send func(J) error) error, work func(ctx context.Context, j J) error) error {
	return runPool(ctx, workers, produce, work)
}

// Every calls fn every interval (250 ms when 0) until the returned stop is
// called; stop returns once fn is no longer running.
func Every(interval time.Duration, fn func()) (stop func()) { return every(interval, fn) }
