package bucket

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// ProbeDir is the folder below a source's prefix that doctor's probe
// writes in, each run in a subfolder of its own with a random name.
const ProbeDir = ".s3ferry-doctor/"

// DefaultProbeGap is the pause between the two versions the history probe
// writes: S3 lists LastModified to the second, so without it the older
// version could honestly carry the newer one's time.
const DefaultProbeGap = 1100 * time.Millisecond

// retryProbe is the fix of a probe that failed for a reason of its own.
const retryProbe = "see the write check, then run doctor --probe again"

// probeCleanupTimeout bounds the probe's clean-up, which runs on a fresh
// context: what the probe wrote is deleted even when ctx was cancelled.
const probeCleanupTimeout = 30 * time.Second

// probe is one run of the endpoint probe below a source's prefix. It
// records every version it writes and the multipart upload it starts, so
// cleanup can remove them.
type probe struct {
	b    uploader.Bucket
	algo string // upload.checksum, upper case
	root string // the source's prefix + ProbeDir
	dir  string // root + random + "/": this run's
	gap  time.Duration

	made   []uploader.Object // key and VersionID of each version written
	size   int64             // their bytes
	upload string            // the multipart upload until completed or aborted
}

// probe writes below src's prefix what an upload, a resumed upload and
// restore --at rely on, judges what the endpoint answers, and deletes it
// all again. Its checks, in order:
//
//	check           ok                                  warning                                error
//	checksum        a Put carrying upload.checksum's    not probed (denied, unreachable)       the Put refused: name another
//	                x-amz-checksum-* is accepted                                               upload.checksum
//	lock            Object Lock off: skipped; on: that   -                                      (as checksum)
//	                Put was accepted under the lock
//	history         v2 over v1: two versions, exactly    otherwise: restore --at cannot be     -
//	                one latest (v2), v1 older            trusted here
//	part-checksums  ListParts lists each part with the   other checksums, parts missing: what
//	                checksum UploadPart acknowledged     a resumed upload sends again (info
//	                                                     when listed without checksums only)
//	completion      a completion with each part's        -                                      refused: large files cannot
//	                checksum works                                                              be uploaded
//	cleanup         every version and upload removed     some left (named, with the rule
//	                                                     that removes them)
//
// The probe needs versioning Enabled (else it is skipped: the versioning
// check says what to do) and the write check's access.
func (d *Doctor) probe(ctx context.Context, src *local.Source) []Check {
	target := "s3://" + src.Bucket + "/" + src.Prefix
	b := d.Open(src.Bucket)
	if v, err := b.Versioning(ctx); err != nil || v != uploader.VersioningEnabled {
		return []Check{{Name: "probe", Status: CheckInfo, Target: target, Message: "skipped: versioning is not Enabled (see the versioning check)"}}
	}
	algo := strings.ToUpper(d.Checksum)
	if algo == "" {
		algo = uploader.DefaultChecksum
	}
	var rnd [8]byte
	rand.Read(rnd[:]) // never fails
	p := &probe{b: b, algo: algo, root: src.Prefix + ProbeDir, gap: d.ProbeGap}
	p.dir = p.root + hex.EncodeToString(rnd[:]) + "/"
	if p.gap <= 0 {
		p.gap = DefaultProbeGap
	}
	target = "s3://" + src.Bucket + "/" + p.dir

	var out []Check
	add := func(c Check) {
		c.Target = target
		out = append(out, c)
	}
	lock, lockErr := b.ObjectLock(ctx)
	v1, checksum := p.checksum(ctx)
	add(checksum)
	add(p.lock(lock, lockErr, checksum))
	if checksum.Status == CheckOK {
		add(p.history(ctx, v1))
		for _, c := range p.multipart(ctx) {
			add(c)
		}
	}
	add(p.cleanup(ctx, lock))
	return out
}

