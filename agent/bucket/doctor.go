package bucket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/uploader"
)

// CheckStatus is the verdict of one doctor check.
type CheckStatus string

// Check statuses, from harmless to blocking. Only CheckError fails doctor.
const (
	CheckOK      CheckStatus = "ok"
	CheckInfo    CheckStatus = "info"
	CheckWarning CheckStatus = "warning"
	CheckError   CheckStatus = "error"
)

// Check is one thing doctor looked at.
type Check struct {
	Name    string      `json:"check"`
	Status  CheckStatus `json:"status"`
	Target  string      `json:"target"`        // the bucket, destination or directory checked
	Message string      `json:"message"`       // what was found
	Fix     string      `json:"fix,omitempty"` // what to do about it, one line
}

// Doctor checks that the sources can be backed up and that the bucket
// holds a real backup. Each check, per bucket or destination:
//
//	check        ok                              warning                             error
//	credentials  the SDK chain finds some        -                                   none found
//	bucket       HeadBucket answers              -                                   missing, denied, unreachable
//	write        a probe object put and deleted  the probe could not be deleted      put denied
//	versioning   Enabled                         -                                   Suspended or never enabled
//	replication  an enabled rule covers prefix   none, or it covers part or only
//	                                             tagged objects
//	multipart    a rule aborts incomplete        none (the rule to add is printed)
//	             multipart uploads
//	uploads      no incomplete multipart upload  some (listed; s3ferry resumes those its
//	             below the prefix                index knows, the rule aborts the rest)
//	clock        skew under 1 min                up to 15 min                        15 min or more (S3 refuses)
//	source       the directory can be read       -                                   cannot be read
//	index        the directory is writable       -                                   not writable
//	inotify      dirs to watch ≤ half the limit  up to the limit                     over the limit
//
// and, as info: noncurrent-version expiration (how far back restore can
// reach) and Object Lock. With Probe, per bucket, the checks of probe:
// what the endpoint does with s3ferry's checksum, a version history and a
// multipart upload. With Replication, per source:
//
//	check        ok                              warning
//	replicated   no upload waits longer than     an upload waits longer, or a version FAILED
//	             AlertAfter for its replica        and its file is gone (manifest --replication-failed)
//
// and for a source with an object-lock, the checks of doctorlock.go
// (object-lock-source, object-lock-permissions, and replica-lock with a
// local retention and require-replica); and for a source with a
// local retention (the bucket then holds the only copy of what it
// deletes):
//
//	check        ok                              warning                             error
//	retention    versioned, replicated, no       no replication rule, or a rule      versioning not Enabled
//	             noncurrent-version expiry         expires noncurrent versions Checks that need the bucket are skipped when it
//
// cannot be reached: the bucket check says why.
type Doctor struct {
	Sources []*local.Source
	// Open returns the bucket of a source, by name.
	Open     func(bucket string) uploader.Bucket
	IndexDir string
	Location *time.Location   // time zone of partition names; nil: time.Local
	Now      func() time.Time // nil: time.Now
	// InotifyLimit is the path of max_user_watches; "" is the Linux one.
	InotifyLimit string
	// Replication, when set, says where a source's uploads stand in
	// replication (from the index, or the daemon that holds it); ok is
	// false when that is unknown.
	Replication func(src *local.Source) (s replication.Summary, ok bool)
	AlertAfter  time.Duration // 0: replication.DefaultAlertAfter

	// Probe runs the endpoint probe (see probe) once per bucket, below
	// the prefix of its first source: it writes about 5 MiB and deletes
	// it again. Without it, one info line says how to run it.
	Probe bool
	// Checksum is the upload.checksum setting the probe tries; "" is
	// uploader.DefaultChecksum.
	Checksum string
	// ProbeGap is the pause between the history probe's two versions; 0:
	// DefaultProbeGap.
	ProbeGap time.Duration
}

// DoctorProbeKey is the object doctor writes below a prefix to test write
// access, and deletes (its version) again.
const DoctorProbeKey = ".s3ferry-doctor-probe"

