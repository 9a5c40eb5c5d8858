package bucket

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

func TestReplicationCheck(t *testing.T) {
	rule := func(id string, enabled bool, prefix string) uploader.ReplicationRule {
		return uploader.ReplicationRule{ID: id, Enabled: enabled, Prefix: prefix, Destination: "arn:aws:s3:::replica"}
	}
	tests := []struct {
		name  string
		rules []uploader.ReplicationRule
		want  CheckStatus
	}{
		{"whole bucket", []uploader.ReplicationRule{rule("all", true, "")}, CheckOK},
		{"the prefix", []uploader.ReplicationRule{rule("rec", true, "rec/")}, CheckOK},
		{"disabled", []uploader.ReplicationRule{rule("rec", false, "rec/")}, CheckWarning},
		{"another prefix", []uploader.ReplicationRule{rule("cams", true, "cams/")}, CheckWarning},
		{"part of the prefix", []uploader.ReplicationRule{rule("part", true, "rec/2026-")}, CheckWarning},
		{"tagged only", []uploader.ReplicationRule{{ID: "tags", Enabled: true, Tagged: true}}, CheckWarning},
		{"a covering rule after others", []uploader.ReplicationRule{rule("cams", true, "cams/"), rule("all", true, "")}, CheckOK},
	}
	for _, tt := range tests {
		if got := replicationCheck(tt.rules, "rec/"); got.Status != tt.want {
			t.Errorf("%s: status %s (%s), want %s", tt.name, got.Status, got.Message, tt.want)
		}
	}
}

