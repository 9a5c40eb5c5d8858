package bucket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Kinds of Finding.
const (
	FindingMissing         = "missing"          // recorded, not in the bucket
	FindingSize            = "size"             // the object's size differs from the record
	FindingContent         = "content"          // the object's content (ETag, xxhash, checksum) differs
	FindingUnknown         = "unknown"          // in the bucket, not in the index
	FindingVersion         = "version"          // --inventory: same content, another current version
	FindingReplication     = "replication"      // --inventory: its replication failed
	FindingLocalCorrupt    = "local-corrupt"    // local content changed, size and mtime did not
	FindingLocalChanged    = "local-changed"    // modified since its upload
	FindingLocalMissing    = "local-missing"    // deleted locally since its upload
	FindingLocalUnreadable = "local-unreadable" // could not be read
	FindingReplicaMissing  = "replica-missing"  // recorded, the replica lacks the version
	FindingReplicaDiffers  = "replica-differs"  // the replica's version has another size or ETag
	FindingReplicaHistory  = "replica-history"  // the replica lists a history S3 cannot produce
	FindingPending         = "pending"          // found and queued, not yet in the bucket
	FindingRetrying        = "retrying"         // passed over by walks, in the retry set
)

// Finding is one thing verify found. A problem means the backup is not
// what the index says; the others are for information.
type Finding struct {
	Kind    string `json:"kind"`
	Problem bool   `json:"problem"`
	Source  string `json:"source"`
	Path    string `json:"path"` // relative to the source root
	Key     string `json:"key"`  // object key
	Detail  string `json:"detail"`
	// Repair says what --repair did about it; empty without --repair.
	Repair   string `json:"repair,omitempty"`
	Repaired bool   `json:"repaired,omitempty"`
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Listed          int64     `json:"listed"`                       // objects listed in the bucket
	Records         int64     `json:"records"`                      // index records compared
	Heads           int64     `json:"heads"`                        // objects whose ETag differed, asked for their metadata
	Missing         int64     `json:"missing"`                      // problem
	SizeMismatch    int64     `json:"size_mismatch"`                // problem
	ContentMismatch int64     `json:"content_mismatch"`             // problem
	Unknown         int64     `json:"unknown"`                      // info
	OtherVersion    int64     `json:"other_version,omitempty"`      // --inventory, info
	Replication     int64     `json:"replication_failed,omitempty"` // --inventory, problem
	Hashed          int64     `json:"hashed,omitempty"`             // --deep: local files read
	LocalCorrupt    int64     `json:"local_corrupt"`                // problem
	LocalUnreadable int64     `json:"local_unreadable"`             // problem
	LocalChanged    int64     `json:"local_changed"`                // info
	LocalMissing    int64     `json:"local_missing"`                // info
	ReplicaListed   int64     `json:"replica_listed,omitempty"`     // --replica: versions listed on the replica
	ReplicaMissing  int64     `json:"replica_missing"`              // problem
	ReplicaDiffers  int64     `json:"replica_differs"`              // problem
	ReplicaHistory  int64     `json:"replica_history"`              // problem
	Pending         int64     `json:"pending"`                      // problem: queued, not yet uploaded
	Retrying        int64     `json:"retrying"`                     // problem: in the retry set
	Repaired        int64     `json:"repaired,omitempty"`           // --repair: problems fixed
	ListSeconds     float64   `json:"list_seconds"`                 // time spent listing the bucket
	ObjectsPerSec   float64   `json:"objects_per_second"`           // listing rate
	Seconds         float64   `json:"seconds"`                      // wall time
	Findings        []Finding `json:"findings"`                     // every problem, and the first MaxInfo others
	InfoOmitted     int64     `json:"info_omitted,omitempty"`       // findings for information beyond MaxInfo
	// Read is what --read read back; nil without it. Its problems are
	// among Findings.
	Read *ReadReport `json:"read,omitempty"`
}

