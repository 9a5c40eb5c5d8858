package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

// Replica flags: where a source's bucket replicates it, and how to reach
// that bucket (verify --replica; the local retention's lock check).
const (
	flagReplica            = "replica"
	flagReplicaEndpointURL = "replica-endpoint-url"
	flagReplicaProfile     = "replica-profile"
	flagReplicaRegion      = "replica-region"
)

// replicaConfig is a source's replica: {destination: s3://REPLICA/PREFIX/,
// endpoint-url, profile, region}; what is not set is the bucket's.
type replicaConfig struct {
	Destination string `yaml:"destination"`
	EndpointURL string `yaml:"endpoint-url,omitempty"`
	Profile     string `yaml:"profile,omitempty"`
	Region      string `yaml:"region,omitempty"`
}

func replicaFlags(category string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagReplica, Usage: "the replica of the destination at `s3://BUCKET/PREFIX/` (same version IDs): verify compares with it; with --object-lock-mode and --local-retention, a file goes only once its replica's version is locked too", Category: category},
		&cli.StringFlag{Name: flagReplicaEndpointURL, Usage: "S3 endpoint `URL` of the replica (default: the bucket's)", Category: category},
		&cli.StringFlag{Name: flagReplicaProfile, Usage: "shared config `PROFILE` for the replica's credentials (default: the bucket's)", Category: category},
		&cli.StringFlag{Name: flagReplicaRegion, Usage: "`REGION` of the replica (default: the bucket's)", Category: category},
	}
}

// resolveReplica applies the replica flags over the file's replica.
func resolveReplica(c *cli.Context, rc *replicaConfig) *replicaConfig {
	if !c.IsSet(flagReplica) && !c.IsSet(flagReplicaEndpointURL) && !c.IsSet(flagReplicaProfile) && !c.IsSet(flagReplicaRegion) {
		return rc
	}
	var r replicaConfig
	if rc != nil {
		r = *rc
	}
	r.Destination = pick(c, flagReplica, r.Destination, "")
	r.EndpointURL = pick(c, flagReplicaEndpointURL, r.EndpointURL, "")
	r.Profile = pick(c, flagReplicaProfile, r.Profile, "")
	r.Region = pick(c, flagReplicaRegion, r.Region, "")
	return &r
}

// replicaTarget is where a replica is and how to reach it.
type replicaTarget struct {
	bucket, prefix string
	s3             s3.Config
}

// newReplicaTarget reads rc (nil or without a destination: none, the
// zero target), reached as base is but for what rc sets.
func newReplicaTarget(rc *replicaConfig, base s3.Config) (replicaTarget, error) {
	if rc == nil || rc.Destination == "" {
		if rc != nil && (rc.EndpointURL != "" || rc.Profile != "" || rc.Region != "") {
			return replicaTarget{}, fmt.Errorf("replica: endpoint-url, profile and region want a destination (--%s s3://BUCKET/PREFIX/)", flagReplica)
		}
		return replicaTarget{}, nil
	}
	var t replicaTarget
	var err error
	if t.bucket, t.prefix, err = local.ParseDestination(rc.Destination); err != nil {
		return replicaTarget{}, fmt.Errorf("replica: %w", err)
	}
	t.s3 = base
	t.s3.EndpointURL = cmp.Or(rc.EndpointURL, base.EndpointURL)
	t.s3.Profile = cmp.Or(rc.Profile, base.Profile)
	t.s3.Region = cmp.Or(rc.Region, base.Region)
	return t, nil
}

// open builds the replica's bucket client: the one place a replica is
// reached (verify --replica, the local retention's lock check).
func (t replicaTarget) open(ctx context.Context) (uploader.Bucket, error) {
	client, err := s3.NewClient(ctx, t.s3)
	if err != nil {
		return nil, fmt.Errorf("replica s3://%s/%s: %w", t.bucket, t.prefix, err)
	}
	return client.Bucket(t.bucket), nil
}

// checksReplicaLock says whether the local retention of src waits for
// its replica's lock: a retention, an object-lock and require-replica.
func checksReplicaLock(src *local.Source) bool {
	return src.LocalRetention > 0 && src.Lock.Mode != "" && src.RequireReplica
}

// openReplicas opens the replica of each source whose local retention
// checks its lock (checksReplicaLock), for retention.Sweeper.Replica; nil
// when there is none. A source that would but names no replica is said in
// one line: only its replication status is checked.
func openReplicas(ctx context.Context, s settings, log *slog.Logger) (func(src *local.Source) uploader.Bucket, error) {
	buckets := map[*local.Source]uploader.Bucket{}
	for i, src := range s.sources {
		if !checksReplicaLock(src) {
			continue
		}
		var rc *replicaConfig
		if i < len(s.sourceConfigs) {
			rc = s.sourceConfigs[i].Replica
		}
		t, err := newReplicaTarget(rc, s.s3)
		if err != nil {
			return nil, err
		}
		if t.bucket == "" {
			log.Warn("object-lock and require-replica without a replica: the local retention checks only the replication status, not the replica's lock; set the source's replica (docs/compliance.md)", "source", src.Root, "destination", src.Destination())
			continue
		}
		b, err := t.open(ctx)
		if err != nil {
			return nil, err
		}
		buckets[src] = b
		log.Info("the local retention waits for each version to be locked on the replica too", "source", src.Root, "destination", src.Destination(), "replica", "s3://"+t.bucket+"/"+t.prefix)
	}
	if len(buckets) == 0 {
		return nil, nil
	}
	return func(src *local.Source) uploader.Bucket { return buckets[src] }, nil
}