// TestDoctorVerdicts runs doctor against fake buckets configured well and
// badly, and checks each verdict.
func TestDoctorVerdicts(t *testing.T) {
	healthy := func(f *buckettest.Fake) {
		f.ReplicationRules = []uploader.ReplicationRule{{ID: "all", Enabled: true, Destination: "arn:aws:s3:::replica"}}
		f.LifecycleRules = []uploader.LifecycleRule{{ID: "tidy", Enabled: true, Prefix: "rec/", AbortIncompleteDays: 7, NoncurrentDays: 90}}
		f.Lock = &uploader.ObjectLock{DefaultRetention: &uploader.Retention{Mode: "GOVERNANCE", Days: 30}}
	}
	denied := errors.New("access denied")
	tests := []struct {
		name      string
		configure func(f *buckettest.Fake)
		want      map[string]CheckStatus // by check name; a name not listed must not appear
		message   map[string]string      // a check's message must contain this
	}{
		{"healthy", healthy, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckOK, "object-lock": CheckInfo, "clock": CheckOK,
			"write": CheckOK, "probe": CheckInfo, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"probe": "doctor --probe", "object-lock": "GOVERNANCE mode for 30 days", "old-versions": "90 days", "replication": "arn:aws:s3:::replica"}},
		{"bare bucket", func(f *buckettest.Fake) {
			f.VersioningStatus = uploader.VersioningSuspended
			f.Skew = 5 * time.Minute
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckError, "object-lock": CheckInfo, "clock": CheckWarning,
			"write": CheckOK, "probe": CheckInfo, "replication": CheckWarning, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"versioning": "suspended", "object-lock": "off", "old-versions": "none kept from now on"}},
		{"never versioned, clock far off", func(f *buckettest.Fake) {
			healthy(f)
			f.VersioningStatus = ""
			f.Skew = -20 * time.Minute
			f.LifecycleRules = []uploader.LifecycleRule{{ID: "tagged", Enabled: true, Tagged: true, AbortIncompleteDays: 7}}
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckError, "object-lock": CheckInfo, "clock": CheckError,
			"write": CheckOK, "probe": CheckInfo, "replication": CheckOK, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"versioning": "never enabled", "old-versions": "none kept: versioning was never enabled"}},
		{"no credentials", func(f *buckettest.Fake) { f.CredentialsErr = uploader.ErrNoCredentials }, map[string]CheckStatus{
			"credentials": CheckError, "bucket": CheckError, "source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"bucket": "not checked"}},
		{"bucket unreachable", func(f *buckettest.Fake) { f.CheckErr = denied }, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckError, "source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"bucket": "access denied"}},
		{"write denied, config unreadable", func(f *buckettest.Fake) {
			healthy(f)
			f.FailNext("Put", 1, denied)
			f.FailNext("Replication", 1, denied)
			f.FailNext("Lifecycle", 1, denied)
			f.FailNext("ObjectLock", 1, denied)
			f.FailNext("ClockSkew", 1, denied)
			f.FailNext("Versioning", 1, denied)
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckError, "object-lock": CheckInfo, "clock": CheckWarning,
			"write": CheckError, "probe": CheckInfo, "replication": CheckWarning, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"write": "cannot write", "replication": "unknown", "object-lock": "unknown"}},
		{"uploads left", func(f *buckettest.Fake) {
			healthy(f)
			for _, key := range []string{"rec/a.wav", "rec/b.wav", "other/c.wav"} {
				if _, err := f.CreateMultipart(context.Background(), key, uploader.PutOptions{}); err != nil {
					panic(err)
				}
			}
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckOK, "object-lock": CheckInfo, "clock": CheckOK,
			"write": CheckOK, "probe": CheckInfo, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckWarning,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"uploads": "2 incomplete multipart uploads, oldest first: rec/a.wav"}},
		{"probe not deleted", func(f *buckettest.Fake) {
			healthy(f)
			f.FailNext("Delete", 1, denied)
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckOK, "object-lock": CheckInfo, "clock": CheckOK,
			"write": CheckWarning, "probe": CheckInfo, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"write": "could not be deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.configure(f.fake)
			limit := filepath.Join(t.TempDir(), "max_user_watches")
			if err := os.WriteFile(limit, []byte("8192\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, IndexDir: filepath.Join(t.TempDir(), "index"), InotifyLimit: limit}
			checks := d.Run(context.Background())
			got := map[string]Check{}
			for _, c := range checks {
				if _, dup := got[c.Name]; dup {
					t.Errorf("check %s twice", c.Name)
				}
				got[c.Name] = c
			}
			for name, want := range tt.want {
				if got[name].Status != want {
					t.Errorf("%s: %s (%s), want %s", name, got[name].Status, got[name].Message, want)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("check %s (%s) was made, want it skipped", name, got[name].Message)
				}
			}
			for name, part := range tt.message {
				if !strings.Contains(got[name].Message, part) {
					t.Errorf("%s says %q, want it to mention %q", name, got[name].Message, part)
				}
			}
			// The probe object is gone again, unless its deletion failed.
			_, err := f.fake.Head(context.Background(), "rec/"+DoctorProbeKey, "")
			if gone := errors.Is(err, uploader.ErrNotFound); gone != (tt.name != "probe not deleted") {
				t.Errorf("probe gone: %v (%v)", gone, err)
			}
		})
	}
}

// TestDoctorRetentionAndReplicated judges a source with a local retention
// against buckets that make it safe or not, and the replication the index
// tracked.
func TestDoctorRetentionAndReplicated(t *testing.T) {
	replicated := []uploader.ReplicationRule{{ID: "all", Enabled: true, Destination: "arn:aws:s3:::replica"}}
	tests := []struct {
		name       string
		versioning uploader.VersioningStatus
		rules      []uploader.ReplicationRule
		lifecycle  []uploader.LifecycleRule
		want       CheckStatus
	}{
		{"versioned and replicated", uploader.VersioningEnabled, replicated, nil, CheckOK},
		{"not versioned", uploader.VersioningSuspended, replicated, nil, CheckError},
		{"one region", uploader.VersioningEnabled, nil, nil, CheckWarning},
		{"noncurrent versions expire", uploader.VersioningEnabled, replicated, []uploader.LifecycleRule{{ID: "old", Enabled: true, NoncurrentDays: 30}}, CheckWarning},
	}
	for _, tt := range tests {
		f := newFixture(t)
		f.src.LocalRetention = 90 * 24 * time.Hour
		f.fake.VersioningStatus, f.fake.ReplicationRules, f.fake.LifecycleRules = tt.versioning, tt.rules, tt.lifecycle
		d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, Now: time.Now}
		if got := d.retention(context.Background(), f.src); got.Status != tt.want || (got.Status != CheckOK && got.Fix == "") {
			t.Errorf("%s: retention %s (%s, fix %q), want %s with a fix unless ok", tt.name, got.Status, got.Message, got.Fix, tt.want)
		}
	}

	now := time.Now()
	for _, tt := range []struct {
		name string
		sum  replication.Summary
		want CheckStatus
	}{
		{"caught up", replication.Summary{}, CheckOK},
		{"recent uploads pending", replication.Summary{Pending: 3, OldestPending: now.Add(-time.Minute)}, CheckOK},
		{"lagging", replication.Summary{Pending: 3, OldestPending: now.Add(-2 * time.Hour)}, CheckWarning},
		{"failed for good", replication.Summary{Failed: 1}, CheckWarning},
	} {
		f := newFixture(t)
		d := &Doctor{Now: func() time.Time { return now }, Replication: func(*local.Source) (replication.Summary, bool) { return tt.sum, true }}
		if got, ok := d.replicated(f.src); !ok || got.Status != tt.want {
			t.Errorf("%s: replicated %s (%s), want %s", tt.name, got.Status, got.Message, tt.want)
		}
	}
}

// TestDoctorProbe runs doctor --probe against fakes that answer as AWS
// does and as other servers do, checks each verdict and that the fix
// names the setting, and that the probe leaves nothing in the bucket.
func TestDoctorProbe(t *testing.T) {
	refusePut := func(f *buckettest.Fake) {
		f.Fail = func(op, key string) error {
			if op == "Put" && strings.Contains(key, ProbeDir) {
				return buckettest.InvalidRequest("The x-amz-checksum-crc32c header is not supported.")
			}
			return nil
		}
	}
	allOK := map[string]CheckStatus{"checksum": CheckOK, "lock": CheckInfo, "history": CheckOK, "part-checksums": CheckOK, "completion": CheckOK, "cleanup": CheckOK}
	with := func(changes map[string]CheckStatus) map[string]CheckStatus {
		out := maps.Clone(allOK)
		maps.Copy(out, changes)
		return out
	}
	tests := []struct {
		name      string
		configure func(f *buckettest.Fake)
		want      map[string]CheckStatus // by check name; a probe check not listed must not appear
		says      map[string]string      // a check's message and fix together must contain this
		leaves    int                    // versions the probe leaves behind
	}{
		{"as AWS", func(*buckettest.Fake) {}, allOK, map[string]string{"lock": "skipped", "cleanup": "nothing of it stays"}, 0},
		{"object lock", func(f *buckettest.Fake) { f.Lock = &uploader.ObjectLock{} }, with(map[string]CheckStatus{"lock": CheckOK}), nil, 0},
		{"parts listed without checksums", func(f *buckettest.Fake) { f.UnlistedPartChecksums = true },
			with(map[string]CheckStatus{"part-checksums": CheckInfo}),
			map[string]string{"part-checksums": "completes with the checksums it verified"}, 0},
		// Every completion s3ferry sends carries the part checksums when
		// ListParts lists them: nothing to warn of.
		{"part checksums required", func(f *buckettest.Fake) { f.RequirePartChecksums = true }, allOK, nil, 0},
		{"as SeaweedFS: both", func(f *buckettest.Fake) { f.UnlistedPartChecksums, f.RequirePartChecksums = true, true },
			with(map[string]CheckStatus{"part-checksums": CheckInfo}),
			map[string]string{"part-checksums": "completes with the checksums it verified"}, 0},
		{"as VersityGW: shifted version times", func(f *buckettest.Fake) { f.ShiftedVersionTimes = true },
			with(map[string]CheckStatus{"history": CheckWarning}),
			map[string]string{"history": "restore --at cannot be trusted on this endpoint"}, 0},
		{"checksum refused", refusePut,
			map[string]CheckStatus{"checksum": CheckError, "lock": CheckInfo, "cleanup": CheckOK},
			map[string]string{"checksum": "checksum: CRC32"}, 0},
		{"checksum refused under object lock", func(f *buckettest.Fake) { refusePut(f); f.Lock = &uploader.ObjectLock{} },
			map[string]CheckStatus{"checksum": CheckError, "lock": CheckError, "cleanup": CheckOK},
			map[string]string{"lock": "upload.checksum"}, 0},
		{"completion refused", func(f *buckettest.Fake) { f.FailNext("CompleteMultipart", 1, buckettest.InvalidRequest("no")) },
			with(map[string]CheckStatus{"completion": CheckError}),
			map[string]string{"completion": "upload.part-size"}, 0},
		{"part refused", func(f *buckettest.Fake) { f.FailNext("UploadPart", 1, buckettest.InternalError()) },
			with(map[string]CheckStatus{"part-checksums": CheckWarning, "completion": CheckWarning}),
			map[string]string{"part-checksums": "not probed"}, 0},
		{"versions not deletable", func(f *buckettest.Fake) {
			f.Fail = func(op, key string) error {
				if op == "Delete" && strings.Contains(key, ProbeDir) {
					return buckettest.AccessDenied()
				}
				return nil
			}
		}, with(map[string]CheckStatus{"cleanup": CheckWarning}),
			map[string]string{"cleanup": `3 versions of the probe`}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.configure(f.fake)
			d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, Probe: true, ProbeGap: time.Millisecond}
			got := map[string]Check{}
			for _, c := range d.probe(context.Background(), f.src) {
				if _, dup := got[c.Name]; dup {
					t.Errorf("check %s twice", c.Name)
				}
				if !strings.HasPrefix(c.Target, "s3://b/rec/"+ProbeDir) {
					t.Errorf("check %s: target %q, want the probe's folder", c.Name, c.Target)
				}
				got[c.Name] = c
			}
			for name, want := range tt.want {
				c := got[name]
				if c.Status != want {
					t.Errorf("%s: %s (%s), want %s", name, c.Status, c.Message, want)
				}
				if (c.Status == CheckWarning || c.Status == CheckError) && c.Fix == "" {
					t.Errorf("%s: %s without a fix (%s)", name, c.Status, c.Message)
				}
			}
			for name, c := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("check %s (%s %s) was made, want it not", name, c.Status, c.Message)
				}
			}
			for name, part := range tt.says {
				if c := got[name]; !strings.Contains(c.Message+" fix: "+c.Fix, part) {
					t.Errorf("%s says %q, fix %q; want it to mention %q", name, c.Message, c.Fix, part)
				}
			}
			left := 0
			err := f.fake.ListVersions(context.Background(), "rec/"+ProbeDir, uploader.ListOptions{}, func(h uploader.History) error {
				left += len(h.Versions)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if left != tt.leaves {
				t.Errorf("the probe left %d versions and delete markers, want %d", left, tt.leaves)
			}
			if ups := f.fake.Uploads(); len(ups) != 0 {
				t.Errorf("the probe left the multipart uploads %q", ups)
			}
		})
	}

	// Doctor runs it once per bucket, after the write check, and not when
	// it cannot write.
	for _, canWrite := range []bool{true, false} {
		f := newFixture(t)
		if !canWrite {
			f.fake.FailNext("Put", 1, buckettest.AccessDenied())
		}
		other := &local.Source{Bucket: "b", Prefix: "cams/"}
		d := &Doctor{Sources: []*local.Source{f.src, other}, Open: f.open, IndexDir: t.TempDir(), Probe: true, ProbeGap: time.Millisecond}
		var names []string
		for _, c := range d.Run(context.Background()) {
			if c.Name == "probe" || strings.Contains(c.Target, ProbeDir) {
				names = append(names, c.Name)
			}
		}
		want := []string{"checksum", "lock", "history", "part-checksums", "completion", "cleanup"}
		if !canWrite {
			want = []string{"probe"}
		}
		if !slices.Equal(names, want) {
			t.Errorf("can write %t: probe checks %q, want %q", canWrite, names, want)
		}
	}

	// Without versioning nothing is probed, and nothing written.
	f := newFixture(t)
	f.fake.VersioningStatus = uploader.VersioningSuspended
	d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, Probe: true, ProbeGap: time.Millisecond}
	if got := d.probe(context.Background(), f.src); len(got) != 1 || got[0].Name != "probe" || got[0].Status != CheckInfo {
		t.Errorf("probe of an unversioned bucket = %+v, want one info line", got)
	}
	if keys := f.fake.Keys(""); len(keys) != 0 {
		t.Errorf("probe of an unversioned bucket wrote %q", keys)
	}
}

