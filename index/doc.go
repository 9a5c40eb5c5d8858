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
// A walk reads the records of a directory's files with one GetMany, not a
// Get each (BenchmarkGetMany, 200,000 records: 0.75 µs per path in batches
// of 128, against 4.9 µs per Get).
package index