// checksum puts the history probe's first version with a checksum of the
// configured algorithm computed here, as every upload sends it.
func (p *probe) checksum(ctx context.Context) (uploader.Written, Check) {
	c := Check{Name: "checksum"}
	data := []byte("written by s3ferry doctor --probe: version 1; safe to delete\n")
	sum, err := uploader.SumChecksum(p.algo, data)
	if err != nil {
		c.Status, c.Message, c.Fix = CheckError, OneLine(err), "set upload.checksum (--checksum) to CRC32C, CRC32, CRC64NVME, SHA1 or SHA256"
		return uploader.Written{}, c
	}
	w, err := p.put(ctx, "history", data, uploader.PutOptions{Checksum: sum})
	switch r := uploader.ReasonOf(err); {
	case err == nil:
		c.Status, c.Message = CheckOK, fmt.Sprintf("a Put with x-amz-checksum-%s is accepted: the endpoint checks the bytes s3ferry hashed", strings.ToLower(p.algo))
	case r == uploader.ReasonChecksumMismatch || r == uploader.ReasonOther:
		c.Status = CheckError
		c.Message = fmt.Sprintf("a Put with x-amz-checksum-%s is refused, as every upload would be: %s", strings.ToLower(p.algo), OneLine(err))
		c.Fix = "set upload.checksum (--checksum) to another algorithm: checksum: CRC32C (the default) is the most widely supported"
		if p.algo == uploader.DefaultChecksum {
			c.Fix = "set upload.checksum (--checksum) to another algorithm the endpoint takes: checksum: CRC32 or checksum: SHA256"
		}
	default:
		c.Status, c.Message = CheckWarning, "not probed: "+OneLine(err)
		c.Fix = retryProbe
	}
	return w, c
}

// lock judges the checksum probe's Put under the bucket's Object Lock:
// with a lock, S3 wants every Put to carry Content-MD5 or an
// x-amz-checksum-*, and s3ferry sends only the latter.
func (p *probe) lock(lock *uploader.ObjectLock, err error, checksum Check) Check {
	c := Check{Name: "lock"}
	switch {
	case err != nil:
		c.Status, c.Message = CheckInfo, "skipped: the Object Lock configuration is unknown: "+OneLine(err)
	case lock == nil:
		c.Status, c.Message = CheckInfo, "skipped: Object Lock is off, and s3ferry sends no lock headers"
	case checksum.Status == CheckOK:
		c.Status, c.Message = CheckOK, fmt.Sprintf("a Put with x-amz-checksum-%s and no Content-MD5 is accepted under Object Lock", strings.ToLower(p.algo))
	case checksum.Status == CheckError:
		c.Status, c.Message, c.Fix = CheckError, "under Object Lock a Put must carry an integrity header, and the one s3ferry sends is refused (see the checksum check)", checksum.Fix
	default:
		c.Status, c.Message = CheckInfo, "not probed: see the checksum check"
	}
	return c
}

// history overwrites the first version (v1) and judges the key's history
// as ListVersions answers it: what restore --at picks versions by.
func (p *probe) history(ctx context.Context, v1 uploader.Written) Check {
	c := Check{Name: "history"}
	select {
	case <-ctx.Done():
		c.Status, c.Message, c.Fix = CheckWarning, "not probed: "+OneLine(ctx.Err()), retryProbe
		return c
	case <-time.After(p.gap):
	}
	data := []byte("written by s3ferry doctor --probe: version 2; safe to delete\n")
	v2, err := p.put(ctx, "history", data, uploader.PutOptions{})
	if err != nil {
		c.Status, c.Message, c.Fix = CheckWarning, "not probed: "+OneLine(err), retryProbe
		return c
	}
	key := p.dir + "history"
	var h uploader.History
	err = p.b.ListVersions(ctx, key, uploader.ListOptions{}, func(got uploader.History) error {
		if got.Key == key {
			h = got
		}
		return nil
	})
	if err != nil {
		c.Status, c.Message, c.Fix = CheckWarning, "not probed: "+OneLine(err), "allow s3:ListBucketVersions, then run doctor --probe again"
		return c
	}
	if problem := historyProblem(h, v1.VersionID, v2.VersionID); problem != "" {
		c.Status = CheckWarning
		c.Message = "after an overwrite, ListVersions " + problem + ": restore --at cannot be trusted on this endpoint"
		c.Fix = "no setting avoids it: restore without --at (the latest versions), or pick versions by ID (aws s3api list-object-versions)"
		return c
	}
	c.Status, c.Message = CheckOK, "an overwrite keeps the earlier version, listed as older: restore --at can pick versions by time"
	return c
}

