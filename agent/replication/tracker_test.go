package replication

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// uploadTracked writes rel below src's root, puts it in b as a new version,
// records it in idx and tracks its replication, as the pipeline does;
// uploaded is the upload time recorded.
func uploadTracked(tb testing.TB, idx index.Store, b *buckettest.Fake, src *local.Source, rel, content string, uploaded time.Time) index.Record {
	tb.Helper()
	agenttest.WriteFile(tb, src.Root, rel, content)
	key, err := src.Key(rel)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := b.Put(context.Background(), key, bytes.NewReader([]byte(content)), int64(len(content)), uploader.PutOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	info, err := src.Stat(rel)
	if err != nil {
		tb.Fatal(err)
	}
	rec := local.StatOf(info).Record()
	rec.VersionID, rec.ETag, rec.Checksum, rec.UploadedNs = w.VersionID, w.ETag, w.Checksum, uploaded.UnixNano()
	if err := idx.Commit(src.ID(), rel, rec, 0); err != nil {
		tb.Fatal(err)
	}
	if err := Track(idx, src, rel, rec); err != nil {
		tb.Fatal(err)
	}
	return rec
}

// replicatedFixture is a replicated source backed up to a Fake, with an
// index.
func replicatedFixture(tb testing.TB) (*local.Source, index.Store, *buckettest.Fake) {
	tb.Helper()
	src := agenttest.NewSource(tb, tb.TempDir(), "")
	src.Replicated = true
	return src, index.NewMemory(), buckettest.NewFake(src.Bucket, "")
}

func replicaSet(tb testing.TB, idx index.Store, src *local.Source) map[string]index.Replica {
	tb.Helper()
	got := map[string]index.Replica{}
	if err := idx.Replicas().Each(src.ID(), func(p string, r index.Replica) error { got[p] = r; return nil }); err != nil {
		tb.Fatal(err)
	}
	return got
}

// TestReplicationTrackerActsOnEachStatus runs one round of checks over
// versions in each state S3 may report and checks what the tracker did.
func TestReplicationTrackerActsOnEachStatus(t *testing.T) {
	src, idx, b := replicatedFixture(t)
	now := time.Now()
	recs := map[string]index.Record{}
	for i, rel := range []string{"done.wav", "pending.wav", "nostatus.wav", "failed.wav", "changed.wav", "deleted.wav"} {
		recs[rel] = uploadTracked(t, idx, b, src, rel, rel, now.Add(-time.Duration(i+1)*time.Minute))
	}
	status := map[string]uploader.ReplicationStatus{
		"done.wav": uploader.ReplicationCompleted, "pending.wav": uploader.ReplicationPending,
		"failed.wav": uploader.ReplicationFailed, "changed.wav": uploader.ReplicationFailed,
	}
	for rel, st := range status {
		if err := b.SetReplication("p/"+rel, recs[rel].VersionID, st); err != nil {
			t.Fatal(err)
		}
	}
	agenttest.WriteFile(t, src.Root, "changed.wav", "changed since its upload")
	if _, err := b.Delete(context.Background(), "p/deleted.wav", recs["deleted.wav"].VersionID); err != nil {
		t.Fatal(err)
	}

	var resent []string
	resend := func(_ context.Context, s *local.Source, rel string, _ fs.FileInfo) error {
		resent = append(resent, rel)
		return nil
	}
	opts := Options{CheckRate: 1000, MinBackoff: time.Second, MaxBackoff: time.Hour, AlertAfter: time.Hour}
	var seen countingObserver
	tr := NewTracker(idx, []*local.Source{src}, func(string) uploader.Bucket { return b }, opts, nil, nil, resend, &seen)
	if err := tr.Round(context.Background()); err != nil {
		t.Fatal(err)
	}

	if !slices.Equal(resent, []string{"failed.wav"}) {
		t.Errorf("resent %q, want only the failed file that is unchanged", resent)
	}
	got := replicaSet(t, idx, src)
	if _, ok := got["done.wav"]; ok {
		t.Error("a COMPLETED version is still tracked")
	}
	if _, ok := got["deleted.wav"]; ok {
		t.Error("a version deleted from the bucket is still tracked")
	}
	checkedAt := time.Now()
	for _, rel := range []string{"pending.wav", "nostatus.wav"} {
		r, ok := got[rel]
		if !ok || r.Failed || r.Checks != 1 || time.Unix(0, r.CheckNs).Before(checkedAt.Add(-time.Second)) {
			t.Errorf("%s: %+v (tracked %v), want tracked, one check, the next after a back-off", rel, r, ok)
		}
	}
	if r := got["failed.wav"]; r.Failed || time.Unix(0, r.CheckNs).Before(checkedAt.Add(30*time.Minute)) {
		t.Errorf("failed.wav being sent again: %+v, want not Failed and not checked again before the max back-off", r)
	}
	if r := got["changed.wav"]; !r.Failed || r.VersionID != recs["changed.wav"].VersionID {
		t.Errorf("changed.wav: %+v, want Failed (for the manifest) with its version", r)
	}
	if seen.failed != 2 {
		t.Errorf("observed %d failed replications, want 2", seen.failed)
	}
	if len(seen.lags) != 1 {
		t.Errorf("observed %d replication lags, want 1 (done.wav)", len(seen.lags))
	}
	if s := tr.Summary(); s.Pending != 3 || s.Failed != 1 {
		t.Errorf("summary %+v, want 3 pending (pending, nostatus, failed being resent) and 1 failed", s)
	}
	if w := tr.Warning(now); !bytes.Contains([]byte(w), []byte("manifest --replication-failed")) {
		t.Errorf("warning %q, want it to name the manifest for the failed version", w)
	}
	if w := tr.Warning(now.Add(2 * time.Hour)); !bytes.Contains([]byte(w), []byte("replication lagging")) {
		t.Errorf("warning two hours on = %q, want it to say replication lags", w)
	}
}

// TestReplicationTrackerChecksNewestFirstInBatches gives the tracker more
// versions due than a batch and checks that a round asks about the newest
// only.
func TestReplicationTrackerChecksNewestFirstInBatches(t *testing.T) {
	src, idx, b := replicatedFixture(t)
	now := time.Now()
	for i := range 7 {
		rel := filepath.Join("d", string(rune('a'+i))+".wav")
		rec := uploadTracked(t, idx, b, src, rel, rel, now.Add(-time.Duration(i)*time.Minute))
		if err := b.SetReplication("p/"+rel, rec.VersionID, uploader.ReplicationCompleted); err != nil {
			t.Fatal(err)
		}
	}
	tr := NewTracker(idx, []*local.Source{src}, func(string) uploader.Bucket { return b }, Options{CheckRate: 1000, Batch: 3}, nil, nil, nil, nil)
	if err := tr.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	var left []string
	for p := range replicaSet(t, idx, src) {
		left = append(left, p)
	}
	slices.Sort(left)
	if want := []string{"d/d.wav", "d/e.wav", "d/f.wav", "d/g.wav"}; !slices.Equal(left, want) {
		t.Errorf("after one round of 3: tracked %q, want the 4 oldest %q", left, want)
	}
}

// countingObserver keeps what a tracker's checks found.
type countingObserver struct {
	failed, resent int
	lags           []time.Duration
}

func (o *countingObserver) Failed()                     { o.failed++ }
func (o *countingObserver) Resent()                     { o.resent++ }
func (o *countingObserver) Completed(lag time.Duration) { o.lags = append(o.lags, lag) }
