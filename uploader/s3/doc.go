// Package s3 is s3ferry's only importer of the S3 SDK. NewClient builds
// the client (the SDK's credential chain, region, endpoint, jittered
// retries, timeouts, a watchdog that retries stalled requests, bandwidth
// limit) and counts what it met (Counters); Client.Bucket is the
// uploader.Bucket on S3, with the parallel listing that splits the key
// space at "/"; Client.Retry is the uploader.RetryPolicy of the SDK. Every
// error it returns is an uploader.Classifier that knows what S3's codes
// mean.
package s3