// Problems is the number of problems found (repaired or not).
func (r VerifyReport) Problems() int64 {
	return r.Missing + r.SizeMismatch + r.ContentMismatch + r.Replication + r.LocalCorrupt + r.LocalUnreadable + r.ReplicaMissing + r.ReplicaDiffers + r.ReplicaHistory +
		r.Pending + r.Retrying + r.Read.problems()
}

// Unrepaired is the number of problems still there after Run.
func (r VerifyReport) Unrepaired() int64 {
	n := int64(0)
	for _, f := range r.Findings {
		if f.Problem && !f.Repaired {
			n++
		}
	}
	return n
}

// DefaultMaxInfo is how many findings for information a report keeps.
const DefaultMaxInfo = 100

// Verify compares the index with the bucket. It lists every source's
// prefix once, in parallel parts, and compares each object with its record
// by size and ETag, which the listing has: only an object whose ETag
// differs costs a HeadObject, for its xxhash metadata and checksum. Then it
// goes through the index once for records whose object the listing did not
// find. The cost is O(objects + records) listing and reading, plus
// O(mismatches) requests. For every source, per object and record:
//
//	bucket                       index          finding        problem  --repair
//	object                       no record      unknown        no       -
//	no object (or delete marker) record         missing        yes      upload the local file again
//	delete marker             record, gone   (ok: a mirrored local delete)
//	size differs                 record         size           yes      upload the local file again
//	ETag as recorded             record         (ok)
//	ETag differs, HEAD:
//	  xxhash and checksum as
//	  recorded                   record         (ok)
//	  otherwise                  record         content        yes      upload the local file again
//
// With Deep, every recorded local file is read again:
//
//	local stat vs record    hash vs record   finding           problem  --repair
//	in the index's gone set -                (ok: retention or a mirrored delete took it)
//	gone                    -                local-missing     no       -
//	same                    same             (ok)
//	same                    differs          local-corrupt     yes      keep its bytes (Replaced), then download the recorded version over it
//	differs                 same             (ok: only metadata changed)
//	differs                 differs          local-changed     no       - (sync uploads it)
//	cannot be read          -                local-unreadable  yes      -
//
// Then, for every source, the files the index says are not in the bucket
// yet (behind):
//
//	index                   finding     problem  --repair
//	a pending entry         pending     yes      - (sync or the daemon uploads it)
//	an entry of the retry   retrying    yes      - (sync or the daemon tries it again;
//	  set                                          their log says why it failed)
//
// A local file whose size and mtime are unchanged but whose bytes are not
// was damaged (disk, controller, a careless tool): the bucket has the good
// copy, and uploading the damaged one would make it current. Or it was
// edited by a tool that keeps the mtime (cp then touch -r): verify cannot
// tell, so the repair never destroys those bytes; Replaced says where they
// go before the recorded version is written over the file.
//
// With Inventory, the objects come from an S3 Inventory report instead of
// a listing: its data files are streamed once for every source of the
// report's bucket, at the cost of their GETs, not of a LIST per 1,000
// objects. Its rows add two checks where the report has the fields:
//
//	inventory                    index          finding        problem  --repair
//	VersionId differs, ETag as
//	  recorded                   record         version        no       -
//	ReplicationStatus FAILED     record         replication    yes      upload the local file again
type Verify struct {
	Sources []*local.Source
	Index   index.Store
	// Open returns the bucket of a source, by name.
	Open   func(bucket string) uploader.Bucket
	Deep   bool
	Repair bool
	// Replaced is where the repair of a local-corrupt file keeps its
	// current bytes; zero: ReplacedAsVersion.
	Replaced Replaced
	// Uploader uploads for Repair, through the same pipeline as sync.
	Uploader agent.Uploader
	// Download is how Repair fetches a large recorded version (ranged
	// parts; see uploader.Fetch); zero: the defaults.
	Download uploader.DownloadConfig
	// Options: Workers is also how many local files Deep reads at once.
	Options     agent.Options
	ListWorkers int // listings (or inventory data files read) at once; 0: uploader.DefaultListWorkers
	MaxInfo     int // findings for information kept; 0: DefaultMaxInfo
	// Inventory, when set, is the report read instead of listing the
	// bucket; every source must be in its source bucket.
	Inventory *Inventory
	// Replica, when set, is the bucket the sources' bucket replicates
	// to, its copy of each source below ReplicaPrefix: its versions are
	// listed beside the bucket (see replica).
	Replica       uploader.Bucket
	ReplicaPrefix string
	// Read, when not zero, also reads that sample of the recorded
	// versions back, ReadWorkers at once and no faster than ReadRate
	// (see ReadCheck, whose zeros mean the same).
	Read        ReadSample
	ReadWorkers int
	ReadRate    float64
}

