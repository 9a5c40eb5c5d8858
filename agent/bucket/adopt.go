package bucket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// AdoptStats counts what Adopt did with the objects it listed.
type AdoptStats struct {
	Listed     int64   `json:"listed"`     // current objects below the sources' prefixes
	Adopted    int64   `json:"adopted"`    // recorded in the index: sync will not upload them
	Known      int64   `json:"known"`      // already in the index
	Differs    int64   `json:"differs"`    // the local file differs in size or content: sync uploads it
	Unverified int64   `json:"unverified"` // same size, content not comparable (multipart ETag, no s3ferry metadata)
	NotLocal   int64   `json:"not_local"`  // no local file (deleted locally, or never there)
	Excluded   int64   `json:"excluded"`   // not a file the source backs up
	Deferred   int64   `json:"deferred"`   // changed less than settle ago: left for sync
	Failed     int64   `json:"failed"`     // could not be read; each is logged
	Heads      int64   `json:"heads"`      // objects asked for their metadata
	BytesRead  int64   `json:"bytes_read"` // local bytes hashed
	Seconds    float64 `json:"seconds"`
}

// Adopt takes over a bucket that another tool (aws s3 sync, rclone, mc
// mirror) filled from the same tree: it lists each source's prefix once and
// records in the index every local file whose object already holds it, so
// the first sync uploads only what is really missing. A file counts as in
// the bucket when:
//
//	size     content check                                     result
//	differs  -                                                 differs
//	same     TrustSize                                         adopted (content not compared)
//	same     the object's ETag is the MD5 of the file, or its
//	         multipart ETag under a usual part size            adopted
//	same     the object's s3ferry xxhash64 metadata matches    adopted
//	same     the ETag is a plain MD5 of other bytes, or the
//	         xxhash64 metadata differs                         differs
//	same     nothing to compare (multipart ETag of an unusual
//	         part size, or SSE-KMS, without s3ferry metadata)  unverified
//
// A record made with TrustSize has hash 0: no content is known, so a
// later change of the file's metadata makes sync upload it, and verify
// --deep does not compare it. Adopt records no full walk: the first sync
// still walks the whole tree, and finds the files the bucket lacks.
type Adopt struct {
	Sources []*local.Source
	Index   index.Store
	// Open returns the bucket of a source, by name.
	Open        func(bucket string) uploader.Bucket
	TrustSize   bool
	Options     agent.Options // Workers: local files read at once; Settle; Logger; Now
	ListWorkers int           // listings at once; 0: uploader.DefaultListWorkers
}

type adoptRun struct {
	*Adopt
	opts                                                                      agent.Options
	listed, adopted, known, differs, unverified, notLocal, excluded, deferred atomic.Int64
	failed, heads, bytesRead                                                  atomic.Int64
}

// adoptJob is the current version of one object, for a local file.
type adoptJob struct {
	src *local.Source
	rel string
	key string
	v   uploader.Version
}

// Run adopts every source. Its error is one that stopped it (listing,
// index, ctx); files that could not be read are counted and logged.
func (a *Adopt) Run(ctx context.Context) (AdoptStats, error) {
	r := &adoptRun{Adopt: a, opts: a.Options.WithDefaults()}
	start := r.opts.Now()
	var err error
	for _, src := range a.Sources {
		if err = r.source(ctx, src); err != nil {
			break
		}
	}
	return AdoptStats{
		Listed: r.listed.Load(), Adopted: r.adopted.Load(), Known: r.known.Load(), Differs: r.differs.Load(),
		Unverified: r.unverified.Load(), NotLocal: r.notLocal.Load(), Excluded: r.excluded.Load(),
		Deferred: r.deferred.Load(), Failed: r.failed.Load(), Heads: r.heads.Load(), BytesRead: r.bytesRead.Load(),
		Seconds: r.opts.Now().Sub(start).Seconds(),
	}, err
}

// source lists one source's prefix (versions, for each object's version
// ID) and hands each current object to a pool that compares it with its
// local file.
func (r *adoptRun) source(ctx context.Context, src *local.Source) error {
	nested := nestedPrefixes(r.Sources, src)
	return agent.RunPool(ctx, r.opts.Workers, func(ctx context.Context, send func(adoptJob) error) error {
		return r.Open(src.Bucket).ListVersions(ctx, src.Prefix, uploader.ListOptions{Workers: r.ListWorkers, Depth: listDepth(src)},
			func(h uploader.History) error {
				v, ok, err := h.Latest()
				if !ok && err == nil {
					return nil // deleted in the bucket
				}
				r.listed.Add(1)
				rel, ok := relOf(src, h.Key, nested)
				if !ok {
					return nil
				}
				if err != nil {
					r.fail(src, rel, fmt.Errorf("key %s: %w", local.Printable(h.Key), err))
					return nil
				}
				return send(adoptJob{src: src, rel: rel, key: h.Key, v: v})
			})
	}, r.adopt)
}

