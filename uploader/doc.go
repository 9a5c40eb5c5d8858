// Package uploader is the S3 side of s3ferry, over a Bucket: everything
// s3ferry asks of a bucket, with its contract in the method comments.
// Upload sends one local file — small files from one pooled read with a
// precomputed checksum, large ones as a multipart upload straight from the
// file, PartConcurrency parts in flight, resumed after a crash — and
// retries a Put itself (RetryPolicy) so a lost answer never stores two
// versions. Fetch brings an object version back and verifies it (a large
// one in ranged parts in parallel, from a RangeGetter), Download does so
// into a private temporary file it renames into place once durable (a
// Placer does so for a batch of files, with one sync); ETagMatcher tells
// whether a file's bytes make an object's ETag.
// ReasonOf and Fatal classify its errors for metrics and for stopping a
// run that cannot succeed.
//
// The worker pool that calls Upload, and the index that records its Result,
// belong to the agent. Package s3 is the Bucket on S3 and the only importer
// of the S3 SDK; package buckettest holds an in-memory Bucket and the
// conformance suite every Bucket passes; package s3test starts a real MinIO
// for tests, and runs MinIO's mc against it.
package uploader
