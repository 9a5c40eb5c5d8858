package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Kinds of Finding of a read check (verify --read, the daemon's drill).
// Each is a problem.
const (
	FindingReadCorrupt    = "read-corrupt"    // the recorded version read back with other bytes
	FindingReadMissing    = "read-missing"    // the recorded version is gone from the bucket
	FindingReadUnreadable = "read-unreadable" // the recorded version could not be read to its end
)

// Defaults of a read check.
const (
	DefaultReadWorkers = 4
	// DefaultReadRate is the bytes per second all of a check's reads
	// take together: a drill must not starve the uploads of the link.
	DefaultReadRate = 16 << 20
)

// ReadSample is how much of the index a read check reads back: every
// record, a fraction of them, or a number of them. The zero value reads
// nothing.
type ReadSample struct {
	All      bool
	Fraction float64 // of the records, 0 < Fraction < 1
	Count    int64
}

// ParseReadSample reads a sample as people write it: "all", a percentage
// ("1%", "0.1%", "100%" is all) or a number of records ("500"). "0" and
// "0%" are the zero ReadSample: no read check.
func ParseReadSample(s string) (ReadSample, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "all") {
		return ReadSample{All: true}, nil
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		switch {
		case err != nil || math.IsNaN(f) || f < 0 || f > 100:
			return ReadSample{}, fmt.Errorf("read sample %q: want a percentage from 0%% to 100%%, a number of objects, or all", s)
		case f == 100:
			return ReadSample{All: true}, nil
		}
		return ReadSample{Fraction: f / 100}, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return ReadSample{}, fmt.Errorf("read sample %q: want a number of objects (500), a percentage (1%%), or all", s)
	}
	return ReadSample{Count: n}, nil
}

// IsZero says that the sample reads nothing.
func (s ReadSample) IsZero() bool { return !s.All && s.Fraction <= 0 && s.Count <= 0 }