// adopt compares one object with its local file and records it when they
// match; see the table on Adopt.
func (r *adoptRun) adopt(ctx context.Context, j adoptJob) error {
	src, rel := j.src, j.rel
	if !src.Filter.File(rel) {
		r.excluded.Add(1)
		return nil
	}
	id := src.ID()
	if _, known, err := r.Index.Get(id, rel); err != nil {
		return fmt.Errorf("read index for %s: %w", rel, err)
	} else if known {
		r.known.Add(1)
		return nil
	}
	info, err := src.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.notLocal.Add(1)
		return nil
	case err != nil:
		r.fail(src, rel, err)
		return nil
	case !info.Mode().IsRegular():
		r.excluded.Add(1)
		return nil
	case info.Size() != j.v.Size:
		r.differs.Add(1)
		return nil
	case r.opts.Now().Sub(info.ModTime()) < r.opts.Settle:
		r.deferred.Add(1)
		return nil
	}
	st := local.StatOf(info)
	var hash uint64
	if !r.TrustSize {
		var ok bool
		if hash, st, ok, err = r.sameContent(ctx, j); err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	rec := index.Record{
		Size: st.Size, MtimeNs: st.MtimeNs, Inode: st.Inode, Hash: hash,
		ETag: j.v.ETag, VersionID: j.v.VersionID, UploadedNs: j.v.LastModified.UnixNano(),
	}
	if rec.VersionID == "null" {
		rec.VersionID = "" // written while versioning was off, as an upload records it
	}
	if err := r.Index.Commit(id, rel, rec, 0); err != nil {
		return fmt.Errorf("record %s: %w", rel, err)
	}
	r.adopted.Add(1)
	return nil
}

// sameContent reads the local file of j and decides whether the object
// holds the same bytes. ok false means it does not or cannot tell; the
// outcome is counted. st is the file's stat as it was read.
func (r *adoptRun) sameContent(ctx context.Context, j adoptJob) (hash uint64, st local.FileStat, ok bool, err error) {
	etag := uploader.NewETagMatcher(j.v.ETag, j.v.Size)
	var meta uint64
	hasMeta, asked := false, false
	if !etag.Known() {
		// Only the metadata can tell: ask for it before reading the file.
		if meta, hasMeta, ok, err = r.metaHash(ctx, j); !ok || err != nil {
			return 0, local.FileStat{}, false, err
		}
		if !hasMeta {
			r.unverified.Add(1)
			return 0, local.FileStat{}, false, nil
		}
		asked = true
	}
	hash, st, err = j.src.HashFile(ctx, j.rel, etag)
	if err != nil {
		if ctx.Err() != nil {
			return 0, local.FileStat{}, false, ctx.Err()
		}
		r.fail(j.src, j.rel, err)
		return 0, local.FileStat{}, false, nil
	}
	r.bytesRead.Add(st.Size)
	verdict := etag.Verdict()
	if verdict == uploader.ETagMatch {
		return hash, st, true, nil
	}
	if !asked {
		if meta, hasMeta, ok, err = r.metaHash(ctx, j); !ok || err != nil {
			return 0, local.FileStat{}, false, err
		}
	}
	switch {
	case hasMeta && meta == hash:
		return hash, st, true, nil
	case hasMeta || verdict == uploader.ETagMismatch:
		r.differs.Add(1)
	default:
		r.unverified.Add(1)
	}
	return 0, local.FileStat{}, false, nil
}

// metaHash returns the s3ferry xxhash64 metadata of j's version; has is
// false when it has none. ok is false when the request failed and was
// counted; err is an error that stops the run.
func (r *adoptRun) metaHash(ctx context.Context, j adoptJob) (hash uint64, has, ok bool, err error) {
	r.heads.Add(1)
	o, err := r.Open(j.src.Bucket).Head(ctx, j.key, j.v.VersionID)
	if err != nil {
		if ctx.Err() != nil || uploader.Fatal(err) {
			return 0, false, false, err
		}
		r.fail(j.src, j.rel, err)
		return 0, false, false, nil
	}
	hash, has = uploader.ParseMetaHash(o.Metadata)
	return hash, has, true, nil
}

func (r *adoptRun) fail(src *local.Source, rel string, err error) {
	r.failed.Add(1)
	r.opts.Logger.Error("cannot adopt", "source", src.Root, "path", rel, "err", err)
}
