package retention_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// backedUp writes the files rels below src's root (mtime an hour ago),
// uploads each to fake with the agent's uploader and records it, as a
// sync would have.
func backedUp(tb testing.TB, idx index.Store, fake *buckettest.Fake, src *local.Source, rels ...string) {
	tb.Helper()
	up := agenttest.UploaderOf(fake)
	for _, rel := range rels {
		agenttest.WriteFile(tb, src.Root, rel, rel)
		key, err := src.Key(rel)
		if err != nil {
			tb.Fatal(err)
		}
		info, err := src.Stat(rel)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := up.Upload(context.Background(), src.UploadJob(rel, key, info))
		if err != nil {
			tb.Fatal(err)
		}
		rec := index.Record{Size: res.Size, MtimeNs: res.MtimeNs, Inode: res.Inode, Hash: res.Hash, ETag: res.ETag,
			VersionID: res.VersionID, Checksum: res.Checksum, UploadedNs: time.Now().UnixNano()}
		if err := idx.Commit(src.ID(), rel, rec, 0); err != nil {
			tb.Fatal(err)
		}
		if !res.Lock.IsZero() {
			l := index.Lock{VersionID: res.VersionID, Mode: string(res.Lock.Mode), RetainUntilNs: res.Lock.RetainUntil.UnixNano(), Via: res.LockVia}
			if err := idx.Locks().Add(src.ID(), rel, l); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func names(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%02d.wav", prefix, i))
	}
	return out
}

func present(tb testing.TB, src *local.Source, rels []string) int {
	tb.Helper()
	n := 0
	for _, rel := range rels {
		if _, err := os.Stat(filepath.Join(src.Root, rel)); err == nil {
			n++
		}
	}
	return n
}

// TestSweepGuardStopsMassDeletion: a retention pass that would delete 9
// of a source's 10 files (90%, over max-delete-fraction 0.5) deletes
// nothing and stays blocked pass after pass, until an operator confirms;
// then it deletes them and the guard clears. Raising the limit unblocks
// too.
func TestSweepGuardStopsMassDeletion(t *testing.T) {
	for _, unblock := range []string{"confirm", "raise"} {
		t.Run(unblock, func(t *testing.T) {
			idx := index.NewMemory()
			fake := buckettest.NewFake("b", "")
			src := agenttest.NewSource(t, t.TempDir(), "")
			src.LocalRetention = time.Minute
			src.MaxDeleteFraction = 0.5
			old := names("old", 9)
			backedUp(t, idx, fake, src, old...)
			backedUp(t, idx, fake, src, "new.wav")
			now := time.Now()
			if err := os.Chtimes(filepath.Join(src.Root, "new.wav"), now, now); err != nil {
				t.Fatal(err)
			}
			rec, _, _ := idx.Get(src.ID(), "new.wav")
			info, _ := src.Stat("new.wav")
			rec.MtimeNs = info.ModTime().UnixNano()
			if err := idx.Touch(src.ID(), "new.wav", rec, 0); err != nil {
				t.Fatal(err)
			}
			sw := &retention.Sweeper{Sources: []*local.Source{src}, Index: idx, Open: func(string) uploader.Bucket { return fake }, CheckRate: 1000, GuardMinRecords: 5}
			for pass := range 2 {
				st, err := sw.Sweep(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.Deleted != 0 || st.Blocked != 1 || present(t, src, old) != 9 {
					t.Fatalf("pass %d: %+v, %d of 9 old files left; want nothing deleted, blocked", pass, st, present(t, src, old))
				}
			}
			blocked, err := retention.BlockedOf(idx, sw.Sources)
			if err != nil || len(blocked) != 1 || blocked[0].Name != retention.GuardRetention || blocked[0].Deletes != 9 {
				t.Fatalf("BlockedOf = %+v, %v; want the retention guard, 9 deletes", blocked, err)
			}
			if unblock == "confirm" {
				if done, err := retention.Confirm(idx, sw.Sources); err != nil || len(done) != 1 {
					t.Fatalf("Confirm = %+v, %v", done, err)
				}
			} else {
				src.MaxDeleteFraction = -1
			}
			st, err := sw.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Deleted != 9 || st.Blocked != 0 || present(t, src, old) != 0 {
				t.Errorf("after %s: %+v, %d old files left; want 9 deleted", unblock, st, present(t, src, old))
			}
			if blocked, _ := retention.BlockedOf(idx, sw.Sources); len(blocked) != 0 {
				t.Errorf("still blocked after %s: %+v", unblock, blocked)
			}
		})
	}
}

// TestPropagateNothingFromUnmountedRoot: with propagate-deletes, a root
// emptied as an unmount empties it, or a recent partition directory gone,
// marks nothing vanished and writes no delete marker, pass after pass; the
// guard says why and clears once the tree is back.
func TestPropagateNothingFromUnmountedRoot(t *testing.T) {
	today := time.Now().Format("2006-01-02")
	yesterday := time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	for _, tc := range []struct {
		name   string
		remove []string // below the root
	}{
		{"empty root", []string{today, yesterday}},
		{"recent partition missing", []string{today}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := index.NewMemory()
			fake := buckettest.NewFake("b", "")
			src := agenttest.NewSource(t, t.TempDir(), "2006-01-02")
			src.PropagateDeletes, src.PropagateDeletesAfter = true, time.Nanosecond
			rels := append(names(today+"/a", 6), names(yesterday+"/b", 6)...)
			backedUp(t, idx, fake, src, rels...)
			sw := &retention.Sweeper{Sources: []*local.Source{src}, Index: idx, Open: func(string) uploader.Bucket { return fake }, GuardMinRecords: 10}
			if st, err := sw.Sweep(context.Background()); err != nil || st != (retention.Stats{}) {
				t.Fatalf("first sweep: %+v, %v", st, err)
			}
			for _, dir := range tc.remove {
				if err := os.RemoveAll(filepath.Join(src.Root, dir)); err != nil {
					t.Fatal(err)
				}
			}
			for pass := range 3 {
				st, err := sw.Sweep(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.Vanished != 0 || st.Propagated != 0 || st.Blocked != 1 {
					t.Fatalf("pass %d: %+v; want nothing vanished or propagated, blocked", pass, st)
				}
			}
			if n := fake.Calls("Delete"); n != 0 {
				t.Errorf("%d deletes sent to the bucket", n)
			}
			blocked, err := retention.BlockedOf(idx, sw.Sources)
			if err != nil || len(blocked) != 1 || blocked[0].Name != retention.GuardUnmounted {
				t.Fatalf("BlockedOf = %+v, %v; want the unmounted guard", blocked, err)
			}
			t.Log(blocked[0])
			if done, _ := retention.Confirm(idx, sw.Sources); len(done) != 0 {
				t.Errorf("Confirm took an unmounted-looking root: %+v", done)
			}
			for _, rel := range rels {
				agenttest.WriteFile(t, src.Root, rel, rel)
			}
			if _, err := sw.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if blocked, _ := retention.BlockedOf(idx, sw.Sources); len(blocked) != 0 {
				t.Errorf("still blocked with the tree back: %+v", blocked)
			}
		})
	}
}

// TestPropagateNothingFromAnotherDevice: a root whose device id is not
// the one the first sweep recorded (a mount came or went) propagates
// nothing; retention confirm takes the new device as the root's.
func TestPropagateNothingFromAnotherDevice(t *testing.T) {
	idx := index.NewMemory()
	fake := buckettest.NewFake("b", "")
	src := agenttest.NewSource(t, t.TempDir(), "")
	src.PropagateDeletes, src.PropagateDeletesAfter = true, time.Nanosecond
	rels := names("f", 4)
	backedUp(t, idx, fake, src, rels...)
	sw := &retention.Sweeper{Sources: []*local.Source{src}, Index: idx, Open: func(string) uploader.Bucket { return fake }}
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	// As if the first sweep had seen another file system there.
	var root index.Guard
	_ = idx.Guards().Each(src.ID(), func(p string, g index.Guard) error {
		if p == "root" {
			root = g
		}
		return nil
	})
	if root.Dev == 0 {
		t.Fatal("the first sweep recorded no device of the root")
	}
	root.Dev++
	if err := idx.Guards().Add(src.ID(), "root", root); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src.Root, rels[0])); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st, err := sw.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Vanished != 0 || st.Propagated != 0 || st.Blocked != 1 {
			t.Fatalf("sweep on another device: %+v; want nothing vanished, blocked", st)
		}
	}
	done, err := retention.Confirm(idx, sw.Sources)
	if err != nil || len(done) != 1 || done[0].Name != retention.GuardUnmounted {
		t.Fatalf("Confirm = %+v, %v; want the device change confirmed", done, err)
	}
	st, err := sw.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocked != 0 || st.Vanished != 1 {
		t.Errorf("after confirm: %+v, want the delete seen", st)
	}
}
