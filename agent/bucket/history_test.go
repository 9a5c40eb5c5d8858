package bucket

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// shiftedFixture writes, at known minutes, on a Fake that answers version
// times as VersityGW does (buckettest.Fake.ShiftedVersionTimes):
//
//	key            written                       listed (shifted)
//	once.wav       10                            10
//	late.wav       40                            40
//	overwrite.wav  10, overwritten at 30         30 (current), 30
//	deleted.wav    10, 30, deleted at 50         marker 30 (current), 50, 30
func shiftedFixture(t *testing.T) (*fixture, func(int) time.Time) {
	t.Helper()
	f := newFixture(t)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	clock := t0
	f.fake.Now = func() time.Time { return clock }
	step := func(m int) { clock = at(m) }
	step(10)
	f.put(t, "once.wav", "once", true)
	f.put(t, "overwrite.wav", "old", true)
	f.put(t, "deleted.wav", "d one", true)
	step(30)
	f.put(t, "overwrite.wav", "new", true)
	f.put(t, "deleted.wav", "d two", true)
	step(40)
	f.put(t, "late.wav", "late", true)
	step(50)
	if _, err := f.fake.Delete(context.Background(), "rec/deleted.wav", ""); err != nil {
		t.Fatal(err)
	}
	f.fake.ShiftedVersionTimes = true
	return f, at
}

// TestRestoreShiftedTimesNow: a restore of now takes the version the
// server marks current, whatever its time: the new content of an
// overwritten key, and no file for a deleted one.
func TestRestoreShiftedTimesNow(t *testing.T) {
	f, _ := shiftedFixture(t)
	to := t.TempDir()
	st, err := (&Restore{Bucket: f.fake, Prefix: "rec/", To: to}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != 3 || st.Deleted != 1 || st.Untrusted != 0 || st.Failed != 0 {
		t.Errorf("%+v; want 3 restored, 1 deleted", st)
	}
	checkTree(t, to, map[string]string{"once.wav": "once", "overwrite.wav": "new", "late.wav": "late"})
}

// TestRestoreShiftedTimesAt: restore --at between two versions of a key
// whose history S3 cannot produce (deleted.wav: its marker is older than
// the version it hides) stops for that key with a finding that names it,
// and counts it, while the other keys restore. overwrite.wav, whose two
// versions have one time, is refused before them and restored after.
func TestRestoreShiftedTimesAt(t *testing.T) {
	f, at := shiftedFixture(t)
	tests := []struct {
		at               time.Time
		files            map[string]string
		later, untrusted int64
		untrustedKeys    []string
	}{
		{at(20), map[string]string{"once.wav": "once"}, 1, 2, []string{"rec/deleted.wav", "rec/overwrite.wav"}},
		{at(45), map[string]string{"once.wav": "once", "overwrite.wav": "new", "late.wav": "late"}, 0, 1, []string{"rec/deleted.wav"}},
	}
	for _, tt := range tests {
		to := t.TempDir()
		var logs bytes.Buffer
		st, err := (&Restore{Bucket: f.fake, Prefix: "rec/", At: tt.at, To: to, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Untrusted != tt.untrusted || st.Later != tt.later || st.Restored != int64(len(tt.files)) || st.Failed != 0 {
			t.Errorf("at %s: %+v; want %d restored, %d later, %d untrusted", tt.at.Format(time.TimeOnly), st, len(tt.files), tt.later, tt.untrusted)
		}
		checkTree(t, to, tt.files)
		for _, key := range tt.untrustedKeys {
			if !strings.Contains(logs.String(), key+": not restored: the endpoint's version timestamps cannot be trusted") {
				t.Errorf("at %s: no finding for %s in the log:\n%s", tt.at.Format(time.TimeOnly), key, logs.String())
			}
		}
	}
}

// TestUntrustedHistoryEscapes: the finding names the key as a terminal
// can show it, and says what to do.
func TestUntrustedHistoryEscapes(t *testing.T) {
	msg := UntrustedHistory("rec/a\x1b[2Jb.wav", uploader.ErrImpossibleHistory)
	if !strings.HasPrefix(msg, local.Printable("rec/a\x1b[2Jb.wav")+":") || strings.Contains(msg, "\x1b") {
		t.Errorf("finding %q does not start with the escaped key", msg)
	}
	for _, what := range []string{"version ID", "replica", "report the endpoint"} {
		if !strings.Contains(msg, what) {
			t.Errorf("finding %q does not say %q", msg, what)
		}
	}
}

// TestVerifyReplicaShiftedTimes: verify --replica reports a key of the
// replica whose history S3 cannot produce, as a problem. The bucket is its
// own replica here (replication keeps version IDs).
func TestVerifyReplicaShiftedTimes(t *testing.T) {
	f, _ := shiftedFixture(t)
	f.fake.ShiftedVersionTimes = false
	f.upload(t, "ok.wav", "fine")
	f.fake.ShiftedVersionTimes = true
	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Replica: f.fake, ReplicaPrefix: "rec/"}
	rep, err := v.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep, map[string][]string{
		FindingReplicaHistory: {"deleted.wav"},
		FindingUnknown:        {"late.wav", "once.wav", "overwrite.wav"},
	})
	if rep.ReplicaHistory != 1 || rep.Problems() != 1 || rep.Unrepaired() != 1 {
		t.Errorf("%+v; want one replica-history problem, unrepaired", rep)
	}
	for _, fd := range rep.Findings {
		if fd.Kind == FindingReplicaHistory && !strings.Contains(fd.Detail, "rec/deleted.wav on the replica b/rec/: the endpoint's version timestamps cannot be trusted") {
			t.Errorf("finding %q does not name the key and the replica", fd.Detail)
		}
	}
}
