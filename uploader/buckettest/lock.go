package buckettest

import (
	"context"
	"fmt"

	"github.com/s3ferry/s3ferry/uploader"
)

// The Fake's Object Lock, strict as AWS is where MinIO is lenient:
//
//	request                                        AWS and the Fake            MinIO
//	a write with lock headers, Lock nil            400 InvalidRequest          400
//	  (the bucket has no Object Lock)
//	a Put with lock headers and no checksum        400 InvalidRequest          accepted
//	  (neither Content-MD5 nor x-amz-checksum-*)
//	a part of a locked multipart upload without    400 InvalidRequest          accepted
//	  a checksum
//	deleting a version under a retention in force  403 AccessDenied            403
//	  or a legal hold
//	shortening a retention, or COMPLIANCE to       403 AccessDenied (without   403
//	  GOVERNANCE                                     the bypass, never asked)
//
// A part of package uploader's Bucket always carries its checksum (it is
// the contract of UploadPart), so the Fake's third row is the contract
// itself; the recording proxy of package s3test shows that the S3
// implementation sends it. With RefuseLockHeaders the Fake answers a
// write with lock headers as a store that does not implement them does.

var _ uploader.Locker = (*Fake)(nil)

// lockWrite checks a write's lock as AWS does; hasChecksum says whether
// the request carries a content checksum. Under mu or not: it reads only
// configuration.
func (f *Fake) lockWrite(l uploader.Lock, hasChecksum bool) error {
	switch {
	case l.IsZero():
		return nil
	case f.RefuseLockHeaders:
		return fmt.Errorf("%w: %w", uploader.ErrLockHeadersRefused,
			&APIError{Code: "NotImplemented", Message: "A header you provided implies functionality that is not implemented", Reason: uploader.ReasonOther, Fatal: true})
	case f.Lock == nil:
		return InvalidRequest("Bucket is missing Object Lock Configuration")
	case !hasChecksum:
		return InvalidRequest("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
	}
	return nil
}

// defaultLock is the lock a new version gets: the one asked for, else the
// bucket's default retention; under mu.
func (f *Fake) defaultLock(l uploader.Lock) uploader.Lock {
	if !l.IsZero() || f.Lock == nil || f.Lock.DefaultRetention == nil {
		return l
	}
	r := f.Lock.DefaultRetention
	return uploader.Lock{Mode: uploader.LockMode(r.Mode), RetainUntil: f.Now().AddDate(r.Years, 0, r.Days).UTC()}
}

// locked says whether v may not be deleted now; under mu.
func (f *Fake) locked(v *version) bool {
	return v.hold || (!v.lock.IsZero() && v.lock.RetainUntil.After(f.Now()))
}

func (f *Fake) PutRetention(ctx context.Context, key, versionID string, l uploader.Lock) error {
	if err := f.fail(ctx, "PutRetention", key); err != nil {
		return fmt.Errorf("put retention of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Lock == nil {
		return fmt.Errorf("put retention of %s: %w", key, InvalidRequest("Bucket is missing Object Lock Configuration"))
	}
	v, err := f.find(key, versionID)
	if err != nil {
		return fmt.Errorf("put retention of %s: %w", key, err)
	}
	cur := v.lock
	if !cur.IsZero() && cur.RetainUntil.After(f.Now()) && (l.RetainUntil.Before(cur.RetainUntil) || (cur.Mode == uploader.LockCompliance && l.Mode != uploader.LockCompliance)) {
		return fmt.Errorf("put retention of %s: %w: %w", key, uploader.ErrLocked, AccessDenied())
	}
	v.lock = l
	return nil
}

func (f *Fake) PutLegalHold(ctx context.Context, key, versionID string, on bool) error {
	if err := f.fail(ctx, "PutLegalHold", key); err != nil {
		return fmt.Errorf("put legal hold of %s: %w", key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Lock == nil {
		return fmt.Errorf("put legal hold of %s: %w", key, InvalidRequest("Bucket is missing Object Lock Configuration"))
	}
	v, err := f.find(key, versionID)
	if err != nil {
		return fmt.Errorf("put legal hold of %s: %w", key, err)
	}
	v.hold = on
	return nil
}

// Replicate copies a version of key into to under the same version ID,
// with its metadata, checksum and Object Lock, as S3 replication does; the
// source's version is then COMPLETED and the copy a REPLICA. A to without
// Object Lock (Lock nil) gets the copy unlocked, as MinIO replicates it.
func (f *Fake) Replicate(to *Fake, key, versionID string) error {
	f.mu.Lock()
	v, err := f.find(key, versionID)
	if err != nil {
		f.mu.Unlock()
		return fmt.Errorf("replicate %s: %w", key, err)
	}
	c := *v
	c.meta = copyMeta(v.meta)
	c.repl = uploader.ReplicationReplica
	v.repl = uploader.ReplicationCompleted
	f.mu.Unlock()
	to.mu.Lock()
	defer to.mu.Unlock()
	if to.Lock == nil {
		c.lock, c.hold = uploader.Lock{}, false
	}
	to.objects[key] = append(to.objects[key], &c)
	return nil
}
