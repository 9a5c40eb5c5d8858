package agent

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

func retrySetOf(tb testing.TB, idx index.Store, src *local.Source) []string {
	tb.Helper()
	var got []string
	if err := idx.Retries().Each(src.ID(), func(p string, _ index.Retry) error { got = append(got, p); return nil }); err != nil {
		tb.Fatal(err)
	}
	return got
}

// TestSyncRetrySet: a partition walk retries the retry set first, outside
// the look-back window too: a directory in it is walked whole, an entry
// whose file is gone is dropped, and a dry run changes nothing.
func TestSyncRetrySet(t *testing.T) {
	root, _, old := agenttest.PartitionedTree(t)
	idx := index.NewMemory()
	up, fake := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	runSync(t, &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up})
	if fake.Calls("Put") != 3 {
		t.Fatalf("first run sent %d files, want 3", fake.Calls("Put"))
	}
	// What a walk that could not read old/sub, and met gone.wav still
	// being written, left behind.
	agenttest.WriteFile(t, root, old+"/sub/deep/late.wav", "late")
	for rel, r := range map[string]index.Retry{old + "/sub": {Dir: true}, old + "/gone.wav": {Size: 1}} {
		if err := idx.Retries().Add(src.ID(), rel, r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{old + "/gone.wav", old + "/sub"}

	runSync(t, &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up, Options: Options{DryRun: true}})
	if got := retrySetOf(t, idx, src); !slices.Equal(got, want) || fake.Calls("Put") != 3 {
		t.Fatalf("after a dry run: retry set %q, %d sent; want %q and nothing sent", got, fake.Calls("Put"), want)
	}
	runSync(t, &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up})
	if !slices.Contains(fake.Keys(""), "p/"+old+"/sub/deep/late.wav") {
		t.Fatalf("sent %q, want the file below the retried directory", fake.Keys(""))
	}
	if got := retrySetOf(t, idx, src); len(got) != 0 {
		t.Fatalf("retry set %q after the retry, want empty", got)
	}
}

// TestSyncRetrySetSurvivesAMissingRoot: with the source root gone (an
// unmounted volume), the retry set is kept, not emptied as if every file
// in it had been removed.
func TestSyncRetrySetSurvivesAMissingRoot(t *testing.T) {
	root, _, old := agenttest.PartitionedTree(t)
	idx := index.NewMemory()
	up, _ := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	runSync(t, &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up})
	if err := idx.Retries().Add(src.ID(), old+"/b.wav", index.Retry{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(root, root+".gone"); err != nil {
		t.Fatal(err)
	}
	_, err := (&Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), root) {
		t.Fatalf("sync without its root: %v, want an error naming %s", err, root)
	}
	if got := retrySetOf(t, idx, src); len(got) != 1 {
		t.Fatalf("retry set %q without the root, want the entry kept", got)
	}
}
