package bucket

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// LockActions are the IAM actions a source with object-lock needs beyond
// those of every upload: to lock after an upload where the store refuses
// the headers (and for retention extend), to read the lock back (the
// local retention, hold list), and for hold set and clear.
var LockActions = []string{"s3:PutObjectRetention", "s3:GetObjectRetention", "s3:PutObjectLegalHold", "s3:GetObjectLegalHold", "s3:GetBucketObjectLockConfiguration"}

// sourceLock checks the bucket's Object Lock against what src's
// object-lock asks:
//
//	bucket                                          status
//	its configuration cannot be read                error
//	no Object Lock                                  error: every upload would fail
//	a default retention of another mode or span     warning: s3ferry's uploads carry their own,
//	                                                  what others write gets the default
//	Object Lock, no default or the same one         ok
func (d *Doctor) sourceLock(ctx context.Context, src *local.Source) Check {
	c := Check{Name: "object-lock-source", Target: "s3://" + src.Bucket + "/" + src.Prefix}
	want := fmt.Sprintf("%s for %s", src.Lock.Mode, span(src.Lock.Retain))
	lock, err := d.Open(src.Bucket).ObjectLock(ctx)
	switch {
	case err != nil:
		c.Status, c.Message, c.Fix = CheckError, "the source locks its uploads ("+want+") but the bucket's Object Lock cannot be read: "+OneLine(err), "allow s3:GetBucketObjectLockConfiguration"
	case lock == nil:
		c.Status, c.Message = CheckError, "the source locks its uploads ("+want+") but the bucket has no Object Lock: every upload would fail"
		c.Fix = fmt.Sprintf("aws s3api put-object-lock-configuration --bucket %s --object-lock-configuration ObjectLockEnabled=Enabled, or drop the source's object-lock", src.Bucket)
	case lock.DefaultRetention != nil && (uploader.LockMode(lock.DefaultRetention.Mode) != src.Lock.Mode || defaultSpan(lock.DefaultRetention) != src.Lock.Retain):
		r := lock.DefaultRetention
		c.Status = CheckWarning
		c.Message = fmt.Sprintf("the bucket's default retention (%s for %s) differs from the source's object-lock (%s): s3ferry's uploads carry their own, other writers' get the default",
			r.Mode, span(defaultSpan(r)), want)
		c.Fix = "make the two agree: the source's object-lock, or aws s3api put-object-lock-configuration"
	default:
		c.Status, c.Message = CheckOK, "the bucket has Object Lock; every upload is locked in "+want
	}
	return c
}

// lockPermissions says which IAM actions a source with object-lock needs,
// and warns that GOVERNANCE protects only from credentials without
// s3:BypassGovernanceRetention: the uploader's must not have it. (S3 has
// no call that lists a caller's permissions; this check states what to
// verify in the policy.)
func (d *Doctor) lockPermissions(src *local.Source) Check {
	c := Check{Name: "object-lock-permissions", Target: "s3://" + src.Bucket + "/" + src.Prefix, Status: CheckInfo}
	c.Message = fmt.Sprintf("the credentials need %v; they should lack s3:BypassGovernanceRetention", LockActions)
	if src.Lock.Mode == uploader.LockGovernance {
		c.Status = CheckWarning
		c.Message = fmt.Sprintf("GOVERNANCE locks hold only against credentials without s3:BypassGovernanceRetention: the uploader's must lack it (and need %v)", LockActions)
		c.Fix = "check the policy of the uploader's credentials (packaging: the locks variant of the IAM policy), or lock in COMPLIANCE mode"
	}
	return c
}

// replicaLock says what the local retention of a source with object-lock,
// a local retention and require-replica checks of the replica (ok false
// for any other source):
//
//	source                 status
//	a replica named        ok: the replica's version must be locked too
//	no replica             warning: only the replication status is checked
func (d *Doctor) replicaLock(src *local.Source) (Check, bool) {
	if src.Lock.Mode == "" || src.LocalRetention <= 0 || !src.RequireReplica {
		return Check{}, false
	}
	c := Check{Name: "replica-lock", Target: "s3://" + src.Bucket + "/" + src.Prefix, Status: CheckOK}
	if src.ReplicaBucket == "" {
		c.Status = CheckWarning
		c.Message = "no replica named: the local retention checks only the replication status, not that the replica's version is locked"
		c.Fix = "set the source's replica: {destination: s3://REPLICA-BUCKET/PREFIX/} (with endpoint-url, profile, region to reach it), or --replica"
		return c, true
	}
	c.Message = fmt.Sprintf("the local retention waits for each version to be locked on the replica s3://%s/%s too", src.ReplicaBucket, src.ReplicaPrefix)
	return c, true
}

// defaultSpan is how long a default retention locks a version.
func defaultSpan(r *uploader.Retention) time.Duration {
	return time.Duration(r.Days)*24*time.Hour + time.Duration(r.Years)*365*24*time.Hour
}

// span writes a lock's duration in the units object-lock takes.
func span(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d%(365*day) == 0:
		return fmt.Sprintf("%dy", d/(365*day))
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// putProbe writes the doctor's write probe. On a bucket whose default
// retention would lock it for days, it asks for a lock of its own that
// ends within two seconds (an explicit retention replaces the default),
// so that it can be deleted once lockedUntil passed: that needs
// s3:PutObjectRetention, which the error then names.
func putProbe(ctx context.Context, b uploader.Bucket, key string, probe []byte, algo string, now func() time.Time) (w uploader.Written, lockedUntil time.Time, err error) {
	if lock, lerr := b.ObjectLock(ctx); lerr == nil && lock != nil && lock.DefaultRetention != nil {
		if sum, serr := uploader.SumChecksum(cmp.Or(algo, uploader.DefaultChecksum), probe); serr == nil {
			short := uploader.LockPolicy{Mode: uploader.LockGovernance, Retain: 2 * time.Second}.Until(now())
			w, err = b.Put(ctx, key, bytes.NewReader(probe), int64(len(probe)), uploader.PutOptions{Checksum: sum, Lock: short})
			if err != nil {
				return w, time.Time{}, fmt.Errorf("%w (the probe asks for a 2-second lock in place of the bucket's default retention, which needs s3:PutObjectRetention)", err)
			}
			return w, short.RetainUntil, nil
		}
	}
	w, err = b.Put(ctx, key, bytes.NewReader(probe), int64(len(probe)), uploader.PutOptions{})
	return w, time.Time{}, err
}
