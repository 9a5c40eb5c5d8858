// Package index owns what s3ferry knows about the bucket: one Record per
// uploaded file, the durable pending set, per-source state, and the retry,
// replica and gone sets, behind the Store interface. It is a cache of the
// bucket, never the truth: a lost or damaged index costs a listing
// (adopt), not a re-upload.
//
// DB keeps them in Badger (key layout and options in badger.go, value
// encoding in encoding.go, damage and disk-full checks in damage.go, the
// background work that sleeps while the index is idle in upkeep.go),
// Memory in maps for tests, and package indextest is the conformance suite
// both pass. The measurements behind Badger's options are in
// docs/benchmarks.md.
package index
