// Package replication follows the versions s3ferry uploaded until S3 says
// their cross-region replication COMPLETED: the replica set in the index,
// the Tracker that checks it at a bounded rate and re-sends a file whose
// version FAILED, and the Summary that status, doctor and /healthz show.
package replication
