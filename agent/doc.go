// Package agent is s3ferry's domain: it finds the files that are new or
// changed (walks of the recent date partitions, whole-tree walks, the inotify
// watcher), lets them settle, diffs them against the index and feeds the
// upload pool (Pipeline), in one-shot runs (Sync) and as a daemon (Daemon,
// with its admin endpoint). The tools that read the bucket back (doctor,
// verify, adopt, restore, the replication manifest) are package
// agent/bucket, which imports this one; this one never imports it.
//
// It takes plain Go values; configuration files and flags belong to the
// command.
//
// Linux only, as s3ferry is: the watcher relies on inotify (its watch limits
// and queue overflow), and file identity on syscall.Stat_t. No file carries
// a build constraint; the package builds elsewhere for development, but only
// Linux is tested and supported.
package agent
