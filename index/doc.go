// Package index owns what s3ferry knows about the bucket: one Record per
// uploaded file, the durable pending set, and per-source state, behind the
// Store interface. DB keeps them in Badger (key layout and tuning in
// badger.go, value encoding in encoding.go), Memory in maps for tests, and
// package indextest is the conformance suite both pass.
//
// Measured with BenchmarkQueueCommit (bench_test.go) on the development
// machine (2 cores, virtual disk), 1,000,000 files of one source, each one
// Queue and one Commit:
//
//	time per file       26 µs (38,000 files/s), the same from 8 goroutines;
//	                    460 µs with Options.SyncWrites (one fsync per write)
//	disk per record     164 bytes (du, after Close)
//	memory, loading     130 MiB anonymous RSS (default GOGC); peak RSS
//	                    300 MiB, of which 170 MiB is page cache of the
//	                    mmapped tables, which the kernel reclaims
//	memory, reopened    15 MiB anonymous RSS after 100,000 random Gets
//	                    into the 1M-record index, 5 µs per Get
//
// Damage: a panic or a memory fault inside Badger becomes a *DamagedError
// (damage.go), every table's checksums are verified before Badger opens it
// and each block's as it is read, and a marker file tells an index that
// held records and opens empty (a MANIFEST that lost its entries) from a
// new one. Measured on 100,000 records (verify_bench_test.go, 2 cores,
// shared): the tables' check adds 12 ms to Open; a random Get takes 23 µs
// with each block verified against 10 µs without. Below DefaultMinFree of
// free space the index refuses to open or write (*DiskFullError): Badger
// writes through memory maps, where a full disk is a SIGBUS, not an error.
//
// Tuning for issue 14, measured by writing 1,000,000 records through Commit
// in one process (2 shared cores, so ±20%; peak from getrusage, anonymous
// and file-backed resident memory sampled every 20 ms):
//
//	options (badger.go unless said)      write/rec  peak RSS  anon  file  disk/rec
//	as in badgerOptions                  16 µs      294 MiB   161   163   134 B
//	GOMEMLIMIT=96MiB                     15 µs      234 MiB   -     -     134 B
//	NumLevelZeroTables 2, stall at 6     16 µs      245 MiB   -     -     133 B
//	MemTableSize 4 MiB                   16 µs      260 MiB   -     -     134 B
//	GOMEMLIMIT=64MiB                     22 µs      206 MiB   57    158   134 B
//
// No Badger option brought the peak near 128 MiB, so badgerOptions is
// unchanged: about half of the peak is the page cache of the mmapped
// tables that compactions read (file-backed, the kernel's to reclaim),
// the other half Go heap garbage of compactions, which a soft memory
// limit (GOMEMLIMIT) bounds at the cost of more GC work. Opening the
// index of 1M records after its compactions ended costs 0.1–0.26 s and
// 35 MiB peak RSS; a no-op sync against it 0.12–0.14 s and 38–49 MiB.
// The same measures at 10M records remain to be run.
//
// A walk reads the records of a directory's files with one GetMany, not a
// Get each (BenchmarkGetMany, 200,000 records: 0.75 µs per path in batches
// of 128, against 4.9 µs per Get).
package index