// Run performs every check and returns them in order.
func (d *Doctor) Run(ctx context.Context) []Check {
	var out []Check
	add := func(c Check) { out = append(out, c) }
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Location == nil {
		d.Location = time.Local
	}

	// The credentials are the client's, the same for every bucket.
	credsOK := true
	if buckets := d.buckets(); len(buckets) > 0 {
		if source, err := d.Open(buckets[0]).Credentials(ctx); err != nil {
			credsOK = false
			add(Check{Name: "credentials", Status: CheckError, Message: OneLine(err), Fix: "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an instance role"})
		} else {
			msg := "found"
			if source != "" {
				msg += " (" + source + ")"
			}
			add(Check{Name: "credentials", Status: CheckOK, Message: msg})
		}
	}

	reachable := map[string]bool{}
	versioning := map[string]uploader.VersioningStatus{} // of the buckets that said
	for _, b := range d.buckets() {
		target := "s3://" + b
		if !credsOK {
			add(Check{Name: "bucket", Status: CheckError, Target: target, Message: "not checked: no credentials"})
			continue
		}
		if err := d.Open(b).Check(ctx); err != nil {
			add(Check{Name: "bucket", Status: CheckError, Target: target, Message: OneLine(err)})
			continue
		}
		reachable[b] = true
		add(Check{Name: "bucket", Status: CheckOK, Target: target, Message: "exists and answers"})
		c, status, known := d.versioning(ctx, b)
		add(c)
		if known {
			versioning[b] = status
		}
		add(d.objectLock(ctx, b))
		add(d.clock(ctx, b))
	}
	probed := map[string]bool{}
	for _, src := range d.Sources {
		if !reachable[src.Bucket] {
			continue
		}
		write := d.write(ctx, src)
		add(write)
		if !probed[src.Bucket] {
			probed[src.Bucket] = true
			switch {
			case !d.Probe:
				add(Check{Name: "probe", Status: CheckInfo, Target: "s3://" + src.Bucket,
					Message: "not run: doctor --probe tests what the endpoint can do (checksum, version history, multipart parts) with about 5 MiB below the prefix, deleted again"})
			case write.Status == CheckError:
				add(Check{Name: "probe", Status: CheckInfo, Target: "s3://" + src.Bucket, Message: "skipped: cannot write (see the write check)"})
			default:
				out = append(out, d.probe(ctx, src)...)
			}
		}
		status, known := versioning[src.Bucket]
		out = append(out, d.bucketRules(ctx, src, status, known)...)
		if c, ok := d.replicated(src); ok {
			add(c)
		}
		if src.LocalRetention > 0 {
			add(d.retention(ctx, src))
		}
		if src.Lock.Mode != "" {
			add(d.sourceLock(ctx, src))
			add(d.lockPermissions(src))
			if c, ok := d.replicaLock(src); ok {
				add(c)
			}
		}
		add(d.uploads(ctx, src))
	}
	for _, src := range d.Sources {
		if src.Root != "" {
			add(d.source(src))
			if !src.Layout.IsZero() {
				add(d.layout(src))
			}
		}
	}
	add(d.indexDir())
	add(d.inotify(ctx))
	return out
}

// buckets returns the distinct buckets of the sources, in order.
func (d *Doctor) buckets() []string {
	var out []string
	seen := map[string]bool{}
	for _, src := range d.Sources {
		if !seen[src.Bucket] {
			seen[src.Bucket] = true
			out = append(out, src.Bucket)
		}
	}
	return out
}

// versioning checks bucket's versioning, and returns its state when the
// bucket said (known).
func (d *Doctor) versioning(ctx context.Context, bucket string) (c Check, status uploader.VersioningStatus, known bool) {
	c = Check{Name: "versioning", Target: "s3://" + bucket}
	status, err := d.Open(bucket).Versioning(ctx)
	fix := fmt.Sprintf("aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled", bucket)
	switch {
	case err != nil:
		c.Status, c.Message, c.Fix = CheckError, OneLine(err), "allow s3:GetBucketVersioning, then run doctor again"
	case status == uploader.VersioningEnabled:
		c.Status, c.Message = CheckOK, "enabled: an overwrite or delete keeps the earlier version"
	case status == uploader.VersioningSuspended:
		c.Status, c.Message, c.Fix = CheckError, "suspended: an overwrite destroys the backed-up version", fix
	default:
		c.Status, c.Message, c.Fix = CheckError, "never enabled: an overwrite or delete destroys the backup", fix
	}
	return c, status, err == nil
}

func (d *Doctor) objectLock(ctx context.Context, bucket string) Check {
	c := Check{Name: "object-lock", Target: "s3://" + bucket, Status: CheckInfo}
	lock, err := d.Open(bucket).ObjectLock(ctx)
	switch {
	case err != nil:
		c.Message = "unknown: " + OneLine(err)
	case lock == nil:
		c.Message = "off: whoever may delete object versions can destroy the backup"
	case lock.DefaultRetention == nil:
		c.Message = "enabled, no default retention: versions are protected only when locked one by one"
	default:
		r := lock.DefaultRetention
		span := local.Plural(r.Days, "day", "days")
		if r.Years != 0 {
			span = local.Plural(r.Years, "year", "years")
		}
		c.Message = fmt.Sprintf("enabled: every new version is locked in %s mode for %s", r.Mode, span)
	}
	return c
}

