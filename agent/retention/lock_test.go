package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// TestRetentionWaitsForLock: with an object-lock, the local retention
// deletes a file only once HeadObject shows its version locked in the
// source's mode until a time to come (and its replica's too, when
// required): a version uploaded before the lock, one whose lock expired,
// one locked in the other mode and one whose replica is not locked stay.
func TestRetentionWaitsForLock(t *testing.T) {
	ctx := context.Background()
	idx := index.NewMemory()
	fake := buckettest.NewFake("b", "")
	fake.Lock = &uploader.ObjectLock{}
	replica := buckettest.NewFake("replica", "")
	replica.Lock = &uploader.ObjectLock{}
	src := agenttest.NewSource(t, t.TempDir(), "")
	src.LocalRetention = time.Minute

	backedUp(t, idx, fake, src, "unlocked.wav")
	src.Lock = uploader.LockPolicy{Mode: uploader.LockCompliance, Retain: time.Second}
	backedUp(t, idx, fake, src, "expires.wav")
	src.Lock = uploader.LockPolicy{Mode: uploader.LockGovernance, Retain: time.Hour}
	backedUp(t, idx, fake, src, "governance.wav")
	src.Lock = uploader.LockPolicy{Mode: uploader.LockCompliance, Retain: time.Hour}
	backedUp(t, idx, fake, src, "locked.wav", "replicated.wav")
	time.Sleep(1100 * time.Millisecond) // expires.wav's lock ends

	sw := &retention.Sweeper{Sources: []*local.Source{src}, Index: idx, Open: func(string) uploader.Bucket { return fake }, CheckRate: 1000}
	st, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"unlocked.wav", "expires.wav", "governance.wav", "locked.wav", "replicated.wav"}
	if st.Deleted != 2 || present(t, src, all) != 3 || present(t, src, []string{"locked.wav", "replicated.wav"}) != 0 {
		t.Fatalf("sweep: %+v; want the 2 versions locked in COMPLIANCE deleted, the unlocked, expired and GOVERNANCE ones kept", st)
	}

	// With a replica required, its copy must be there and locked too.
	backedUp(t, idx, fake, src, "replicated.wav")
	rec, _, _ := idx.Get(src.ID(), "replicated.wav")
	key, _ := src.Key("replicated.wav")
	if err := fake.SetReplication(key, rec.VersionID, uploader.ReplicationCompleted); err != nil {
		t.Fatal(err)
	}
	src.Replicated, src.RequireReplica = true, true
	src.ReplicaBucket, src.ReplicaPrefix = "replica", src.Prefix
	sw.Replica = func(*local.Source) uploader.Bucket { return replica }
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if present(t, src, []string{"replicated.wav"}) != 1 {
		t.Fatal("deleted while its replica has no copy")
	}
	// A replica whose copy lacks the lock (its bucket had no Object Lock
	// when it replicated) keeps the file too, until the copy is locked.
	replica.Lock = nil
	if err := fake.Replicate(replica, key, rec.VersionID); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if present(t, src, []string{"replicated.wav"}) != 1 {
		t.Fatal("deleted while its replica's copy is not locked")
	}
	replica.Lock = &uploader.ObjectLock{}
	if err := replica.PutRetention(ctx, key, rec.VersionID, uploader.Lock{Mode: uploader.LockCompliance, RetainUntil: time.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if present(t, src, []string{"replicated.wav"}) != 0 {
		t.Error("kept although its replica is locked")
	}
}