// Replaced is where verify --deep --repair keeps the bytes of a local file
// before it writes the recorded version over it.
type Replaced int

const (
	// ReplacedAsVersion uploads them as a new version of the file's key,
	// then the recorded content again, so the current version is the
	// recorded content and the replaced bytes are the version below it.
	ReplacedAsVersion Replaced = iota
	// ReplacedBeside keeps them beside the file, as
	// <name>.s3ferry-replaced-<UTC time> (a hard link to the old file),
	// which the next sync backs up as any new file.
	ReplacedBeside
)

// ReplacedSuffix starts the name suffix of ReplacedBeside.
const ReplacedSuffix = ".s3ferry-replaced-"

// verifyRun is the state of one Verify.Run, shared by its goroutines.
type verifyRun struct {
	*Verify
	opts    agent.Options
	maxInfo int

	listed, records, heads, hashed atomic.Int64

	mu       sync.Mutex
	report   VerifyReport // counts and findings; under mu
	repairs  []repairItem // under mu
	listTime time.Duration
}

// repairItem is a problem Repair acts on.
type repairItem struct {
	src     *local.Source
	rel     string
	kind    string
	rec     index.Record
	finding int // index in report.Findings
}

// Run verifies every source and, with Repair, repairs what it can. The
// error is one that stopped it (listing, index, ctx); what it found is in
// the report.
func (v *Verify) Run(ctx context.Context) (VerifyReport, error) {
	r := &verifyRun{Verify: v, opts: v.Options.WithDefaults(), maxInfo: v.MaxInfo}
	if r.maxInfo <= 0 {
		r.maxInfo = DefaultMaxInfo
	}
	start := r.opts.Now()
	var err error
	if v.Inventory != nil {
		err = r.inventory(ctx)
		for _, src := range v.Sources {
			if err != nil || v.Replica == nil {
				break
			}
			err = r.replica(ctx, src)
		}
	} else {
		for _, src := range v.Sources {
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return r.source(gctx, src) })
			if v.Replica != nil {
				g.Go(func() error { return r.replica(gctx, src) })
			}
			if err = g.Wait(); err != nil {
				break
			}
		}
	}
	for _, src := range v.Sources {
		if err != nil {
			break
		}
		err = r.behind(src)
	}
	if err == nil && !v.Read.IsZero() {
		err = r.readBack(ctx)
	}
	if err == nil && v.Repair && len(r.repairs) > 0 {
		err = r.repair(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.report
	if rep.Findings == nil {
		rep.Findings = []Finding{} // [] in JSON, not null
	}
	rep.Listed, rep.Records, rep.Heads, rep.Hashed = r.listed.Load(), r.records.Load(), r.heads.Load(), r.hashed.Load()
	rep.ListSeconds = r.listTime.Seconds()
	if rep.ListSeconds > 0 {
		rep.ObjectsPerSec = float64(rep.Listed) / rep.ListSeconds
	}
	rep.Seconds = r.opts.Now().Sub(start).Seconds()
	for _, f := range rep.Findings {
		if f.Repaired {
			rep.Repaired++
		}
	}
	return rep, err
}

// seenSet holds the keys of the objects that have a record, hashed: 8
// bytes per object, to find the records that have no object.
type seenSet struct {
	mu     sync.Mutex
	keys   []uint64
	sorted bool
}

// newSeenSet sizes the set for src's records, so it is not copied as it grows.
func (r *verifyRun) newSeenSet(src *local.Source) (*seenSet, error) {
	n, _, err := r.Index.Count(src.ID())
	if err != nil {
		return nil, fmt.Errorf("read index of %s: %w", src, err)
	}
	return &seenSet{keys: make([]uint64, 0, n)}, nil
}

func (s *seenSet) add(rel string) {
	h := xxhash.Sum64String(rel)
	s.mu.Lock()
	s.keys = append(s.keys, h)
	s.mu.Unlock()
}

// has says whether rel was added. It sorts the set once, after the last
// add: the records pass is its only reader.
func (s *seenSet) has(rel string) bool {
	if !s.sorted {
		slices.Sort(s.keys)
		s.sorted = true
	}
	_, found := slices.BinarySearch(s.keys, xxhash.Sum64String(rel))
	return found
}

// object checks one object of src found in the bucket (rel: its path)
// against its record, and adds it to seen.
func (r *verifyRun) object(ctx context.Context, src *local.Source, rel string, o uploader.Object, seen *seenSet) (index.Record, bool, error) {
	rec, known, err := r.Index.Get(src.ID(), rel)
	if err != nil {
		return rec, false, fmt.Errorf("read index for %s: %w", rel, err)
	}
	if !known {
		r.unknown(src, rel)
		return rec, false, nil
	}
	seen.add(rel)
	return rec, true, r.compare(ctx, src, rel, o, rec)
}

// unknown reports an object that has no record.
func (r *verifyRun) unknown(src *local.Source, rel string) {
	r.add(src, rel, Finding{Kind: FindingUnknown, Detail: "in the bucket, not in the index: uploaded by another tool or another index (s3ferry adopt records it)"}, nil)
}

// source verifies one source: the listing against the index, then the
// index against what the listing saw.
func (r *verifyRun) source(ctx context.Context, src *local.Source) error {
	nested := nestedPrefixes(r.Sources, src)
	seen, err := r.newSeenSet(src)
	if err != nil {
		return err
	}
	listStart := time.Now()
	err = r.Open(src.Bucket).List(ctx, src.Prefix, uploader.ListOptions{Workers: r.ListWorkers, Depth: listDepth(src)},
		func(o uploader.Object) error {
			r.listed.Add(1)
			rel, ok := relOf(src, o.Key, nested)
			if !ok {
				return nil
			}
			_, _, err := r.object(ctx, src, rel, o, seen)
			return err
		})
	r.mu.Lock()
	r.listTime += time.Since(listStart)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	gone, err := r.gones(src)
	if err != nil {
		return err
	}
	return r.recordsPass(ctx, src, gone, seen.has)
}

// recordsPass goes through src's index once, in path order, for the
// records whose object the bucket did not have (seen false). gone is what
// r.gones read: a mirrored delete is not missing, and seen is not asked
// about it.
func (r *verifyRun) recordsPass(ctx context.Context, src *local.Source, gone map[string]index.GoneReason, seen func(rel string) bool) error {
	id := src.ID()

	// The index pass; with Deep, each record's local file is read by a
	// pool of workers meanwhile.
	type hashJob struct {
		rel string
		rec index.Record
	}
	workers := 1
	if r.Deep {
		workers = r.opts.Workers
	}
	return agent.RunPool(ctx, workers, func(ctx context.Context, send func(hashJob) error) error {
		err := r.Index.Records(id, "", func(rel string, rec index.Record) error {
			r.records.Add(1)
			if gone[rel] != index.GonePropagated && !seen(rel) {
				r.missing(src, rel, rec)
			}
			if !r.Deep || gone[rel] != 0 {
				return nil
			}
			return send(hashJob{rel, rec})
		})
		if err != nil {
			return fmt.Errorf("read index of %s: %w", src, err)
		}
		return nil
	}, func(ctx context.Context, j hashJob) error {
		r.hashLocal(ctx, src, j.rel, j.rec)
		return nil
	})
}

// gones reads the files s3ferry took off the disk on purpose (local
// retention, mirrored deletes): not missing locally, and a mirrored
// delete's marker is not a missing object.
func (r *verifyRun) gones(src *local.Source) (map[string]index.GoneReason, error) {
	gone := map[string]index.GoneReason{}
	if err := r.Index.Removed().Each(src.ID(), func(rel string, g index.Gone) error { gone[rel] = g.Reason; return nil }); err != nil {
		return nil, fmt.Errorf("read index of %s: %w", src, err)
	}
	return gone, nil
}

// missing reports a record whose object the bucket does not have.
func (r *verifyRun) missing(src *local.Source, rel string, rec index.Record) {
	r.add(src, rel, Finding{Kind: FindingMissing, Problem: true,
		Detail: "recorded as uploaded, not in the bucket (deleted behind s3ferry's back?): run s3ferry verify --repair"}, &rec)
}

// compare checks one listed object against its record.
func (r *verifyRun) compare(ctx context.Context, src *local.Source, rel string, o uploader.Object, rec index.Record) error {
	if o.Size != rec.Size {
		r.add(src, rel, Finding{Kind: FindingSize, Problem: true,
			Detail: fmt.Sprintf("the object has %d bytes, the uploaded file had %d: overwritten behind s3ferry's back; run s3ferry verify --repair", o.Size, rec.Size)}, &rec)
		return nil
	}
	if rec.ETag != "" && o.ETag == rec.ETag {
		return nil
	}
	r.heads.Add(1)
	head, err := r.Open(src.Bucket).Head(ctx, o.Key, "")
	if errors.Is(err, uploader.ErrNotFound) {
		return nil // deleted since the listing: the index pass reports it missing
	}
	if err != nil {
		return err
	}
	var detail string
	hash, hasHash := uploader.ParseMetaHash(head.Metadata)
	sum := head.Checksum(rec.Checksum)
	switch {
	case !hasHash:
		detail = fmt.Sprintf("ETag %s, recorded %s, and no s3ferry metadata: another tool overwrote it; run s3ferry verify --repair", o.ETag, rec.ETag)
	case rec.Hash != 0 && hash != rec.Hash:
		detail = fmt.Sprintf("its xxhash64 is %s, the uploaded file's %s: overwritten behind s3ferry's back; run s3ferry verify --repair", uploader.FormatMetaHash(hash), uploader.FormatMetaHash(rec.Hash))
	case rec.Checksum != "" && sum != "" && sum != rec.Checksum:
		detail = fmt.Sprintf("its checksum is %s, recorded %s: overwritten behind s3ferry's back; run s3ferry verify --repair", sum, rec.Checksum)
	default:
		return nil // same content under another ETag (copied, or re-uploaded in parts)
	}
	r.add(src, rel, Finding{Kind: FindingContent, Problem: true, Detail: detail}, &rec)
	return nil
}

// hashLocal reads the local file of a record and compares it with it.
func (r *verifyRun) hashLocal(ctx context.Context, src *local.Source, rel string, rec index.Record) {
	if _, err := src.Stat(rel); errors.Is(err, fs.ErrNotExist) {
		r.add(src, rel, Finding{Kind: FindingLocalMissing, Detail: "deleted locally since its upload; the bucket keeps it"}, nil)
		return
	}
	hash, st, err := src.HashFile(ctx, rel, nil)
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, uploader.ErrChanged):
		r.add(src, rel, Finding{Kind: FindingLocalChanged, Detail: "being written: the next sync uploads it once it settles"}, nil)
		return
	case err != nil:
		r.add(src, rel, Finding{Kind: FindingLocalUnreadable, Problem: true, Detail: fmt.Sprintf("%v: check its permissions and the disk", err)}, nil)
		return
	}
	r.hashed.Add(1)
	unchanged := st.Size == rec.Size && st.MtimeNs == rec.MtimeNs && st.Inode == rec.Inode
	switch {
	case hash == rec.Hash:
	case rec.Hash == 0:
		// Adopted by size only: nothing to compare with.
	case unchanged:
		r.add(src, rel, Finding{Kind: FindingLocalCorrupt, Problem: true,
			Detail: fmt.Sprintf("content differs from the upload (xxhash64 %016x, was %016x) though size and mtime do not: the local copy is damaged; s3ferry verify --deep --repair restores it from the bucket", hash, rec.Hash)}, &rec)
	default:
		r.add(src, rel, Finding{Kind: FindingLocalChanged, Detail: "modified since its upload: the next sync that walks it uploads it"}, nil)
	}
}