func (d *Doctor) clock(ctx context.Context, bucket string) Check {
	c := Check{Name: "clock", Target: "s3://" + bucket}
	skew, err := d.Open(bucket).ClockSkew(ctx)
	abs := skew.Abs()
	switch {
	case err != nil:
		c.Status, c.Message = CheckWarning, "not measured: "+OneLine(err)
	case abs < time.Minute:
		c.Status, c.Message = CheckOK, fmt.Sprintf("within %s of the server", max(abs, time.Second))
	case abs < 15*time.Minute:
		c.Status, c.Message, c.Fix = CheckWarning, fmt.Sprintf("%s off the server: partition dates and restore --at times are off as much", abs), "synchronize the clock (chrony, systemd-timesyncd)"
	default:
		c.Status, c.Message, c.Fix = CheckError, fmt.Sprintf("%s off the server: S3 refuses requests signed 15 minutes or more off", abs), "synchronize the clock (chrony, systemd-timesyncd)"
	}
	return c
}

// write puts a probe object below src's prefix and deletes its version, so
// nothing stays in the bucket (a replica may keep a copy: S3 does not
// replicate the deletion of a version).
func (d *Doctor) write(ctx context.Context, src *local.Source) Check {
	key := src.Prefix + DoctorProbeKey
	c := Check{Name: "write", Target: "s3://" + src.Bucket + "/" + src.Prefix}
	b := d.Open(src.Bucket)
	probe := []byte("written by s3ferry doctor to test write access; safe to delete\n")
	w, lockedUntil, err := putProbe(ctx, b, key, probe, d.Checksum, d.Now)
	if err != nil {
		c.Status, c.Message = CheckError, "cannot write: "+OneLine(err)
		c.Fix = fmt.Sprintf("allow s3:PutObject on arn:aws:s3:::%s/%s*", src.Bucket, src.Prefix)
		return c
	}
	if wait := time.Until(lockedUntil); wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait + 100*time.Millisecond):
		}
	}
	if _, err := b.Delete(ctx, key, w.VersionID); err != nil {
		c.Status = CheckWarning
		c.Message = fmt.Sprintf("can write; the probe object %s could not be deleted (%s)", key, OneLine(err))
		c.Fix = "delete it by hand; s3ferry itself never deletes, so this is harmless"
		return c
	}
	c.Status, c.Message = CheckOK, "a probe object was written and deleted"
	return c
}

