// Package uploader is the S3 side of s3ferry: it builds the S3 client
// (the SDK's credential chain, region, endpoint, timeouts, a watchdog that
// retries stalled requests, jittered retries, bandwidth limit),
// checks the bucket before a run, and sends one local file per Upload —
// small files from one pooled read with a precomputed checksum, large ones
// as a multipart upload straight from the file. Download brings an object
// version back into a local file, verified; Versioning, Replication,
// Lifecycle, ObjectLock and ClockSkew read what doctor checks, and
// ETagMatcher tells whether a file's bytes make an object's ETag. Reason
// and Fatal classify its errors for metrics and for stopping a run that
// cannot succeed.
//
// The worker pool that calls Upload, and the index that records its Result,
// belong to the agent. Package s3test starts a real MinIO for tests, and
// runs MinIO's mc against it (replication between two servers, mirror).
package uploader
