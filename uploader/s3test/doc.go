// Package s3test starts real MinIO servers for tests: each on free loopback
// ports, with its own data directory and random credentials, stopped when
// the test (or, with StartMain, the test package) ends. Server.MC runs
// MinIO's mc against a server, and Replicate sets up bucket replication
// from one server to another with it. A FaultProxy in front of a server
// injects the faults of a bad link (5xx answers, cut bodies, hangs, lost
// answers, latency, outages) and counts what it forwards; a Relay is a
// port in front of a server that can be switched off (connections
// refused) and on again, and counts the connections made to it. Without a
// MinIO (or mc) binary a test skips, or fails under CI=true.
package s3test