// bucketRules checks the replication and lifecycle rules that apply to
// src's prefix; versioning is its bucket's state, when known. What old
// versions the bucket keeps:
//
//	versioning            old-versions says
//	Enabled (or unknown)  kept forever, or as long as a rule keeps them
//	Suspended             none kept from now on: an overwrite replaces the object
//	never enabled         none kept: an overwrite or delete destroys the object
func (d *Doctor) bucketRules(ctx context.Context, src *local.Source, versioning uploader.VersioningStatus, known bool) []Check {
	target := "s3://" + src.Bucket + "/" + src.Prefix
	repl := Check{Name: "replication", Target: target}
	replRules, err := d.Open(src.Bucket).Replication(ctx)
	switch {
	case err != nil:
		repl.Status, repl.Message, repl.Fix = CheckWarning, "unknown: "+OneLine(err), "allow s3:GetReplicationConfiguration, then run doctor again"
	case len(replRules) == 0:
		repl.Status, repl.Message = CheckWarning, "no replication rule: the backup lives in one region"
		repl.Fix = "replicate the bucket to one in another region (aws s3api put-bucket-replication), then seed it with s3ferry manifest"
	default:
		repl = replicationCheck(replRules, src.Prefix)
		repl.Target = target
	}

	rules, lerr := d.Open(src.Bucket).Lifecycle(ctx)
	abort := Check{Name: "multipart", Target: target}
	noncurrent := Check{Name: "old-versions", Target: target, Status: CheckInfo}
	if lerr != nil {
		abort.Status, abort.Message, abort.Fix = CheckWarning, "unknown: "+OneLine(lerr), "allow s3:GetLifecycleConfiguration, then run doctor again"
		noncurrent.Message = "unknown: " + OneLine(lerr)
		return []Check{repl, abort, noncurrent}
	}
	abort.Status, abort.Message = CheckWarning, "no lifecycle rule aborts incomplete multipart uploads: parts of interrupted uploads are stored and billed forever"
	abort.Fix = fmt.Sprintf(`add this rule to the bucket's lifecycle (put-bucket-lifecycle-configuration replaces all rules: keep the others): {"ID":"s3ferry-abort-incomplete-multipart","Status":"Enabled","Filter":{"Prefix":%q},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}`, src.Prefix)
	noncurrent.Message = "old versions are kept forever: restore --at reaches back to the first upload, and storage grows with every overwrite"
	switch {
	case known && versioning == uploader.VersioningSuspended:
		noncurrent.Message = "none kept from now on: versioning is suspended, so an overwrite or delete replaces the object (see the versioning check)"
	case known && versioning != uploader.VersioningEnabled:
		noncurrent.Message = "none kept: versioning was never enabled, so an overwrite or delete destroys the object and restore --at has nothing to go back to (see the versioning check)"
	}
	for _, r := range rules {
		if !r.Enabled || r.Tagged || !strings.HasPrefix(src.Prefix, r.Prefix) {
			continue
		}
		if r.AbortIncompleteDays > 0 && abort.Status != CheckOK {
			abort.Status, abort.Fix = CheckOK, ""
			abort.Message = fmt.Sprintf("rule %q aborts incomplete multipart uploads after %s", r.ID, local.Plural(r.AbortIncompleteDays, "day", "days"))
		}
		if r.NoncurrentDays > 0 && (!known || versioning == uploader.VersioningEnabled) {
			noncurrent.Message = fmt.Sprintf("rule %q deletes a version %s after it was overwritten or deleted: restore --at reaches back that far", r.ID, local.Plural(r.NoncurrentDays, "day", "days"))
		}
	}
	return []Check{repl, abort, noncurrent}
}

// replicationCheck judges the replication rules for a prefix: the enabled
// rule of the highest priority whose filter takes every object below it.
func replicationCheck(rules []uploader.ReplicationRule, prefix string) Check {
	c := Check{Name: "replication", Status: CheckWarning,
		Message: "no enabled replication rule covers this prefix: its objects stay in one region",
		Fix:     "add a rule for the prefix (or the whole bucket) to the replication configuration"}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		switch p := r.Prefix; {
		case r.Tagged && strings.HasPrefix(prefix, p):
			c.Message = fmt.Sprintf("rule %q replicates only tagged objects, and s3ferry tags none", r.ID)
		case covers(r, prefix):
			return Check{Name: "replication", Status: CheckOK, Message: fmt.Sprintf("rule %q replicates it to %s", r.ID, r.Destination)}
		case strings.HasPrefix(p, prefix):
			c.Message = fmt.Sprintf("rule %q replicates only %s, a part of this prefix", r.ID, p)
		}
	}
	return c
}

// covers says whether rule r replicates every object s3ferry writes below
// prefix.
func covers(r uploader.ReplicationRule, prefix string) bool {
	return r.Enabled && !r.Tagged && strings.HasPrefix(prefix, r.Prefix)
}

// Replicated says whether an enabled rule of rules replicates every
// object s3ferry writes below prefix: its uploads are worth tracking.
func Replicated(rules []uploader.ReplicationRule, prefix string) bool {
	return slices.ContainsFunc(rules, func(r uploader.ReplicationRule) bool { return covers(r, prefix) })
}

func (d *Doctor) source(src *local.Source) Check {
	c := Check{Name: "source", Target: src.Root}
	if _, err := os.ReadDir(src.Root); err != nil {
		c.Status, c.Message, c.Fix = CheckError, "cannot read: "+OneLine(err), "check the path, and that the user s3ferry runs as may read it"
		return c
	}
	c.Status, c.Message = CheckOK, "readable"
	return c
}

// layout checks that the source's partition layout reads the folders of
// its tree (local.Source.CheckLayout): one that reads none makes every
// partition walk find nothing.
func (d *Doctor) layout(src *local.Source) Check {
	c := Check{Name: "layout", Target: src.Root}
	sv := src.SurveyLayout(d.Location)
	switch {
	case sv.Folders == 0:
		c.Status, c.Message = CheckOK, fmt.Sprintf("partition layout %q: no folders yet", src.Layout)
	case sv.Matched == 0:
		err := &local.LayoutError{Layout: src.Layout, Root: src.Root, Survey: sv}
		c.Status, c.Message, c.Fix = CheckError, err.Problem()+": partition walks find nothing", err.Fix()
	default:
		c.Status, c.Message = CheckOK, fmt.Sprintf("partition layout %q matches %d of %d folders, newest %q", src.Layout, sv.Matched, sv.Folders, sv.Newest)
	}
	return c
}