// historyProblem says what is wrong with h, the history of a key written
// as v1 and then v2 (newer by more than a second); "" if nothing.
func historyProblem(h uploader.History, v1, v2 string) string {
	var latest []uploader.Version
	var first, second *uploader.Version
	for i, v := range h.Versions {
		if v.Latest {
			latest = append(latest, v)
		}
		switch v.VersionID {
		case v1:
			first = &h.Versions[i]
		case v2:
			second = &h.Versions[i]
		}
	}
	switch {
	case len(h.Versions) != 2 || first == nil || second == nil:
		return fmt.Sprintf("lists %d versions, not the 2 written", len(h.Versions))
	case len(latest) != 1:
		return fmt.Sprintf("marks %d versions as the latest, not 1", len(latest))
	case latest[0].VersionID != v2:
		return "marks the overwritten version as the latest"
	case !first.LastModified.Before(second.LastModified):
		return fmt.Sprintf("dates the overwritten version %s, not before its successor's %s",
			first.LastModified.UTC().Format(time.RFC3339Nano), second.LastModified.UTC().Format(time.RFC3339Nano))
	case h.Versions[0].VersionID != v2:
		return "lists the overwritten version first"
	}
	return ""
}

// multipart sends a two-part upload (the first part of S3's smallest size,
// streamed, never held in memory), asks ListParts about it, and completes
// it as every upload does: with each part's checksum. It aborts the upload
// on any failure.
func (p *probe) multipart(ctx context.Context) []Check {
	parts := Check{Name: "part-checksums"}
	done := Check{Name: "completion"}
	notProbed := func(err error) []Check {
		p.abort(ctx)
		parts.Status, parts.Message, parts.Fix = CheckWarning, "not probed: "+OneLine(err), retryProbe
		done.Status, done.Message, done.Fix = CheckWarning, "not probed: see part-checksums", retryProbe
		return []Check{parts, done}
	}
	key := p.dir + "multipart"
	id, err := p.b.CreateMultipart(ctx, key, uploader.PutOptions{})
	if err != nil {
		return notProbed(err)
	}
	p.upload = id
	sizes := []int64{uploader.MinPartSize, 1 << 10}
	var sent []uploader.Part
	for i, size := range sizes {
		part, err := p.b.UploadPart(ctx, key, id, int32(i+1), io.NewSectionReader(pattern{}, 0, size), size)
		if err != nil {
			return notProbed(err)
		}
		sent = append(sent, part)
	}
	listed, err := p.b.ListParts(ctx, key, id)
	if err != nil {
		return notProbed(err)
	}
	parts.Status, parts.Message = CheckOK, fmt.Sprintf("ListParts lists each part with its %s checksum: a resumed upload keeps the parts the endpoint holds, verified against the local bytes", p.algo)
	if problem, harmless := partsProblem(listed, sent); problem != "" {
		parts.Status, parts.Message = CheckWarning, "ListParts "+problem
		parts.Fix = "no setting avoids it; a smaller upload.part-size makes each part sent again cheaper"
		if harmless {
			parts.Status, parts.Fix = CheckInfo, ""
		}
	}

	// Fresh and resumed uploads alike complete with each part's checksum
	// (a resumed one with those it verified the kept parts against).
	w, err := p.b.CompleteMultipart(ctx, key, id, sent)
	switch {
	case err == nil:
		done.Status, done.Message = CheckOK, "a completion with each part's checksum (as s3ferry sends it, also when resuming) is accepted"
	case errors.Is(err, uploader.ErrNotFound):
		p.upload = ""
		done.Status, done.Message, done.Fix = CheckWarning, "not probed: "+OneLine(err), retryProbe
		return []Check{parts, done}
	default:
		p.abort(ctx)
		done.Status = CheckError
		done.Message = "a multipart upload cannot be completed: " + OneLine(err)
		done.Fix = fmt.Sprintf("raise upload.part-size (at most %d MiB) above the largest file, so every file goes with one Put", uploader.MaxPartSize>>20)
		return []Check{parts, done}
	}
	p.upload = ""
	p.made = append(p.made, uploader.Object{Key: key, VersionID: w.VersionID})
	p.size += sizes[0] + sizes[1]
	return []Check{parts, done}
}

