package bucket

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
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

// rewriteKeepingMtime writes content over the local file rel, of the same
// size, and gives it back its mtime: a damaged disk, or an editor that
// keeps the mtime.
func (f *fixture) rewriteKeepingMtime(tb testing.TB, rel, content string) string {
	tb.Helper()
	abs := filepath.Join(f.src.Root, rel)
	info, err := os.Stat(abs)
	if err != nil {
		tb.Fatal(err)
	}
	if info.Size() != int64(len(content)) {
		tb.Fatalf("%s has %d bytes, %q %d", rel, info.Size(), content, len(content))
	}
	if err := os.WriteFile(abs, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(abs, info.ModTime(), info.ModTime()); err != nil {
		tb.Fatal(err)
	}
	return abs
}

// versionsHolding returns the IDs of the versions of key whose content is
// content.
func (f *fixture) versionsHolding(tb testing.TB, key, content string) []string {
	tb.Helper()
	ctx := context.Background()
	var ids []string
	err := f.fake.ListVersions(ctx, key, uploader.ListOptions{}, func(h uploader.History) error {
		for _, v := range h.Versions {
			if h.Key != key || v.Deleted {
				continue
			}
			body, _, err := f.fake.Get(ctx, key, v.VersionID, 0, -1)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(body)
			body.Close()
			if err != nil {
				return err
			}
			if string(b) == content {
				ids = append(ids, v.VersionID)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// TestVerifyRepair repairs a missing object by uploading it again and a
// damaged local file by bringing the recorded version back, after keeping
// its bytes as a version of its key: verify cannot tell damage from an
// edit that kept the mtime, so the repair must not destroy them. The
// temporary file a killed repair of the same file left beside it goes.
func TestVerifyRepair(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "missing.wav", "upload me again")
	if _, err := f.fake.Delete(ctx, "rec/missing.wav", ""); err != nil {
		t.Fatal(err)
	}
	rec := f.upload(t, "corrupt.wav", "good bytes")
	abs := f.rewriteKeepingMtime(t, "corrupt.wav", "bad  bytes")
	leftover := filepath.Join(filepath.Dir(abs), ".s3ferry-00112233445566ff.tmp")
	if err := os.WriteFile(leftover, []byte("good b"), 0o600); err != nil {
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
	if _, err := os.Lstat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary file of a killed repair is still beside corrupt.wav: %v", err)
	}
	kept := f.versionsHolding(t, "rec/corrupt.wav", "bad  bytes")
	if len(kept) != 1 {
		t.Fatalf("versions of rec/corrupt.wav holding the replaced bytes: %q, want one", kept)
	}
	for _, fd := range rep.Findings {
		if fd.Kind == FindingLocalCorrupt && !strings.Contains(fd.Repair, "kept as version "+kept[0]) {
			t.Errorf("repair of corrupt.wav says %q, want where its bytes are (version %s)", fd.Repair, kept[0])
		}
	}
	cur, err := f.fake.Head(ctx, "rec/corrupt.wav", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := f.record(t, "corrupt.wav"); !ok || got.VersionID != cur.VersionID || got.Hash != rec.Hash {
		t.Errorf("record of the restored file = %+v, want the current version %s, hash %x", got, cur.VersionID, rec.Hash)
	}
	if got := f.versionsHolding(t, "rec/corrupt.wav", "good bytes"); len(got) != 2 || got[0] != cur.VersionID {
		t.Errorf("versions holding the recorded content: %q, want the current one %s and the first upload", got, cur.VersionID)
	}

	rep, err = (&Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Deep: true}).Run(ctx)
	if err != nil || rep.Problems() != 0 {
		t.Errorf("verify after the repair: %d problems (%+v), %v; want none", rep.Problems(), rep.Findings, err)
	}
}

// TestVerifyRepairKeepsBeside: with ReplacedBeside, the bytes of the file
// the repair replaces stay beside it, under a name that says so.
func TestVerifyRepairKeepsBeside(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec := f.upload(t, "d/edited.wav", "first take")
	abs := f.rewriteKeepingMtime(t, "d/edited.wav", "second tak")
	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Deep: true, Repair: true,
		Uploader: agenttest.UploaderOf(f.fake), Replaced: ReplacedBeside}
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LocalCorrupt != 1 || rep.Repaired != 1 {
		t.Fatalf("report %+v: want one local-corrupt, repaired", rep)
	}
	if b, err := os.ReadFile(abs); err != nil || string(b) != "first take" {
		t.Errorf("edited.wav after repair = %q, %v; want the recorded content", b, err)
	}
	beside, err := filepath.Glob(abs + ReplacedSuffix + "*")
	if err != nil || len(beside) != 1 {
		t.Fatalf("files beside it: %q, %v; want one", beside, err)
	}
	if b, err := os.ReadFile(beside[0]); err != nil || string(b) != "second tak" {
		t.Errorf("%s = %q, %v; want the replaced bytes", beside[0], b, err)
	}
	rel, _ := filepath.Rel(f.src.Root, beside[0])
	if got := rep.Findings[0].Repair; !strings.Contains(got, rel) {
		t.Errorf("repair says %q, want the name %s", got, rel)
	}
	if got, ok := f.record(t, "d/edited.wav"); !ok || got.VersionID != rec.VersionID {
		t.Errorf("record = %+v, want the recorded version %s", got, rec.VersionID)
	}
	if n := len(f.versionsHolding(t, "rec/d/edited.wav", "second tak")); n != 0 {
		t.Errorf("%d versions of the replaced bytes in the bucket, want none", n)
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

// TestVerifyReportsFilesBehind: a file queued and never uploaded, and one
// in the retry set, are problems verify names, not "0 missing".
func TestVerifyReportsFilesBehind(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "d/ok.wav", "fine")
	if _, err := f.idx.Queue(f.src.ID(), "d/queued.wav"); err != nil {
		t.Fatal(err)
	}
	if err := f.idx.Retries().Add(f.src.ID(), "d/failing.wav", index.Retry{Size: 3, SeenNs: time.Now().Add(-time.Hour).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	rep, err := (&Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pending != 1 || rep.Retrying != 1 || rep.Problems() != 2 || rep.Missing != 0 {
		t.Fatalf("report %+v: want one pending and one retrying file, two problems", rep)
	}
	kinds := map[string]string{}
	for _, fd := range rep.Findings {
		if !fd.Problem {
			t.Errorf("finding %+v is not a problem", fd)
		}
		kinds[fd.Path] = fd.Kind
	}
	if kinds["d/queued.wav"] != FindingPending || kinds["d/failing.wav"] != FindingRetrying {
		t.Errorf("findings by path %v: want d/queued.wav pending and d/failing.wav retrying", kinds)
	}
}