// String writes s as ParseReadSample reads it.
func (s ReadSample) String() string {
	switch {
	case s.All:
		return "all"
	case s.Fraction > 0:
		return strconv.FormatFloat(s.Fraction*100, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(s.Count, 10)
}

// of is how many of n records the sample reads: a fraction rounds up, so
// 1% of a small index still reads one.
func (s ReadSample) of(n int64) int64 {
	switch {
	case s.All:
		return n
	case s.Fraction > 0:
		return min(n, int64(math.Ceil(s.Fraction*float64(n))))
	}
	return min(n, max(s.Count, 0))
}

// ReadReport is what a read check read and found.
type ReadReport struct {
	Sample     string    `json:"sample"`
	Records    int64     `json:"records"`    // records the sample was drawn from
	Sampled    int64     `json:"sampled"`    // records drawn
	Objects    int64     `json:"objects"`    // versions read (GETs), whole or not
	Bytes      int64     `json:"bytes"`      // bytes received, of every version read
	Corrupt    int64     `json:"corrupt"`    // problem
	Missing    int64     `json:"missing"`    // problem
	Unreadable int64     `json:"unreadable"` // problem
	Seconds    float64   `json:"seconds"`
	Started    time.Time `json:"started"`
	// Findings are the check's problems; in a VerifyReport they are among
	// its findings instead.
	Findings []Finding `json:"findings,omitempty"`
}

// Problems is the number of versions the check could not read back as
// recorded.
func (r ReadReport) Problems() int64 { return r.Corrupt + r.Missing + r.Unreadable }

// Damaged is the number of versions proven bad: read back with other
// bytes, or gone. An unreadable one may be the link's fault.
func (r ReadReport) Damaged() int64 { return r.Corrupt + r.Missing }

// ReadCheck is a restore drill: it reads back a random sample of the
// versions the index records as uploaded, each by its recorded VersionId,
// streaming (nothing is kept or written), and checks its bytes against
// the record's xxhash64 (see uploader.ReadBack). verify compares listings
// and metadata, which a store's rotting disk leaves intact; only reading
// the bytes proves a backup can be restored. For each version read:
//
//	GET of the recorded version             finding          problem  verify --repair
//	bytes hash and size as recorded         (ok)
//	other bytes, size or checksum           read-corrupt     yes      upload the local file again
//	no such version (NoSuchVersion, 404)    read-missing     yes      upload the local file again
//	a read that fails after the retries     read-unreadable  yes      -
//	  (network, 5xx, a cut body)
//	access denied, no credentials, ...      (the check stops with the error)
//
// The sample is drawn in one pass over the index in path order (selection
// sampling: each record is taken with the chance that leaves the rest of
// the sample to the records left), so memory does not grow with the
// index; the pass costs O(records) index reads, the reads O(sample).
// Workers versions are read at once, all of them together no faster than
// Rate bytes per second.
type ReadCheck struct {
	Sources []*local.Source
	Index   index.Store
	// Open returns the bucket of a source, by name.
	Open    func(bucket string) uploader.Bucket
	Sample  ReadSample
	Workers int     // versions read at once; 0: DefaultReadWorkers
	Rate    float64 // bytes per second over all reads; 0: DefaultReadRate, < 0: unlimited
	// Again are files whose recorded versions are read back first, as
	// recorded now, beside the sample (which does not draw them): the daemon's drill reads again what
	// the last one found bad, so that only a clean read of those clears
	// it, not a sample that happens to miss them. A file the index no
	// longer records is passed over.
	Again []ReadTarget
	// Rand draws the sample; nil: a generator seeded at random.
	Rand *rand.Rand
	Now  func() time.Time // clock; nil: time.Now
}

// ReadTarget is one file of a source whose recorded version a ReadCheck
// reads back.
type ReadTarget struct {
	Source *local.Source
	Path   string
}

// Run reads the sample back. The error is one that stopped it (the
// index, a fatal S3 error, ctx); what it read and found is in the report,
// its problems in Findings.
func (c *ReadCheck) Run(ctx context.Context) (ReadReport, error) {
	var mu sync.Mutex
	var findings []Finding
	rep, err := c.run(ctx, func(src *local.Source, rel string, _ index.Record, f Finding) {
		f.Source, f.Path = src.String(), rel
		f.Key, _ = src.Key(rel)
		mu.Lock()
		findings = append(findings, f)
		mu.Unlock()
	})
	rep.Findings = findings
	return rep, err
}

// readJob is one recorded version to read back.
type readJob struct {
	src *local.Source
	rel string
	rec index.Record
}

// errSampled ends the pass over the index once the sample is drawn.
var errSampled = errors.New("sample drawn")

// run is Run with each problem handed to found, with its record, as it is
// found (Verify adds it to its report, to repair).
func (c *ReadCheck) run(ctx context.Context, found func(src *local.Source, rel string, rec index.Record, f Finding)) (ReadReport, error) {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	rng := c.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	workers := c.Workers
	if workers <= 0 {
		workers = DefaultReadWorkers
	}
	rep := ReadReport{Sample: c.Sample.String(), Started: now()}
	for _, src := range c.Sources {
		n, _, err := c.Index.Count(src.ID())
		if err != nil {
			return rep, fmt.Errorf("read index of %s: %w", src, err)
		}
		rep.Records += n
	}
	want := c.Sample.of(rep.Records)
	m := newMeter(c.Rate)
	var corrupt, missing, unreadable atomic.Int64
	var sampled int64
	err := agent.RunPool(ctx, workers, func(ctx context.Context, send func(readJob) error) error {
		again := map[string]bool{}
		for _, t := range c.Again {
			again[t.Source.ID()+"\x00"+t.Path] = true
			rec, ok, err := c.Index.Get(t.Source.ID(), t.Path)
			if err != nil {
				return fmt.Errorf("read index of %s: %w", t.Source, err)
			}
			if !ok {
				continue
			}
			sampled++
			if err := send(readJob{t.Source, t.Path, rec}); err != nil {
				return err
			}
		}
		want += sampled // the sample is drawn beside them
		// Records not yet visited (as counted before the pass) that the
		// sample may draw.
		left := rep.Records - sampled
		for _, src := range c.Sources {
			err := c.Index.Records(src.ID(), "", func(rel string, rec index.Record) error {
				if sampled >= want {
					return errSampled
				}
				if again[src.ID()+"\x00"+rel] {
					return nil
				}
				take := left <= want-sampled || rng.Int64N(max(left, 1)) < want-sampled
				left--
				if !take {
					return nil
				}
				sampled++
				return send(readJob{src, rel, rec})
			})
			if errors.Is(err, errSampled) {
				return nil
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("read index of %s: %w", src, err)
			}
		}
		return nil
	}, func(ctx context.Context, j readJob) error {
		kind, detail, err := c.readOne(ctx, m, j)
		if err != nil || kind == "" {
			return err
		}
		switch kind {
		case FindingReadCorrupt:
			corrupt.Add(1)
		case FindingReadMissing:
			missing.Add(1)
		case FindingReadUnreadable:
			unreadable.Add(1)
		}
		found(j.src, j.rel, j.rec, Finding{Kind: kind, Problem: true, Detail: detail})
		return nil
	})
	rep.Sampled = sampled
	rep.Objects, rep.Bytes = m.objects.Load(), m.bytes.Load()
	rep.Corrupt, rep.Missing, rep.Unreadable = corrupt.Load(), missing.Load(), unreadable.Load()
	rep.Seconds = now().Sub(rep.Started).Seconds()
	return rep, err
}

// readOne reads one recorded version back and says what is wrong with it
// ("" kind: nothing). The error is one that stops the check.
func (c *ReadCheck) readOne(ctx context.Context, m *meter, j readJob) (kind, detail string, err error) {
	key, err := j.src.Key(j.rel)
	if err != nil {
		return "", "", nil // a record of a name S3 cannot take has no object
	}
	version := j.rec.VersionID
	what := "version " + version
	if version == "" {
		what = "the current version (the index recorded none)"
	}
	res, err := uploader.ReadBack(ctx, m.bucket(c.Open(j.src.Bucket)), key, version, j.rec.Hash, j.rec.Hash != 0)
	switch {
	case ctx.Err() != nil:
		return "", "", ctx.Err()
	case err == nil && res.Size != j.rec.Size:
		return FindingReadCorrupt, fmt.Sprintf("%s read back with %d bytes, the uploaded file had %d: s3ferry verify --repair uploads the local file again", what, res.Size, j.rec.Size), nil
	case err == nil:
		return "", "", nil
	case errors.Is(err, uploader.ErrNotFound):
		return FindingReadMissing, fmt.Sprintf("%s, recorded at upload, is gone from the bucket (a lifecycle rule expiring noncurrent versions, or a delete of that version): no restore brings it back; s3ferry verify --repair uploads the local file again", what), nil
	case errors.Is(err, uploader.ErrCorrupt) || uploader.ReasonOf(err) == uploader.ReasonChecksumMismatch:
		return FindingReadCorrupt, fmt.Sprintf("%s read back with other bytes than were uploaded (%v): the store's copy is damaged; s3ferry verify --repair uploads the local file again", what, err), nil
	case uploader.Fatal(err):
		return "", "", err
	}
	return FindingReadUnreadable, fmt.Sprintf("%s could not be read to its end (%v): run the check again; if it keeps failing, the store cannot serve it", what, err), nil
}

// meter counts what a check reads, and holds its reads to a rate.
type meter struct {
	lim            *rate.Limiter // nil: unlimited
	burst          int
	objects, bytes atomic.Int64
}

// newMeter returns a meter for bytesPerSecond (0: DefaultReadRate, < 0:
// unlimited).
func newMeter(bytesPerSecond float64) *meter {
	if bytesPerSecond == 0 {
		bytesPerSecond = DefaultReadRate
	}
	m := &meter{}
	if bytesPerSecond > 0 {
		// An eighth of a second of reading at once, at least 32 KiB.
		m.burst = max(int(bytesPerSecond/8), 32<<10)
		m.lim = rate.NewLimiter(rate.Limit(bytesPerSecond), m.burst)
	}
	return m
}

// bucket returns b whose Get bodies go through m.
func (m *meter) bucket(b uploader.Bucket) uploader.Bucket { return meteredBucket{b, m} }

// meteredBucket is a Bucket whose Get is counted and held to the meter's
// rate.
type meteredBucket struct {
	uploader.Bucket
	m *meter
}

func (b meteredBucket) Get(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, uploader.Object, error) {
	b.m.objects.Add(1)
	body, obj, err := b.Bucket.Get(ctx, key, versionID, offset, length)
	if err != nil {
		return nil, obj, err
	}
	return &meteredBody{ctx: ctx, body: body, m: b.m}, obj, nil
}

// meteredBody counts the bytes read of a body and waits on the meter's
// limiter for them.
type meteredBody struct {
	ctx  context.Context
	body io.ReadCloser
	m    *meter
}

func (r *meteredBody) Read(p []byte) (int, error) {
	if r.m.lim != nil && len(p) > r.m.burst {
		p = p[:r.m.burst]
	}
	n, err := r.body.Read(p)
	r.m.bytes.Add(int64(n))
	if n > 0 && r.m.lim != nil {
		if werr := r.m.lim.WaitN(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (r *meteredBody) Close() error { return r.body.Close() }

// problems is Problems of a report that may be nil.
func (r *ReadReport) problems() int64 {
	if r == nil {
		return 0
	}
	return r.Problems()
}

// readBack is verify --read: a ReadCheck of v.Read whose problems are
// verify's findings, which --repair acts on.
func (r *verifyRun) readBack(ctx context.Context) error {
	c := &ReadCheck{Sources: r.Sources, Index: r.Index, Open: r.Open, Sample: r.Read, Workers: r.ReadWorkers, Rate: r.ReadRate, Now: r.opts.Now}
	rep, err := c.run(ctx, func(src *local.Source, rel string, rec index.Record, f Finding) {
		if f.Kind == FindingReadUnreadable {
			r.add(src, rel, f, nil) // nothing wrong to repair, as far as is known
			return
		}
		r.add(src, rel, f, &rec)
	})
	r.mu.Lock()
	r.report.Read = &rep
	r.mu.Unlock()
	return err
}
