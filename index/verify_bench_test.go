package index

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// The cost of verifying checksums, quoted in docs/benchmarks.md:
//
//	go test -run '^$' -bench 'Verify' ./index
//
// on an index of 100,000 records (about 18 MiB of tables): the tables'
// check before Badger opens them, once per Open, and Gets with and without
// Badger's check of each block read.

const verifyBenchRecords = 100_000

// verifyBenchIndex builds an index of verifyBenchRecords records in a
// temporary directory, closed, flushed to tables.
func verifyBenchIndex(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range verifyBenchRecords {
		if err := db.Commit("src", fmt.Sprintf("2026-11-%02d/agent%02d/call-%06d.wav", i%30, i%50, i), Record{Size: int64(i), MtimeNs: int64(i), Hash: uint64(i), ETag: "0123456789abcdef0123456789abcdef"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func BenchmarkVerifyTablesAtOpen(b *testing.B) {
	dir := verifyBenchIndex(b)
	opt := badgerOptions(dir, Options{})
	for b.Loop() {
		if err := verifyTables(dir, opt, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyOpenClose(b *testing.B) {
	dir := verifyBenchIndex(b)
	for b.Loop() {
		db, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyGet is a random Get, with each block's checksum verified
// as it is read (what Open sets) and without.
func BenchmarkVerifyGet(b *testing.B) {
	dir := verifyBenchIndex(b)
	for _, mode := range []struct {
		name string
		mode options.ChecksumVerificationMode
	}{{"OnBlockRead", options.OnBlockRead}, {"NoVerification", options.NoVerification}} {
		b.Run(mode.name, func(b *testing.B) {
			opt := badgerOptions(dir, Options{})
			opt.ChecksumVerificationMode = mode.mode
			bdb, err := badger.Open(opt)
			if err != nil {
				b.Fatal(err)
			}
			db := &DB{dir: dir, db: bdb, disk: &diskGuard{dir: dir, min: DefaultMinFree}}
			defer bdb.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				i := rng.IntN(verifyBenchRecords)
				if _, ok, err := db.Get("src", fmt.Sprintf("2026-11-%02d/agent%02d/call-%06d.wav", i%30, i%50, i)); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
