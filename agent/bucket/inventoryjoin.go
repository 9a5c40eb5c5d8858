package bucket

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// invTarget is a source the report's rows are checked against, and what
// the data files told about it.
type invTarget struct {
	src    *local.Source
	nested []string
	gone   map[string]index.GoneReason // read before the rows, then only read

	mu       sync.Mutex
	spans    []invSpan // one per data file with rows of src; under mu
	unsorted bool      // some data file's rows of src are not in path order; under mu
}

// invSpan is what one data file holds of a source: the range of paths
// from its first row to its last, and how many of its rows had a record
// (less the mirrored deletes).
type invSpan struct {
	file    int
	lo, hi  string
	matched int64
}

// inventory verifies every source against the Inventory report: one pass
// over its rows, each row to the source whose prefix holds its key and
// looked up in the index with its neighbours (see fileJoin), then each
// source's index against what the report had (see inventoryRecords).
func (r *verifyRun) inventory(ctx context.Context) error {
	inv := r.Inventory
	var targets []*invTarget
	for _, src := range r.Sources {
		gone, err := r.gones(src)
		if err != nil {
			return err
		}
		targets = append(targets, &invTarget{src: src, nested: nestedPrefixes(r.Sources, src), gone: gone})
	}
	workers := r.ListWorkers
	if workers <= 0 {
		workers = uploader.DefaultListWorkers
	}
	b := r.Open(inv.Bucket)
	report, err := openInventory(ctx, b, inv.Manifest)
	if err != nil {
		return fmt.Errorf("verify against %s: %w", inv, err)
	}
	for _, t := range targets {
		if t.src.Bucket != report.SourceBucket {
			return fmt.Errorf("verify against %s: it is a report of bucket %s, not of %s (source %s): give a report of that bucket, or verify without --inventory", inv, report.SourceBucket, t.src.Bucket, t.src)
		}
	}
	listStart := time.Now()
	err = report.read(ctx, b, workers, func(ctx context.Context, i int) (func(inventoryRow) error, func() error) {
		j := &fileJoin{r: r, ctx: ctx, file: i, targets: targets, parts: make([]joinPart, len(targets))}
		return j.row, j.done
	})
	r.mu.Lock()
	r.listTime += time.Since(listStart)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("verify against %s: %w", inv, err)
	}
	for _, t := range targets {
		if err := r.inventoryRecords(ctx, report, b, workers, t); err != nil {
			return err
		}
	}
	return nil
}

// inventoryBatch is how many rows of a source a data file's join looks up
// at once.
const inventoryBatch = 1024

// fileJoin checks the rows of one data file against the index. S3 writes
// a data file's rows in key order, so a batch of them are neighbours in
// the index too, and one GetMany steps from each to the next instead of a
// Get seeking each. It notes, for each source, the span of paths the file
// holds. One goroutine owns it.
type fileJoin struct {
	r       *verifyRun
	ctx     context.Context
	file    int
	targets []*invTarget
	parts   []joinPart // by target
	listed  int64
}

// joinPart is a fileJoin's state for one source.
type joinPart struct {
	rels     []string
	rows     []inventoryRow
	recs     []index.Record
	found    []bool
	n        int64
	span     invSpan
	unsorted bool
}

func (j *fileJoin) row(row inventoryRow) error {
	j.listed++
	for i, t := range j.targets {
		rel, ok := relOf(t.src, row.Key, t.nested)
		if !ok {
			continue
		}
		p := &j.parts[i]
		switch {
		case p.n == 0:
			p.span.lo, p.span.hi = rel, rel
		case rel > p.span.hi:
			p.span.hi = rel
		default:
			p.unsorted = true
			p.span.lo = min(p.span.lo, rel)
		}
		p.n++
		p.rels = append(p.rels, rel)
		p.rows = append(p.rows, row)
		if len(p.rels) == inventoryBatch {
			return j.flush(i)
		}
		return nil
	}
	return nil
}

// flush looks up and checks the rows of target i read so far.
func (j *fileJoin) flush(i int) error {
	p, t, r := &j.parts[i], j.targets[i], j.r
	if len(p.rels) == 0 {
		return nil
	}
	p.recs = slices.Grow(p.recs[:0], len(p.rels))[:len(p.rels)]
	p.found = slices.Grow(p.found[:0], len(p.rels))[:len(p.rels)]
	err := r.Index.GetMany(t.src.ID(), p.rels, func(k int, rec index.Record, ok bool) error {
		p.recs[k], p.found[k] = rec, ok
		return nil
	})
	if err != nil {
		return fmt.Errorf("read index of %s: %w", t.src, err)
	}
	for k, rel := range p.rels {
		if !p.found[k] {
			r.unknown(t.src, rel)
			continue
		}
		if t.gone[rel] != index.GonePropagated {
			p.span.matched++
		}
		if err := r.compare(j.ctx, t.src, rel, p.rows[k].Object, p.recs[k]); err != nil {
			return err
		}
		r.inventoryFields(t.src, rel, p.rows[k], p.recs[k])
	}
	clear(p.rows)
	p.rels, p.rows = p.rels[:0], p.rows[:0]
	return nil
}

