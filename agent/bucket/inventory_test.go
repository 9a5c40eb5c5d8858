package bucket

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// invFixture is a fixture whose bucket has an inventory report in another
// bucket, "inv".
type invFixture struct {
	*fixture
	inv *buckettest.Fake
}

func newInvFixture(tb testing.TB) *invFixture {
	tb.Helper()
	return &invFixture{newFixture(tb), buckettest.NewFake("inv", "")}
}

func (f *invFixture) open(name string) uploader.Bucket {
	if name == "inv" {
		return f.inv
	}
	return f.fake
}

// report writes an inventory of every version in the bucket, each row
// changed by edit, two rows a data file; it returns the manifest's key.
func (f *invFixture) report(tb testing.TB, edit func(*buckettest.InventoryRow)) string {
	tb.Helper()
	ctx := context.Background()
	rows, err := buckettest.InventoryOf(ctx, f.fake, "")
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rows {
		if edit != nil {
			edit(&rows[i])
		}
	}
	return f.reportRows(tb, rows, 2)
}

// reportRows writes an inventory of rows, as given, perFile rows a data
// file; it returns the manifest's key.
func (f *invFixture) reportRows(tb testing.TB, rows []buckettest.InventoryRow, perFile int) string {
	tb.Helper()
	key, err := buckettest.WriteInventory(context.Background(), f.inv, "b", "reports/b/daily/", perFile, slices.Values(rows))
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func (f *invFixture) verify(manifest string) (VerifyReport, error) {
	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Inventory: &Inventory{Bucket: "inv", Manifest: manifest}}
	return v.Run(context.Background())
}

// TestVerifyInventory: the rows of a report find what a listing finds
// (missing, different, unknown), without listing the bucket, and its
// ReplicationStatus and VersionId add their findings.
func TestVerifyInventory(t *testing.T) {
	f := newInvFixture(t)
	ctx := context.Background()
	f.upload(t, "ok.wav", "fine")
	f.upload(t, "2026-11-29/a b+c%.wav", "encoded") // a key the CSV URL-encodes
	f.upload(t, "deleted.wav", "gone")
	if _, err := f.fake.Delete(ctx, "rec/deleted.wav", ""); err != nil {
		t.Fatal(err)
	}
	f.upload(t, "overwritten.wav", "AAAA")
	f.put(t, "overwritten.wav", "BBBB", false) // another tool: no metadata
	f.upload(t, "unreplicated.wav", "lost in transit")
	f.upload(t, "again.wav", "same")
	f.put(t, "again.wav", "same", true) // the same content, a new version
	f.put(t, "stranger.wav", "unknown", false)
	putString(t, f.fake, "other/outside.wav", "not below the prefix")
	manifest := f.report(t, func(r *buckettest.InventoryRow) {
		if r.Key == "rec/unreplicated.wav" {
			r.ReplicationStatus = "FAILED"
		} else if !r.IsDeleteMarker {
			r.ReplicationStatus = "COMPLETED"
		}
	})
	f.fake.FailNext("List", 1, errors.New("verify --inventory must not list the bucket"))

	rep, err := f.verify(manifest)
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep, map[string][]string{
		FindingMissing:     {"deleted.wav"},
		FindingContent:     {"overwritten.wav"},
		FindingUnknown:     {"stranger.wav"},
		FindingReplication: {"unreplicated.wav"},
		FindingVersion:     {"again.wav"},
	})
	// Current objects: ok, encoded, overwritten, unreplicated, again,
	// stranger, outside; deleted.wav's rows are a delete marker and an old
	// version.
	if rep.Problems() != 3 || rep.Listed != 7 || rep.Records != 6 || rep.Heads != 1 {
		t.Errorf("problems %d, listed %d, records %d, heads %d; want 3, 7, 6, 1", rep.Problems(), rep.Listed, rep.Records, rep.Heads)
	}
}

