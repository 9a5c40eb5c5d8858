// Package s3test starts real MinIO servers for tests: each on free loopback
// ports, with its own data directory and random credentials, stopped when
// the test (or, with StartMain, the test package) ends. Without a MinIO
// binary it skips, or fails under CI=true.
package s3test
