// Package buckettest holds Fake, an in-memory uploader.Bucket with
// injectable failures for the tests of the packages that read and write a
// bucket, and Run, the conformance suite every Bucket passes: Fake from
// its own test, the S3 implementation against MinIO from uploader's.
package buckettest