// behind reports the files of src the index says are not in the bucket
// yet: pending (found and queued, the upload not acknowledged) and in the
// retry set (passed over by walks: still being written, unreadable, a name
// S3 cannot take). Each is a problem: a file that keeps failing must not
// read as "0 missing". Neither is repaired here; sync and the daemon
// retry them, and their logs say why one failed. O(pending + retry set).
func (r *verifyRun) behind(src *local.Source) error {
	now := r.opts.Now()
	err := r.Index.Pending(src.ID(), func(rel string, p index.Pending) error {
		detail := "found and queued, not yet in the bucket: the next sync, or the daemon, uploads it"
		if p.Upload != nil {
			detail = "a multipart upload in progress, not yet complete: the next sync, or the daemon, resumes it"
		}
		r.add(src, rel, Finding{Kind: FindingPending, Problem: true, Detail: detail}, nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the pending files of %s: %w", src, err)
	}
	err = r.Index.Retries().Each(src.ID(), func(rel string, e index.Retry) error {
		what := "file"
		if e.Dir {
			what = "directory"
		}
		detail := fmt.Sprintf("a %s walks could not back up, first passed over %s ago (still being written, unreadable, or a name S3 cannot take): the log of sync or run says why", what, now.Sub(time.Unix(0, e.SeenNs)).Round(time.Second))
		r.add(src, rel, Finding{Kind: FindingRetrying, Problem: true, Detail: detail}, nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the retry set of %s: %w", src, err)
	}
	return nil
}

// add records a finding; rec, when set, makes it one Repair acts on.
func (r *verifyRun) add(src *local.Source, rel string, f Finding, rec *index.Record) {
	f.Source, f.Path = src.String(), rel
	f.Key, _ = src.Key(rel)
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &r.report
	switch f.Kind {
	case FindingMissing:
		rep.Missing++
	case FindingSize:
		rep.SizeMismatch++
	case FindingContent:
		rep.ContentMismatch++
	case FindingUnknown:
		rep.Unknown++
	case FindingVersion:
		rep.OtherVersion++
	case FindingReplication:
		rep.Replication++
	case FindingLocalCorrupt:
		rep.LocalCorrupt++
	case FindingLocalUnreadable:
		rep.LocalUnreadable++
	case FindingLocalChanged:
		rep.LocalChanged++
	case FindingLocalMissing:
		rep.LocalMissing++
	case FindingReplicaMissing:
		rep.ReplicaMissing++
	case FindingReplicaDiffers:
		rep.ReplicaDiffers++
	case FindingReplicaHistory:
		rep.ReplicaHistory++
	case FindingPending:
		rep.Pending++
	case FindingRetrying:
		rep.Retrying++
	}
	if !f.Problem && int64(len(rep.Findings))-rep.Problems() >= int64(r.maxInfo) {
		rep.InfoOmitted++
		return
	}
	rep.Findings = append(rep.Findings, f)
	if rec != nil && f.Problem {
		r.repairs = append(r.repairs, repairItem{src: src, rel: rel, kind: f.Kind, rec: *rec, finding: len(rep.Findings) - 1})
	}
}

// repair fixes the problems found: what is wrong in the bucket is uploaded
// again through the pipeline, as sync would; a damaged local file gets the
// recorded version back.
func (r *verifyRun) repair(ctx context.Context) error {
	p := agent.NewPipeline(r.Index, r.Uploader, r.opts)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx) })
	g.Go(func() error {
		defer p.Close()
		// A file both the bucket and the replica lack is sent once.
		sent := map[string]bool{}
		for _, it := range r.repairs {
			var err error
			k := it.src.ID() + "\x00" + it.rel
			if sent[k] && it.kind != FindingLocalCorrupt {
				r.setRepair(it, true, "uploaded again, with the repair of the same file above")
				continue
			}
			sent[k] = true
			switch it.kind {
			case FindingLocalCorrupt:
				err = r.restoreLocal(gctx, it)
			case FindingReplicaMissing, FindingReplicaDiffers:
				err = r.resendReplica(gctx, p, it)
			default:
				err = r.reupload(gctx, p, it)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// reupload sends the local file of a problem again. The record goes first,
// so the pipeline does not find the file unchanged; the pending entry
// written next makes a crash resume the upload.
func (r *verifyRun) reupload(ctx context.Context, p *agent.Pipeline, it repairItem) error {
	info, err := it.src.Stat(it.rel)
	if err != nil || !info.Mode().IsRegular() {
		r.setRepair(it, false, "not repaired: the local file is gone; s3ferry restore --at can bring back an older version")
		return nil
	}
	c := agent.Candidate{Source: it.src, Path: it.rel, Info: info, Done: func(ev agent.Event) {
		switch ev.Outcome {
		case agent.Uploaded, agent.Touched:
			r.setRepair(it, true, "uploaded again")
		case agent.Deferred:
			r.setRepair(it, false, "not repaired yet: the file is being written; the next sync uploads it")
		default:
			r.setRepair(it, false, fmt.Sprintf("upload failed: %v", ev.Err))
		}
	}}
	id := it.src.ID()
	if err := r.Index.Delete(id, it.rel); err != nil {
		return fmt.Errorf("repair %s: %w", it.rel, err)
	}
	pend, err := r.Index.Queue(id, it.rel)
	if err != nil {
		return fmt.Errorf("repair %s: %w", it.rel, err)
	}
	c.Seq = pend.Seq
	outcome, err := p.Consider(ctx, c)
	if err != nil {
		return err
	}
	if outcome == agent.Deferred {
		r.setRepair(it, false, "not repaired yet: the file is being written; the next sync uploads it")
	}
	return nil
}

// restoreLocal keeps the current bytes of a damaged (or edited) local file
// where Replaced says, then writes the recorded version over it, verified
// against the recorded hash, and records the new file's stat. Nothing is
// written over a file whose bytes could not be kept.
func (r *verifyRun) restoreLocal(ctx context.Context, it repairItem) error {
	key, _ := it.src.Key(it.rel)
	// A repair of this file killed before (its damage found again) left
	// its temporary file beside it.
	n, err := uploader.RemoveLeftoversBeside(it.src.Writable(), it.rel)
	if n > 0 {
		r.opts.Logger.Info("removed the temporary files of an earlier, killed repair", "files", n, "beside", local.Printable(it.rel))
	}
	if err != nil && ctx.Err() == nil {
		r.opts.Logger.Warn("looking for the temporary files of an earlier, killed repair", "beside", local.Printable(it.rel), "err", err)
	}
	kept, err := r.keepReplaced(ctx, it, key)
	if err != nil {
		if ctx.Err() != nil || uploader.Fatal(err) {
			return err
		}
		r.setRepair(it, false, fmt.Sprintf("not repaired: its current bytes could not be kept: %v", err))
		return nil
	}
	_, err = uploader.Download(ctx, r.Open(it.src.Bucket), uploader.DownloadJob{
		Key: key, VersionID: it.rec.VersionID, Root: it.src.Writable(), Rel: it.rel, Overwrite: true,
		WantHash: it.rec.Hash, HasWantHash: true, Size: it.rec.Size, ETag: it.rec.ETag, Config: r.Download,
	})
	if err != nil {
		if ctx.Err() != nil || uploader.Fatal(err) {
			return err
		}
		r.setRepair(it, false, fmt.Sprintf("not repaired (%s): %v", kept, err))
		return nil
	}
	info, err := it.src.Stat(it.rel)
	if err != nil {
		return fmt.Errorf("repair %s: %w", it.rel, err)
	}
	rec := it.rec
	st := local.StatOf(info)
	rec.Size, rec.MtimeNs, rec.Inode = st.Size, st.MtimeNs, st.Inode
	what := "restored from version " + it.rec.VersionID + " in the bucket; " + kept
	if r.Replaced == ReplacedAsVersion {
		// The replaced bytes are the current version now: the recorded
		// content goes on top again.
		res, err := r.Uploader.Upload(ctx, it.src.UploadJob(it.rel, key, info))
		if err != nil {
			if ctx.Err() != nil || uploader.Fatal(err) {
				return err
			}
			r.setRepair(it, false, fmt.Sprintf("%s; but uploading the restored file failed (the next sync retries): %v", what, err))
			return nil
		}
		rec.ETag, rec.VersionID, rec.Checksum = res.ETag, res.VersionID, res.Checksum
		rec.Size, rec.MtimeNs, rec.Inode = res.Size, res.MtimeNs, res.Inode
		rec.UploadedNs = r.opts.Now().UnixNano()
		what += ", and the restored content uploaded again as version " + res.VersionID
	}
	if err := r.Index.Touch(it.src.ID(), it.rel, rec, 0); err != nil {
		return fmt.Errorf("repair %s: %w", it.rel, err)
	}
	r.setRepair(it, true, what)
	return nil
}

// keepReplaced keeps the current bytes of the local file of it where
// r.Replaced says and returns a sentence that says where.
func (r *verifyRun) keepReplaced(ctx context.Context, it repairItem, key string) (string, error) {
	if r.Replaced == ReplacedBeside {
		dir, err := it.src.Writable().OpenDir(path.Dir(it.rel))
		if err != nil {
			return "", err
		}
		defer dir.Close()
		name := path.Base(it.rel)
		beside := name + ReplacedSuffix + r.opts.Now().UTC().Format("20060102T150405.000000000Z")
		if err := dir.Link(name, beside); err != nil {
			return "", err
		}
		return "its replaced bytes are kept beside it as " + path.Join(path.Dir(it.rel), beside), nil
	}
	info, err := it.src.Stat(it.rel)
	if err != nil {
		return "", err
	}
	res, err := r.Uploader.Upload(ctx, it.src.UploadJob(it.rel, key, info))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("its replaced bytes are kept as version %s of %s", res.VersionID, key), nil
}

func (r *verifyRun) setRepair(it repairItem, ok bool, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := &r.report.Findings[it.finding]
	f.Repair, f.Repaired = what, ok
}

// nestedPrefixes returns the prefixes of the other sources that back up
// into a part of src's prefix: their objects are not src's.
func nestedPrefixes(all []*local.Source, src *local.Source) []string {
	var out []string
	for _, o := range all {
		if o != src && o.Bucket == src.Bucket && len(o.Prefix) > len(src.Prefix) && strings.HasPrefix(o.Prefix, src.Prefix) {
			out = append(out, o.Prefix)
		}
	}
	return out
}

// relOf returns the path below src's root of the file whose object key is
// key; false for a key outside the prefix, below a nested source's prefix,
// or a "directory" (a key ending in "/", which consoles create).
func relOf(src *local.Source, key string, nested []string) (string, bool) {
	rel, ok := strings.CutPrefix(key, src.Prefix)
	if !ok || rel == "" || strings.HasSuffix(rel, "/") {
		return "", false
	}
	for _, n := range nested {
		if strings.HasPrefix(key, n) {
			return "", false
		}
	}
	return rel, true
}

// listDepth is how deep a listing of src's prefix may split it: down to
// its partitions, or two levels without a layout.
func listDepth(src *local.Source) int {
	if d := src.Layout.Depth(); d > 0 {
		return d
	}
	return 2
}