// TestVerifyInventoryOrder: the findings do not depend on the order of a
// report's rows. In S3's order (each data file's rows in key order, no two
// files' spans overlapping, whatever the order of the files) the records
// no row has are found from the files' spans: before the first, between
// two, after the last, and inside one (its file is read again). Rows out
// of that order are read again as a set.
func TestVerifyInventoryOrder(t *testing.T) {
	f := newInvFixture(t)
	ctx := context.Background()
	for i := range 12 {
		f.upload(t, fmt.Sprintf("d/%02d.wav", i), "x")
	}
	for _, rel := range []string{"00", "02", "04", "08", "11"} {
		if _, err := f.fake.Delete(ctx, "rec/d/"+rel+".wav", ""); err != nil {
			t.Fatal(err)
		}
	}
	// A delete s3ferry mirrored, inside a file's span: not missing.
	if err := f.idx.Removed().Add(f.src.ID(), "d/02.wav", index.Gone{Reason: index.GonePropagated}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "d/05b.wav", "stranger", false)
	rows, err := buckettest.InventoryOf(ctx, f.fake, "")
	if err != nil {
		t.Fatal(err)
	}
	var current []buckettest.InventoryRow // 01 03 05 05b 06 07 09 10
	for _, r := range rows {
		if r.IsLatest && !r.IsDeleteMarker {
			current = append(current, r)
		}
	}
	// 3 rows a file: [01 03 05] [05b 06 07] [09 10]; 00 before them, 04
	// inside a span, 08 between two, 11 after.
	files := slices.Collect(slices.Chunk(current, 3))
	slices.Reverse(files)
	reversed := slices.Clone(rows)
	slices.Reverse(reversed)
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, tt := range []struct {
		name string
		rows []buckettest.InventoryRow
	}{
		{"key order", rows},
		{"current only", current},
		{"files in reverse", slices.Concat(files...)},
		{"rows in reverse", reversed},
		{"shuffled", shuffled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := f.verify(f.reportRows(t, tt.rows, 3))
			if err != nil {
				t.Fatal(err)
			}
			checkFindings(t, rep, map[string][]string{
				FindingMissing: {"d/00.wav", "d/04.wav", "d/08.wav", "d/11.wav"},
				FindingUnknown: {"d/05b.wav"},
			})
			if rep.Listed != 8 || rep.Records != 12 {
				t.Errorf("listed %d, records %d; want 8, 12", rep.Listed, rep.Records)
			}
		})
	}
}

// TestVerifyInventoryRefused: a report that cannot be trusted or read
// stops verify with an error that says what to do.
func TestVerifyInventoryRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		spoil   func(tb testing.TB, f *invFixture, manifest string)
		wantErr string
	}{
		{"damaged data file", func(tb testing.TB, f *invFixture, _ string) {
			putString(tb, f.inv, "reports/b/daily/data/00000000.csv.gz", gzipString(tb, `"b","rec%2Fok.wav","","true","false","4","","x","STANDARD",""`+"\n"))
		}, "the manifest says"},
		{"manifest changed", func(tb testing.TB, f *invFixture, manifest string) {
			putString(tb, f.inv, manifest, `{"sourceBucket":"b","fileFormat":"CSV","fileSchema":"Bucket, Key, Size, ETag","files":[]}`)
		}, "manifest.checksum says"},
		{"parquet", func(tb testing.TB, f *invFixture, manifest string) {
			f.inv.Delete(ctx, strings.TrimSuffix(manifest, "manifest.json")+"manifest.checksum", "")
			putString(tb, f.inv, manifest, `{"sourceBucket":"b","fileFormat":"Parquet","fileSchema":"message s3.inventory {}","files":[]}`)
		}, "configure the inventory with the CSV format"},
		{"another bucket", func(tb testing.TB, f *invFixture, manifest string) {
			f.inv.Delete(ctx, strings.TrimSuffix(manifest, "manifest.json")+"manifest.checksum", "")
			putString(tb, f.inv, manifest, `{"sourceBucket":"other","fileFormat":"CSV","fileSchema":"Key, Size, ETag","files":[]}`)
		}, "a report of bucket other, not of b"},
		{"no manifest", func(tb testing.TB, f *invFixture, manifest string) {
			f.inv.Delete(ctx, manifest, "")
		}, "manifest not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newInvFixture(t)
			f.upload(t, "ok.wav", "fine")
			manifest := f.report(t, nil)
			tt.spoil(t, f, manifest)
			_, err := f.verify(manifest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

func putString(tb testing.TB, b uploader.Bucket, key, s string) {
	tb.Helper()
	if _, err := b.Put(context.Background(), key, strings.NewReader(s), int64(len(s)), uploader.PutOptions{}); err != nil {
		tb.Fatal(err)
	}
}

func gzipString(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}
