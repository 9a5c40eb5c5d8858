// Package agent is s3ferry's upload pipeline: it diffs the files a
// detector found against the index, writes each new or changed one to the
// durable pending set, feeds the adaptive upload pool and records what S3
// acknowledged (Pipeline); it walks the sources (the recent date
// partitions, whole trees, the retry set; Pipeline.Walk) and runs one-shot
// syncs (Sync). What a source is lives in agent/local; the daemon that
// composes the pipeline with the watcher, the admin endpoint, replication
// tracking and local retention is agent/daemon, which this package never
// imports.
//
// It takes plain Go values; configuration files and flags belong to the
// command.
//
// Linux only, as s3ferry is: file identity relies on syscall.Stat_t. No
// file carries a build constraint; the package builds elsewhere for
// development, but only Linux is tested and supported.
package agent
