package bucket

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
			"write": CheckOK, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"object-lock": "GOVERNANCE mode for 30 days", "old-versions": "90 days", "replication": "arn:aws:s3:::replica"}},
		{"bare bucket", func(f *buckettest.Fake) {
			f.VersioningStatus = uploader.VersioningSuspended
			f.Skew = 5 * time.Minute
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckError, "object-lock": CheckInfo, "clock": CheckWarning,
			"write": CheckOK, "replication": CheckWarning, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"versioning": "suspended", "object-lock": "off", "old-versions": "forever"}},
		{"never versioned, clock far off", func(f *buckettest.Fake) {
			healthy(f)
			f.VersioningStatus = ""
			f.Skew = -20 * time.Minute
			f.LifecycleRules = []uploader.LifecycleRule{{ID: "tagged", Enabled: true, Tagged: true, AbortIncompleteDays: 7}}
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckError, "object-lock": CheckInfo, "clock": CheckError,
			"write": CheckOK, "replication": CheckOK, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"versioning": "never enabled"}},
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
			"write": CheckError, "replication": CheckWarning, "multipart": CheckWarning, "old-versions": CheckInfo, "uploads": CheckOK,
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
			"write": CheckOK, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckWarning,
			"source": CheckOK, "index": CheckOK, "inotify": CheckOK,
		}, map[string]string{"uploads": "2 incomplete multipart uploads, oldest first: rec/a.wav"}},
		{"probe not deleted", func(f *buckettest.Fake) {
			healthy(f)
			f.FailNext("Delete", 1, denied)
		}, map[string]CheckStatus{
			"credentials": CheckOK, "bucket": CheckOK, "versioning": CheckOK, "object-lock": CheckInfo, "clock": CheckOK,
			"write": CheckWarning, "replication": CheckOK, "multipart": CheckOK, "old-versions": CheckInfo, "uploads": CheckOK,
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
