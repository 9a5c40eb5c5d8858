// Package uploader is the S3 side of s3ferry, and the only package that
// imports the S3 SDK's service packages. It builds the S3 client (the SDK's
// credential chain, region, endpoint, timeouts, a watchdog that retries
// stalled requests, jittered retries, bandwidth limit) and checks
// the bucket before a run. Bucket is everything s3ferry asks of a bucket,
// with its contract in the method comments; NewBucket is the S3
// implementation, with the parallel listing that splits the key space at
// "/". Upload sends one local file — small files from one pooled read with
// a precomputed checksum, large ones as a multipart upload straight from
// the file, PartConcurrency parts in flight. Download brings an object
// version back into a local file, verified; ETagMatcher tells whether a
// file's bytes make an object's ETag. Reason and Fatal classify its errors
// for metrics and for stopping a run that cannot succeed.
//
// The worker pool that calls Upload, and the index that records its Result,
// belong to the agent. Package buckettest holds an in-memory Bucket and the
// conformance suite every Bucket passes; package s3test starts a real MinIO
// for tests, and runs MinIO's mc against it (replication between two
// servers, mirror).
package uploader
