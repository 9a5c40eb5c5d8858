package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/uploader"
)

// Replication flags (run and sync).
const (
	flagReplicationCheckRate     = "replication-check-rate"
	flagReplicationAlertAfter    = "replication-alert-after"
	flagReplicationCheckInterval = "replication-check-interval"
	flagReplicationMaxBackoff    = "replication-max-backoff"
	flagWaitReplication          = "wait-replication"
)

func replicationFlags() []cli.Flag {
	const r = "Replication (tracked when a replication rule covers the destination)"
	return []cli.Flag{
		&cli.Float64Flag{Name: flagReplicationCheckRate, Usage: "HeadObject requests per second checking uploads' replication status", Value: replication.DefaultCheckRate, Category: r},
		durationFlag(flagReplicationAlertAfter, "/healthz warns when an upload is not replicated this long after", replication.DefaultAlertAfter, r),
		durationFlag(flagReplicationCheckInterval, "look for uploads due a replication check this often", replication.DefaultInterval, r),
		durationFlag(flagReplicationMaxBackoff, "check a version whose replication is PENDING at least this often", replication.DefaultMaxBackoff, r),
	}
}

// loadReplication merges the replication flags over the file's settings.
func loadReplication(c *cli.Context, fc replicationConfig) (replication.Options, error) {
	o := replication.Options{
		CheckRate:  fc.CheckRate,
		AlertAfter: pickDuration(c, flagReplicationAlertAfter, fc.AlertAfter, replication.DefaultAlertAfter),
		Interval:   pickDuration(c, flagReplicationCheckInterval, fc.CheckInterval, replication.DefaultInterval),
		MaxBackoff: pickDuration(c, flagReplicationMaxBackoff, fc.MaxBackoff, replication.DefaultMaxBackoff),
	}
	if c.IsSet(flagReplicationCheckRate) {
		o.CheckRate = c.Float64(flagReplicationCheckRate)
	}
	if o.CheckRate == 0 {
		o.CheckRate = replication.DefaultCheckRate
	}
	if o.CheckRate < 0 || o.AlertAfter <= 0 || o.Interval <= 0 || o.MaxBackoff <= 0 {
		return replication.Options{}, fmt.Errorf("replication check-rate, alert-after, check-interval and max-backoff must be positive")
	}
	return o, nil
}

// markReplicated sets Replicated on each source whose destination an
// enabled replication rule covers, as doctor judges it, so its uploads
// are tracked until the replica has them. A bucket whose replication
// cannot be read leaves its sources untracked, with a warning.
func markReplicated(ctx context.Context, open func(bucket string) uploader.Bucket, sources []*local.Source, log *slog.Logger) {
	rules := map[string][]uploader.ReplicationRule{}
	failed := map[string]bool{}
	for _, src := range sources {
		if _, ok := rules[src.Bucket]; !ok && !failed[src.Bucket] {
			r, err := open(src.Bucket).Replication(ctx)
			if err != nil {
				failed[src.Bucket] = true
				log.Warn("cannot read the bucket's replication rules: uploads' replication is not tracked; allow s3:GetReplicationConfiguration", "bucket", src.Bucket, "err", err)
				continue
			}
			rules[src.Bucket] = r
		}
		src.Replicated = bucket.Replicated(rules[src.Bucket], src.Prefix)
		if src.Replicated {
			log.Info("replication rule covers the destination: tracking each upload until the replica has it", "destination", src.Destination())
		}
	}
}

// waitFlag is --wait-replication[=TIMEOUT]: alone it waits as long as it
// takes, with a duration at most that long.
type waitFlag struct {
	on      bool
	timeout time.Duration
}

// IsBoolFlag lets the flag stand alone, without a value.
func (w *waitFlag) IsBoolFlag() bool { return true }

func (w *waitFlag) Set(v string) error {
	switch v {
	case "true":
		*w = waitFlag{on: true}
	case "false":
		*w = waitFlag{}
	default:
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 2h, or no value, got %q", v)
		}
		*w = waitFlag{on: true, timeout: d}
	}
	return nil
}

func (w *waitFlag) String() string {
	switch {
	case w == nil || !w.on:
		return ""
	case w.timeout > 0:
		return w.timeout.String()
	}
	return "true"
}

// parseRetention reads a local retention: days ("90d") or a Go duration
// ("2160h"); "" is none.
func parseRetention(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if d, err := parseDuration(v); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("local-retention %q: want a positive age such as 90d or 2160h", v)
}

// needsReplication says whether a command must know which sources a
// replication rule covers: to wait for it, or for a retention that
// requires it.
func needsReplication(sources []*local.Source, wait bool) bool {
	return wait || slices.ContainsFunc(sources, func(s *local.Source) bool { return s.LocalRetention > 0 })
}