// indexDir checks that the index directory, or the directory it will be
// created in, is writable, without opening the index (a daemon may hold it).
func (d *Doctor) indexDir() Check {
	c := Check{Name: "index", Target: d.IndexDir}
	dir := d.IndexDir
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	f, err := os.CreateTemp(dir, ".s3ferry-doctor-*")
	if err != nil {
		c.Status, c.Message, c.Fix = CheckError, "not writable: "+OneLine(err), "create it for the user s3ferry runs as, or set --index-dir"
		return c
	}
	f.Close()
	os.Remove(f.Name())
	c.Status, c.Message = CheckOK, "writable"
	if dir != d.IndexDir {
		c.Message = "does not exist yet; will be created in " + dir + ", which is writable"
	}
	return c
}

// inotify compares the directories run would watch with the per-user limit
// of inotify watches.
func (d *Doctor) inotify(ctx context.Context) Check {
	c := Check{Name: "inotify", Target: d.InotifyLimit}
	if c.Target == "" {
		c.Target = "/proc/sys/fs/inotify/max_user_watches"
	}
	b, err := os.ReadFile(c.Target)
	if errors.Is(err, fs.ErrNotExist) {
		c.Status, c.Message = CheckInfo, "no inotify here: run finds new files by rescans only"
		return c
	}
	limit, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		c.Status, c.Message = CheckWarning, fmt.Sprintf("cannot read the limit: %v", errors.Join(err, perr))
		return c
	}
	dirs := 0
	for _, src := range d.Sources {
		if src.Root == "" {
			continue // a destination given alone: no local side to check
		}
		n, err := d.watchedDirs(ctx, src)
		if err != nil {
			c.Status, c.Message = CheckWarning, "not counted: "+OneLine(err)
			return c
		}
		dirs += n
	}
	fix := fmt.Sprintf("raise it: sysctl -w fs.inotify.max_user_watches=%d, and the same in /etc/sysctl.d/60-s3ferry.conf", max(2*dirs, 524288))
	switch {
	case dirs <= limit/2:
		c.Status, c.Message = CheckOK, fmt.Sprintf("%s to watch, limit %d", local.Plural(dirs, "directory", "directories"), limit)
	case dirs <= limit:
		c.Status, c.Message, c.Fix = CheckWarning, fmt.Sprintf("%s to watch, limit %d, shared with every program of the user", local.Plural(dirs, "directory", "directories"), limit), fix
	default:
		c.Status, c.Message, c.Fix = CheckError, fmt.Sprintf("%s to watch, limit %d: run would find new files only by rescans", local.Plural(dirs, "directory", "directories"), limit), fix
	}
	return c
}

