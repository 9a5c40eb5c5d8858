package uploader

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LockMode is an Object Lock retention mode.
type LockMode string

// The retention modes: a GOVERNANCE lock can be shortened or removed by a
// caller allowed s3:BypassGovernanceRetention, a COMPLIANCE lock by no one
// until it expires, not even the bucket owner's root account.
const (
	LockGovernance LockMode = "GOVERNANCE"
	LockCompliance LockMode = "COMPLIANCE"
)

// ParseLockMode reads a mode, in any case.
func ParseLockMode(s string) (LockMode, error) {
	switch m := LockMode(strings.ToUpper(s)); m {
	case LockGovernance, LockCompliance:
		return m, nil
	}
	return "", fmt.Errorf("object lock mode %q: want GOVERNANCE or COMPLIANCE", s)
}

// ParseLockRetain reads how long a version is locked: days ("30d") or
// years ("7y", 365 days each, as S3's default retention counts them).
func ParseLockRetain(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	for unit, d := range map[string]time.Duration{"d": day, "y": 365 * day} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 && v <= 100*365 {
				return time.Duration(v) * d, nil
			}
		}
	}
	return 0, fmt.Errorf("object lock retain %q: want a positive number of days or years such as 30d or 7y", s)
}

// LockPolicy is how a source's uploads are locked: each new version gets
// Mode until Retain after it was sent.
type LockPolicy struct {
	Mode   LockMode
	Retain time.Duration // S3 takes whole seconds; tests use a few
}

// Lock is the retention of one version.
type Lock struct {
	Mode        LockMode
	RetainUntil time.Time
}

// IsZero says whether l is no lock.
func (l Lock) IsZero() bool { return l.Mode == "" }

// Until returns the lock of p on a version written at t.
func (p LockPolicy) Until(t time.Time) Lock {
	return Lock{Mode: p.Mode, RetainUntil: t.Add(p.Retain).UTC().Truncate(time.Second)}
}

// LockState is what HeadObject says of a version's Object Lock.
type LockState struct {
	Lock           // zero: no retention
	LegalHold bool // a legal hold is on
}

// Holds says whether s protects the version as l asks, at now: the same
// mode, until at least l.RetainUntil, and still in force.
func (s LockState) Holds(l Lock, now time.Time) bool {
	return s.Mode == l.Mode && !s.RetainUntil.Before(l.RetainUntil) && s.RetainUntil.After(now)
}

// How a version got its lock, as Result.LockVia and the index record it.
const (
	LockViaHeaders   = "headers"   // the PUT or CreateMultipartUpload carried it
	LockViaRetention = "retention" // a PutObjectRetention right after the upload
)

// ErrLockHeadersRefused means the store refused a write because it carried
// Object Lock headers (a gateway that implements PutObjectRetention but not
// the headers): the Uploader writes again without them and locks the
// version with PutObjectRetention. Match it with errors.Is.
var ErrLockHeadersRefused = errors.New("the store refuses Object Lock headers on uploads")

// ErrLocked means the version is protected by Object Lock (a retention in
// force or a legal hold): it cannot be deleted or its retention shortened.
// Match it with errors.Is.
var ErrLocked = errors.New("object is locked")

// Locker is a Bucket that sets the Object Lock of versions one by one. It
// is optional: a Bucket without it cannot lock after the upload, hold or
// extend. Both calls are idempotent.
type Locker interface {
	// PutRetention sets the retention of a version. Lengthening is always
	// allowed; shortening a GOVERNANCE retention needs
	// s3:BypassGovernanceRetention (never asked for), a COMPLIANCE one is
	// refused to everyone: ErrLocked.
	PutRetention(ctx context.Context, key, versionID string, l Lock) error
	// PutLegalHold puts (on) or removes a legal hold on a version.
	PutLegalHold(ctx context.Context, key, versionID string, on bool) error
}

// lockOf is the lock a job's upload asks for, from now; zero when its
// source locks nothing.
func lockOf(job Job) Lock {
	if job.Lock.Mode == "" {
		return Lock{}
	}
	return job.Lock.Until(time.Now())
}

// lockWritten records in res the lock of the version w that an upload
// asking for want wrote, and gives it that lock when the store refused the
// headers (res.LockVia already LockViaRetention): a PutObjectRetention of
// the version, whose failure fails the upload, so the file is not recorded
// as safe. A resumed multipart upload (resumed) was created by an earlier
// attempt with the lock of its time, which Head reads back.
//
//	case                                   lock recorded             via
//	want zero                              none                      -
//	resumed, Head shows a lock             Head's                    headers
//	headers accepted                       want                      headers
//	headers refused (or resumed unlocked)  want, by PutRetention     retention
func (u *Uploader) lockWritten(ctx context.Context, b Bucket, key string, w Written, want Lock, resumed bool, res *Result) error {
	if want.IsZero() {
		return nil
	}
	if resumed && res.LockVia == "" {
		o, err := b.Head(ctx, key, w.VersionID)
		if err != nil {
			return fmt.Errorf("read the lock of %s version %s: %w", key, w.VersionID, err)
		}
		if !o.Lock.Mode.isZero() {
			res.Lock, res.LockVia = o.Lock.Lock, LockViaHeaders
			return nil
		}
		res.LockVia = LockViaRetention
	}
	if res.LockVia != LockViaRetention {
		res.Lock, res.LockVia = want, LockViaHeaders
		return nil
	}
	l, ok := b.(Locker)
	if !ok {
		return fmt.Errorf("lock %s version %s: %w, and this store cannot lock a version after", key, w.VersionID, ErrLockHeadersRefused)
	}
	if err := l.PutRetention(ctx, key, w.VersionID, want); err != nil {
		return fmt.Errorf("lock %s version %s after its upload (the version stays, unlocked): %w", key, w.VersionID, err)
	}
	res.Lock = want
	return nil
}

func (m LockMode) isZero() bool { return m == "" }
