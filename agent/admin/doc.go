// Package admin is the daemon's admin endpoint: the handler for /metrics,
// /healthz, /status and POST /sync behind a guard that serves only the
// host's programs (or holders of the token), the one Prometheus registry
// the daemon's metrics live in, and the Status that `s3ferry status` reads
// from the daemon or, without one, from the index.
package admin
