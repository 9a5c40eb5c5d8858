// Package bucket holds the tools that read the bucket back against the
// index and the local tree: doctor (is the bucket a real backup), verify
// (and its --repair), adopt (take over a bucket another tool filled),
// restore (a tree as it was at a point in time) and the replication
// manifest. They reach the bucket only through uploader.Bucket, so their
// tests run against buckettest.Fake.
//
// It imports agent for Source and for the Pipeline that verify --repair
// uploads through; agent never imports it.
package bucket
