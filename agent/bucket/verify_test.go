package bucket

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
)

// checkFindings checks that a report has exactly the findings of want:
// the paths of each kind, in any order.
func checkFindings(tb testing.TB, rep VerifyReport, want map[string][]string) {
	tb.Helper()
	got := map[string][]string{}
	for _, fd := range rep.Findings {
		got[fd.Kind] = append(got[fd.Kind], fd.Path)
	}
	for kind, paths := range want {
		slices.Sort(got[kind])
		if !slices.Equal(got[kind], paths) {
			tb.Errorf("%s: %q, want %q", kind, got[kind], paths)
		}
	}
	if len(got) != len(want) {
		tb.Errorf("findings %v, want only %v", got, want)
	}
}

// TestVerifyFindings builds every row of Verify's bucket table and checks
// the finding each gets, and that only a differing ETag costs a Head.
func TestVerifyFindings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "ok.wav", "fine")
	f.upload(t, "deleted.wav", "gone")
	if _, err := f.fake.Delete(ctx, "rec/deleted.wav", ""); err != nil {
		t.Fatal(err)
	}
	f.upload(t, "resized.wav", "short")
	f.put(t, "resized.wav", "much longer", true)
	f.upload(t, "overwritten.wav", "AAAA")
	f.put(t, "overwritten.wav", "BBBB", false) // another tool: no metadata
	f.upload(t, "rehashed.wav", "CCCC")
	f.put(t, "rehashed.wav", "DDDD", true) // s3ferry metadata of other content
	// Recorded from a multipart upload, then sent again in one piece: the
	// ETag differs, the content does not.
	same := f.upload(t, "reuploaded.wav", "same")
	same.ETag = "0123456789abcdef0123456789abcdef-2"
	if err := f.idx.Commit(f.src.ID(), "reuploaded.wav", same, 0); err != nil {
		t.Fatal(err)
	}
	f.put(t, "stranger.wav", "unknown", false)
	f.put(t, "dir/", "", false) // a console's "directory"

	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open}
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep, map[string][]string{
		FindingMissing: {"deleted.wav"},
		FindingSize:    {"resized.wav"},
		FindingContent: {"overwritten.wav", "rehashed.wav"},
		FindingUnknown: {"stranger.wav"},
	})
	if rep.Problems() != 4 || rep.Unknown != 1 || rep.Missing != 1 || rep.SizeMismatch != 1 || rep.ContentMismatch != 2 {
		t.Errorf("counts %+v: want 4 problems, 1 unknown", rep)
	}
	// ok.wav's ETag is as recorded; the three of the same size under
	// another ETag need a Head each.
	if rep.Heads != 3 || rep.Listed != 7 || rep.Records != 6 {
		t.Errorf("heads %d, listed %d, records %d; want 3, 7, 6", rep.Heads, rep.Listed, rep.Records)
	}
}

// TestVerifyRepair repairs a missing object by uploading it again and a
// damaged local file by bringing the recorded version back.
func TestVerifyRepair(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "missing.wav", "upload me again")
	if _, err := f.fake.Delete(ctx, "rec/missing.wav", ""); err != nil {
		t.Fatal(err)
	}
	rec := f.upload(t, "corrupt.wav", "good bytes")
	abs := filepath.Join(f.src.Root, "corrupt.wav")
	// Same size and mtime, other bytes: the disk damaged it.
	info, _ := os.Stat(abs)
	if err := os.WriteFile(abs, []byte("bad  bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(abs, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}

	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Deep: true, Repair: true, Uploader: agenttest.UploaderOf(f.fake)}
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != 1 || rep.LocalCorrupt != 1 || rep.Repaired != 2 || rep.Unrepaired() != 0 {
		t.Errorf("report %+v: want one missing and one local-corrupt, both repaired", rep)
	}
	if o, err := f.fake.Head(ctx, "rec/missing.wav", ""); err != nil || o.Size != int64(len("upload me again")) {
		t.Errorf("missing.wav after repair: %+v, %v; want it in the bucket", o, err)
	}
	if b, err := os.ReadFile(abs); err != nil || string(b) != "good bytes" {
		t.Errorf("corrupt.wav after repair = %q, %v; want the recorded content", b, err)
	}
	if got, ok := f.record(t, "corrupt.wav"); !ok || got.VersionID != rec.VersionID || got.Hash != rec.Hash {
		t.Errorf("record of the restored file = %+v, want version %s, hash %x", got, rec.VersionID, rec.Hash)
	}

	rep, err = (&Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Deep: true}).Run(ctx)
	if err != nil || rep.Problems() != 0 {
		t.Errorf("verify after the repair: %d problems (%+v), %v; want none", rep.Problems(), rep.Findings, err)
	}
}

// TestVerifyListingFails stops with the listing's error.
func TestVerifyListingFails(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("listing refused")
	f.fake.FailNext("List", 1, boom)
	_, err := (&Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open}).Run(context.Background())
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the listing's", err)
	}
}
