// Package daemon is `s3ferry run`: the one package that composes the
// others. Daemon resumes what was pending, watches the sources (package
// watch), walks them on timers and on request (package agent), holds
// uploads while the endpoint is down, reports to systemd, serves the admin
// endpoint (package admin) and runs verify and index check on its index for
// it (package bucket), tracks replication (package replication) and
// sweeps local retention (package retention), and returns only once every
// goroutine it started has ended.
package daemon