// watchedDirs counts the directories of src that run watches now (see
// Source.Watched).
func (d *Doctor) watchedDirs(ctx context.Context, src *local.Source) (int, error) {
	now := d.Now()
	n := 0
	var count func(rel string) error
	count = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !src.Watched(rel, now, d.Location) {
			return nil
		}
		n++
		entries, err := os.ReadDir(filepath.Join(src.Root, filepath.FromSlash(rel)))
		if err != nil {
			if rel == "" {
				return err
			}
			return nil // the source check reports an unreadable root; a subdirectory is the walks' business
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := count(path.Join(rel, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return n, count("")
}

// OneLine keeps an error to one line, as every message a user meets is.
func OneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// replicated reports the replication of src's uploads as the index has
// tracked it; ok is false when nothing is known.
func (d *Doctor) replicated(src *local.Source) (Check, bool) {
	if d.Replication == nil {
		return Check{}, false
	}
	sum, ok := d.Replication(src)
	if !ok {
		return Check{}, false
	}
	alert := d.AlertAfter
	if alert <= 0 {
		alert = replication.DefaultAlertAfter
	}
	c := Check{Name: "replicated", Target: src.Destination(), Status: CheckOK}
	lag := time.Duration(0)
	if !sum.OldestPending.IsZero() {
		lag = d.Now().Sub(sum.OldestPending).Round(time.Second)
	}
	c.Message = fmt.Sprintf("%s not yet confirmed on the replica", local.Plural(sum.Pending, "upload", "uploads"))
	if lag > 0 {
		c.Message += fmt.Sprintf(", the oldest for %s", lag)
	}
	switch {
	case sum.Failed > 0:
		c.Status = CheckWarning
		c.Message += fmt.Sprintf("; %s FAILED to replicate and their files are gone or changed", local.Plural(sum.Failed, "version", "versions"))
		c.Fix = "s3ferry manifest --replication-failed --out failed.csv, then an S3 Batch Replication job with it (docs/bucket.md: Seeding a replica)"
	case lag > alert:
		c.Status = CheckWarning
		c.Fix = "check the replication rule, its IAM role and the replica bucket (aws s3api head-object --version-id shows x-amz-replication-status)"
	}
	return c, true
}

// retention judges whether the bucket is safe to be the only copy of what
// src's local retention deletes.
func (d *Doctor) retention(ctx context.Context, src *local.Source) Check {
	c := Check{Name: "retention", Target: src.Destination(), Status: CheckOK}
	b := d.Open(src.Bucket)
	days := int(src.LocalRetention / (24 * time.Hour))
	if v, err := b.Versioning(ctx); err != nil || v != uploader.VersioningEnabled {
		c.Status, c.Message = CheckError, fmt.Sprintf("local-retention deletes local files, and the bucket is not versioned (%q): an overwrite or delete in the bucket would lose the only copy", v)
		c.Fix = fmt.Sprintf("aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled, or remove local-retention", src.Bucket)
		return c
	}
	var warns []string
	if rules, err := b.Replication(ctx); err != nil || !Replicated(rules, src.Prefix) {
		warns = append(warns, "no replication rule covers the prefix: the files it deletes then live in one region only")
	}
	if rules, err := b.Lifecycle(ctx); err == nil {
		for _, r := range rules {
			if r.Enabled && r.NoncurrentDays > 0 && strings.HasPrefix(src.Prefix, r.Prefix) {
				warns = append(warns, fmt.Sprintf("rule %q expires noncurrent versions after %d days: a file deleted locally (retention %d days) whose key is then overwritten or deleted in the bucket is gone for good that much later", r.ID, r.NoncurrentDays, days))
			}
		}
	}
	if len(warns) > 0 {
		c.Status, c.Message = CheckWarning, strings.Join(warns, "; ")
		c.Fix = "replicate the prefix and keep noncurrent versions as long as you may need the deleted files, or remove local-retention"
		return c
	}
	c.Message = fmt.Sprintf("files older than %s are deleted locally once versioned and replicated in the bucket", local.Plural(days, "day", "days"))
	return c
}

// maxListedUploads is how many incomplete uploads the uploads check names.
const maxListedUploads = 3

// uploads lists the multipart uploads in progress below a source's prefix:
// those of a running or interrupted s3ferry (its index knows them: the
// next start resumes or aborts them) and any other writer's. Doctor does
// not read the index, which a running daemon holds, so it cannot tell
// them apart; it names them for a person to judge.
func (d *Doctor) uploads(ctx context.Context, src *local.Source) Check {
	c := Check{Name: "uploads", Target: "s3://" + src.Bucket + "/" + src.Prefix}
	var ups []uploader.MultipartUpload
	err := d.Open(src.Bucket).ListMultipartUploads(ctx, src.Prefix, func(u uploader.MultipartUpload) error {
		ups = append(ups, u)
		return nil
	})
	switch {
	case err != nil:
		c.Status, c.Message, c.Fix = CheckWarning, "unknown: "+OneLine(err), "allow s3:ListBucketMultipartUploads, then run doctor again"
	case len(ups) == 0:
		c.Status, c.Message = CheckOK, "no incomplete multipart uploads"
	default:
		slices.SortFunc(ups, func(a, b uploader.MultipartUpload) int { return a.Initiated.Compare(b.Initiated) })
		var names []string
		for _, u := range ups[:min(len(ups), maxListedUploads)] {
			names = append(names, fmt.Sprintf("%s (started %s, upload %s)", u.Key, u.Initiated.UTC().Format(time.RFC3339), u.ID))
		}
		c.Status = CheckWarning
		c.Message = fmt.Sprintf("%d incomplete multipart uploads, oldest first: %s", len(ups), strings.Join(names, ", "))
		c.Fix = "s3ferry resumes or aborts the ones it started at its next start; abort others with aws s3api abort-multipart-upload, or let the multipart check's lifecycle rule do it"
	}
	return c
}
