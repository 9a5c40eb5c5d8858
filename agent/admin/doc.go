// Package admin is the daemon's admin endpoint: the TCP handler for
// /metrics and /healthz behind a guard that serves only the host's programs
// (or holders of the token), the socket handler that adds /status, POST
// /sync, POST /verify and POST /index/check for the peers the daemon
// allows, the one Prometheus registry
// the daemon's metrics live in, and the Status that `s3ferry status` reads
// from the daemon or, without one, from the index.
package admin
