package bucket

import (
	"context"
	"flag"
	"fmt"
	"testing"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// The cost per row of verify --inventory, without the whole bench:
//
//	go test -run '^$' -bench VerifyInventory -benchtime 1x ./agent/bucket \
//	    -args -inventory-rows 1000000 -inventory-index /tmp/inv1m
//
// The index of -inventory-rows synthetic records is written through the
// index API into -inventory-index when that does not hold it yet (about
// 16 s per 1M records), so later runs reuse it; the report, a row for
// every record in 250,000-row data files as the bench writes it, is kept
// in a Fake. Add -cpuprofile or -memprofile to see where the time goes.
var (
	benchInventoryRows  = flag.Int("inventory-rows", 100_000, "BenchmarkVerifyInventory: records in the index, rows in the report")
	benchInventoryIndex = flag.String("inventory-index", "", "BenchmarkVerifyInventory: index directory kept between runs (default: a temporary one)")
)

func BenchmarkVerifyInventory(b *testing.B) {
	ctx := context.Background()
	n := *benchInventoryRows
	dir := *benchInventoryIndex
	if dir == "" {
		dir = b.TempDir()
	}
	db, err := index.Open(dir, index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	src := &local.Source{Root: "/srv/bench", Bucket: "b", Prefix: "rec/"}
	if have, _, err := db.Count(src.ID()); err != nil {
		b.Fatal(err)
	} else if have != int64(n) {
		if have != 0 {
			b.Fatalf("%s holds %d records, want %d: give another -inventory-index", dir, have, n)
		}
		for i := range n {
			rel := fmt.Sprintf("2024-%02d-%02d/agent%02d/call-%07d.wav", 1+i/(28*10_000)%12, 1+i/10_000%28, i%20, i)
			rec := index.Record{Size: int64(8<<10 + i%(1<<20)), MtimeNs: int64(i), Inode: uint64(i), Hash: uint64(i) * 0x9e3779b97f4a7c15,
				ETag: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), VersionID: fmt.Sprintf("v%031d", i), Checksum: "CRC32C:AAAAAA==", UploadedNs: int64(i)}
			if err := db.Commit(src.ID(), rel, rec, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	inv := buckettest.NewFake("inv", "")
	var walkErr error
	rows := func(yield func(buckettest.InventoryRow) bool) {
		walkErr = db.Records(src.ID(), "", func(rel string, r index.Record) error {
			if !yield(buckettest.InventoryRow{Key: src.Prefix + rel, VersionID: r.VersionID, IsLatest: true, Size: r.Size, ETag: r.ETag, ReplicationStatus: "COMPLETED"}) {
				return context.Canceled
			}
			return nil
		})
	}
	manifest, err := buckettest.WriteInventory(ctx, inv, "b", "reports/b/daily/", 250_000, rows)
	if err != nil || walkErr != nil {
		b.Fatal(err, walkErr)
	}
	v := &Verify{Sources: []*local.Source{src}, Index: db, Open: func(string) uploader.Bucket { return inv },
		Inventory: &Inventory{Bucket: "inv", Manifest: manifest}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := v.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Problems() != 0 || rep.Listed != int64(n) || rep.Records != int64(n) {
			b.Fatalf("%d problems, %d rows, %d records; want 0, %d, %d", rep.Problems(), rep.Listed, rep.Records, n, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
}