// partsProblem says how listed (ListParts' answer) falls short of sent
// (UploadPart's answers) for a resumed upload, which keeps a listed part
// only if it matches the local bytes (uploader's keptParts); "" if it does
// not. harmless: s3ferry resumes as well as anywhere (parts listed without
// checksums are kept by the ETag its index recorded, and completed with
// the checksums it verified them against).
func partsProblem(listed, sent []uploader.Part) (problem string, harmless bool) {
	if len(listed) != len(sent) {
		return fmt.Sprintf("lists %d parts of the %d sent: a resumed upload may send some again", len(listed), len(sent)), false
	}
	for i, l := range listed {
		s := sent[i]
		switch {
		case l.Number != s.Number || l.Size != s.Size || l.ETag != s.ETag:
			return fmt.Sprintf("lists part %d as %d, %d bytes, ETag %s; UploadPart stored %d bytes, ETag %s", s.Number, l.Number, l.Size, l.ETag, s.Size, s.ETag), false
		case l.Checksum == "":
			return "lists parts without their checksums: a resumed upload keeps the parts whose acknowledgement its index recorded (matched by ETag) and completes with the checksums it verified; other tools may not resume here", true
		case s.Checksum != "" && l.Checksum != s.Checksum:
			return fmt.Sprintf("lists part %d with checksum %s, UploadPart acknowledged %s: a resumed upload sends every part again", s.Number, l.Checksum, s.Checksum), false
		}
	}
	return "", false
}

// put writes one version of the probe's key name and records it.
func (p *probe) put(ctx context.Context, name string, data []byte, opts uploader.PutOptions) (uploader.Written, error) {
	opts.Once = true // one attempt, one version: every version written is known
	w, err := p.b.Put(ctx, p.dir+name, bytes.NewReader(data), int64(len(data)), opts)
	if err == nil {
		p.made = append(p.made, uploader.Object{Key: p.dir + name, VersionID: w.VersionID})
		p.size += int64(len(data))
	}
	return w, err
}

// abort discards the probe's multipart upload, if any, within
// probeCleanupTimeout even when ctx is done. What it cannot abort, cleanup
// reports.
func (p *probe) abort(ctx context.Context) {
	if p.upload == "" {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeCleanupTimeout)
	defer cancel()
	if err := p.b.AbortMultipart(actx, p.dir+"multipart", p.upload); err == nil {
		p.upload = ""
	}
}

// cleanup deletes every version the probe wrote (s3:DeleteObjectVersion)
// and aborts its upload, best effort, and says what stays. A bucket with
// a default Object Lock retention keeps them until it ends.
func (p *probe) cleanup(ctx context.Context, lock *uploader.ObjectLock) Check {
	c := Check{Name: "cleanup"}
	p.abort(ctx)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeCleanupTimeout)
	defer cancel()
	var left []uploader.Object
	var firstErr error
	for _, v := range p.made {
		if _, err := p.b.Delete(actx, v.Key, v.VersionID); err != nil {
			left = append(left, v)
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if len(left) == 0 && p.upload == "" {
		c.Status, c.Message = CheckOK, fmt.Sprintf("the probe's %d versions were deleted; nothing of it stays (a replica keeps its copies: S3 does not replicate the deletion of a version)", len(p.made))
		return c
	}
	var what []string
	if len(left) > 0 {
		what = append(what, fmt.Sprintf("%d versions of the probe (%d KiB in all) stay below %s (%s)", len(left), (p.size+1023)>>10, p.dir, OneLine(firstErr)))
	}
	if p.upload != "" {
		what = append(what, fmt.Sprintf("its multipart upload %s stays until the multipart check's lifecycle rule aborts it", p.upload))
	}
	c.Status, c.Message = CheckWarning, strings.Join(what, "; ")
	if lock != nil && lock.DefaultRetention != nil {
		c.Message += "; the bucket's default Object Lock retention keeps them locked until it ends"
	}
	c.Fix = fmt.Sprintf(`allow s3:DeleteObjectVersion below the prefix for doctor, or add this lifecycle rule, which removes what the probe leaves within days (put-bucket-lifecycle-configuration replaces all rules: keep the others): {"ID":"s3ferry-doctor-probe","Status":"Enabled","Filter":{"Prefix":%q},"Expiration":{"Days":1},"NoncurrentVersionExpiration":{"NoncurrentDays":1},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}}`,
		p.root)
	return c
}

// pattern is an endless, seekable stream of bytes for the probe's parts,
// so a part of S3's smallest size is never held in memory.
type pattern struct{}

func (pattern) ReadAt(b []byte, off int64) (int, error) {
	for i := range b[:min(len(b), 251)] {
		b[i] = byte((off + int64(i)) % 251)
	}
	for n := 251; n < len(b); n *= 2 { // the bytes repeat every 251
		copy(b[n:], b[:n])
	}
	return len(b), nil
}