// TestDoctorReplicaLock: a source with object-lock, a local retention and
// require-replica but no replica named is warned that only the
// replication status is checked; with a replica it is ok; without a
// retention there is no such check.
func TestDoctorReplicaLock(t *testing.T) {
	for _, tt := range []struct {
		name      string
		retention time.Duration
		replica   string
		want      CheckStatus // "": no check
	}{
		{"no replica", 24 * time.Hour, "", CheckWarning},
		{"replica", 24 * time.Hour, "replica", CheckOK},
		{"no retention", 0, "", ""},
	} {
		f := newFixture(t)
		f.fake.Lock = &uploader.ObjectLock{}
		f.src.Lock = uploader.LockPolicy{Mode: uploader.LockCompliance, Retain: 24 * time.Hour}
		f.src.LocalRetention, f.src.RequireReplica, f.src.ReplicaBucket = tt.retention, true, tt.replica
		d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, Now: time.Now}
		var got CheckStatus
		for _, c := range d.Run(context.Background()) {
			if c.Name == "replica-lock" {
				got = c.Status
				if c.Status == CheckWarning && (!strings.Contains(c.Message, "only the replication status") || c.Fix == "") {
					t.Errorf("%s: %+v, want the message to say only the replication status is checked, with a fix", tt.name, c)
				}
			}
		}
		if got != tt.want {
			t.Errorf("%s: replica-lock %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestDoctorSourceLock: a source with object-lock against a bucket
// without Object Lock is an error, against a default retention of another
// mode or span a warning, else ok; GOVERNANCE warns that the credentials
// must lack s3:BypassGovernanceRetention.
func TestDoctorSourceLock(t *testing.T) {
	policy := uploader.LockPolicy{Mode: uploader.LockGovernance, Retain: 7 * 365 * 24 * time.Hour}
	for _, tt := range []struct {
		name string
		lock *uploader.ObjectLock
		want CheckStatus
	}{
		{"no Object Lock", nil, CheckError},
		{"no default retention", &uploader.ObjectLock{}, CheckOK},
		{"same default", &uploader.ObjectLock{DefaultRetention: &uploader.Retention{Mode: "GOVERNANCE", Years: 7}}, CheckOK},
		{"other mode", &uploader.ObjectLock{DefaultRetention: &uploader.Retention{Mode: "COMPLIANCE", Years: 7}}, CheckWarning},
		{"other span", &uploader.ObjectLock{DefaultRetention: &uploader.Retention{Mode: "GOVERNANCE", Days: 30}}, CheckWarning},
	} {
		f := newFixture(t)
		f.src.Lock = policy
		f.fake.Lock = tt.lock
		d := &Doctor{Sources: []*local.Source{f.src}, Open: f.open, Now: time.Now}
		var got, perms *Check
		checks := d.Run(context.Background())
		for i, c := range checks {
			switch c.Name {
			case "object-lock-source":
				got = &checks[i]
			case "object-lock-permissions":
				perms = &checks[i]
			}
		}
		if got == nil || got.Status != tt.want || (got.Status != CheckOK && got.Fix == "") {
			t.Errorf("%s: object-lock-source %+v, want %s with a fix unless ok", tt.name, got, tt.want)
		}
		if perms == nil || perms.Status != CheckWarning || !strings.Contains(perms.Message, "s3:BypassGovernanceRetention") || !strings.Contains(perms.Message, "s3:PutObjectRetention") {
			t.Errorf("%s: object-lock-permissions %+v, want a warning about the bypass naming the actions", tt.name, perms)
		}
	}
}
