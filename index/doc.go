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
// Tuning for issue 14, measured by writing 1,000,000 records (a Queue and
// a Commit each) in one process on 2 cores shared with other work (±20%),
// peaks of anonymous and file-backed resident memory sampled every 20 ms:
//
//	options                                 write/rec  anon  file  disk/rec
//	1 MiB tables, no limit, no releaser     34 µs      153   181   149 B
//	+ GOMEMLIMIT=96MiB                      35 µs       86   178
//	+ GOMEMLIMIT=64MiB                      86 µs       58   179
//	+ releaser (16 MiB, 250 ms), 96MiB      +13%        87    44
//	the same, a later and busier run        47 µs       87    50
//	8 MiB tables, in that run               47 µs       85    56
//
// Memory: most of the anonymous peak is Badger's table builders (a flushed
// 8 MiB memtable builds its table in a 16-32 MiB buffer, and a pool keeps
// up to 8 of them) and the garbage of compactions, which the soft memory
// limit of the commands (upload.memory + 32 MiB, cmd/s3ferry/memory.go)
// collects before it piles up; below ~80 MiB the collector runs all the
// time (64 MiB: 2.5× the write time). The file-backed part is the tables
// themselves, mapped: every page Badger wrote or read stays in the
// process's RSS until reclaimed, so without the releaser (release.go) RSS
// after writing the index was its whole size.
//
// Tables: 8 MiB at every level. Opening the index opens every table and
// Close releases each: at 10M records, 1 MiB tables made 2,329 tables,
// 0.15-0.2 s to open, 0.14 s to close and 104 MiB resident after Open; at
// 1M, 8 MiB tables (21) open in 10 ms instead of 20-35 and close in 5
// instead of 30-80. The first Open of tables not yet verified reads them
// whole (3.2 s for 1.5 GB at 10M records); later ones only what changed
// (damage.go). Memtables of 4 MiB lowered the file-backed peak (41 MiB)
// but cost 25% more write time and are not used. The measures of a
// large settled index, from s3ferry-bench -index-scale, are in README.
//
// Blocks: 16 KiB and no bloom filters, so that opening a large index maps
// little (badger.go): at 10M records the tables' pages in a sync's RSS
// went from ~48 to 18 MiB, and a no-op sync from 0.095 to 0.073 s. The
// price is paid per lookup, measured on 200,000 records in one run: a Get
// 14 → 20 µs, a Queue and Commit 29 → 38 µs, a path of GetMany 0.93 →
// 1.19 µs.
//
// A walk reads the records of a directory's files with one GetMany, not a
// Get each (BenchmarkGetMany, 200,000 records: 0.75 µs per path in batches
// of 128, against 4.9 µs per Get).
package index