// done checks the rows left and hands each source's span to its target.
func (j *fileJoin) done() error {
	j.r.listed.Add(j.listed)
	for i, t := range j.targets {
		if err := j.flush(i); err != nil {
			return err
		}
		p := &j.parts[i]
		if p.n == 0 {
			continue
		}
		p.span.file = j.file
		t.mu.Lock()
		t.spans = append(t.spans, p.span)
		t.unsorted = t.unsorted || p.unsorted
		t.mu.Unlock()
	}
	return nil
}

// inventoryFields checks what a report's row has beside size and ETag.
func (r *verifyRun) inventoryFields(src *local.Source, rel string, row inventoryRow, rec index.Record) {
	if row.Size != rec.Size || row.ETag != rec.ETag {
		return // not s3ferry's upload: compare judged it
	}
	if row.Replication == "FAILED" {
		r.add(src, rel, Finding{Kind: FindingReplication, Problem: true,
			Detail: "its replication to the other region failed (ReplicationStatus FAILED): run s3ferry verify --repair to upload it again, which replicates the new version"}, &rec)
		return
	}
	if row.VersionID != "" && rec.VersionID != "" && row.VersionID != rec.VersionID {
		r.add(src, rel, Finding{Kind: FindingVersion,
			Detail: fmt.Sprintf("the current version is %s, s3ferry uploaded %s: the same content was written again behind its back", row.VersionID, rec.VersionID)}, nil)
	}
}

// inventoryRecords goes through t's index once for the records the report
// does not have, without holding the report's keys. When each data file's
// rows are in key order and no two files' spans overlap, as S3 writes
// them:
//
//	record                                  finding
//	in no file's span                       missing
//	in a span, as many records as rows had  (ok: each row had one)
//	in a span with more records than that   the file is read again beside
//	                                        the index: the records between
//	                                        its rows are missing
//
// Otherwise the report is read again for the hashed keys of its objects,
// 8 bytes each, and the records not among them are missing.
func (r *verifyRun) inventoryRecords(ctx context.Context, rep *inventoryReport, b uploader.Bucket, workers int, t *invTarget) error {
	spans := t.spans
	slices.SortFunc(spans, func(a, b invSpan) int { return strings.Compare(a.lo, b.lo) })
	ordered := !t.unsorted
	for i := 1; i < len(spans) && ordered; i++ {
		ordered = spans[i-1].hi < spans[i].lo
	}
	if !ordered {
		seen, err := r.newSeenSet(t.src)
		if err != nil {
			return err
		}
		err = rep.read(ctx, b, workers, func(context.Context, int) (func(inventoryRow) error, func() error) {
			return func(row inventoryRow) error {
				if rel, ok := relOf(t.src, row.Key, t.nested); ok {
					seen.add(rel)
				}
				return nil
			}, func() error { return nil }
		})
		if err != nil {
			return fmt.Errorf("verify against %s: %w", r.Inventory, err)
		}
		return r.recordsPass(ctx, t.src, t.gone, seen.has)
	}
	held := make([]int64, len(spans)) // records in each span
	err := r.recordsPass(ctx, t.src, t.gone, func(rel string) bool {
		i := sort.Search(len(spans), func(i int) bool { return spans[i].lo > rel }) - 1
		if i < 0 || rel > spans[i].hi {
			return false
		}
		held[i]++
		return true
	})
	if err != nil {
		return err
	}
	var short []invSpan
	for i, s := range spans {
		if held[i] > s.matched {
			short = append(short, s)
		}
	}
	return r.inventoryShort(ctx, rep, b, t, short)
}

// errStopWalk ends a walk of the index early.
var errStopWalk = errors.New("stop")

// inventoryShort reads again the data files whose span holds records
// none of their rows had, in path order, each beside one walk of t's
// index: the records of a span between its rows are missing.
func (r *verifyRun) inventoryShort(ctx context.Context, rep *inventoryReport, b uploader.Bucket, t *invTarget, short []invSpan) error {
	if len(short) == 0 {
		return nil
	}
	var walkErr error
	next, stop := iter.Pull2(func(yield func(string, index.Record) bool) {
		walkErr = r.Index.Records(t.src.ID(), "", func(rel string, rec index.Record) error {
			if !yield(rel, rec) {
				return errStopWalk
			}
			return nil
		})
	})
	defer stop()
	rel, rec, more := next()
	// upTo reports the records of s before key (through key, when
	// through) and steps past them.
	upTo := func(s invSpan, key string, through bool) {
		for more && (rel < key || through && rel == key) {
			if rel >= s.lo && t.gone[rel] != index.GonePropagated {
				r.missing(t.src, rel, rec)
			}
			rel, rec, more = next()
		}
	}
	for _, s := range short {
		err := rep.readFile(ctx, b, s.file, func(row inventoryRow) error {
			key, ok := relOf(t.src, row.Key, t.nested)
			if !ok {
				return nil
			}
			upTo(s, key, false)
			if more && rel == key {
				rel, rec, more = next()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("verify against %s: %w", r.Inventory, err)
		}
		upTo(s, s.hi, true)
	}
	stop()
	if walkErr != nil && !errors.Is(walkErr, errStopWalk) {
		return fmt.Errorf("read index of %s: %w", t.src, walkErr)
	}
	return nil
}
