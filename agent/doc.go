// Package agent is s3ferry's domain: it finds the files that are new or
// changed (walks of the recent date partitions, whole-tree walks, the inotify
// watcher), lets them settle, diffs them against the index and feeds the
// upload pool (Pipeline), in one-shot runs (Sync) and as a daemon (Daemon,
// with its admin endpoint). It also owns the bucket side of the backup:
// doctor, verify, adopt, restore and the replication manifest.
//
// It takes plain Go values; configuration files and flags belong to the
// command.
//
// Linux only, as s3ferry is: the watcher relies on inotify (its watch limits
// and queue overflow), and file identity on syscall.Stat_t. No file carries
// a build constraint; the package builds elsewhere for development, but only
// Linux is tested and supported.
package agent
