package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

// env is what a command that touches the bucket works with: the open index,
// the buckets and the uploader built from the settings, and the client
// both go through.
type env struct {
	index    *index.DB
	client   *s3.Client
	open     func(bucket string) uploader.Bucket
	uploader *uploader.Uploader
}

// openEnv opens the index (refusing one another process holds) and checks
// that every destination bucket is reachable before any work starts, so a
// wrong bucket or missing credentials fail in one line, not once per file.
//
// The index opens (tens of milliseconds for millions of records) while the
// check waits on S3 (a round trip or two); a failed check still wins.
// From here on the process works with its soft memory limit (limitMemory).
func openEnv(ctx context.Context, s settings, log *slog.Logger) (*env, error) {
	return openEnvChecked(ctx, s, log, nil)
}

// bucketCheck asks the buckets what a command must know before it starts
// (versioning, Object Lock), through open; its error is the command's.
type bucketCheck func(ctx context.Context, open func(bucket string) uploader.Bucket) error

// openEnvChecked is openEnv that also runs check once the buckets answer,
// while the index is still opening, so that its requests cost no time of
// their own (a no-op sync spent a round trip on versioning after the
// index had opened). The errors come in order: the buckets', the index's
// (another process holds it: check's answer is dropped), then check's.
func openEnvChecked(ctx context.Context, s settings, log *slog.Logger, check bucketCheck) (*env, error) {
	e, _, err := openEnvWith(ctx, s, log, false, check)
	return e, err
}

// openDaemonEnv is openEnv for the daemon: a check that finds the endpoint
// unreachable for a cause that may pass (s3.Unreachable: refused, no
// answer, a host that does not resolve yet, a 5xx) does not stop it, but is
// returned as down with the env, so the daemon starts with its uploads
// held and its probe asking. What a person must fix still fails.
func openDaemonEnv(ctx context.Context, s settings, log *slog.Logger) (e *env, down, err error) {
	return openEnvWith(ctx, s, log, true, nil)
}

// openEnvWith is openEnvChecked, and with tolerate openDaemonEnv (check
// runs only when the endpoint answered).
func openEnvWith(ctx context.Context, s settings, log *slog.Logger, tolerate bool, check bucketCheck) (e *env, down, err error) {
	limitMemory(s)
	type opened struct {
		idx *index.DB
		err error
	}
	indexed := make(chan opened, 1)
	go func() {
		// The compactions due never add to the memory of the uploads:
		// a one-shot command (all but run, the one with an admin socket)
		// leaves them to the daemon, or once level 0 nears Badger's write
		// stall or it doubled the index to the end of its run (Close);
		// the daemon runs them once its writes pause (after its start-up
		// walk).
		idx, err := openIndexWith(s.indexDir, index.Options{Logger: log, Admin: s.adminSocket, Command: s.command, DeferCompactions: true, CompactWhenQuiet: s.adminSocket != ""})
		indexed <- opened{idx, err}
	}()
	client, up, err := openBucket(ctx, s)
	if tolerate && s3.Unreachable(err) {
		down = err
		client, up, err = newBuckets(ctx, s)
	}
	var checkErr error
	if err == nil && down == nil && check != nil {
		checkErr = check(ctx, client.Bucket)
	}
	o := <-indexed
	if err == nil {
		err = o.err
	}
	if err == nil {
		err = checkErr
	}
	if err != nil {
		if o.idx != nil {
			o.idx.Close()
		}
		return nil, nil, err
	}
	return &env{index: o.idx, client: client, open: client.Bucket, uploader: up}, down, nil
}

// openBucket builds the S3 client and checks that every destination bucket
// is reachable, for a command that needs no index. client.Bucket returns
// a bucket by name; up sends files with the same client.
func openBucket(ctx context.Context, s settings) (client *s3.Client, up *uploader.Uploader, err error) {
	if client, up, err = newBuckets(ctx, s); err != nil {
		return nil, nil, err
	}
	checked := map[string]bool{}
	for _, src := range s.sources {
		if checked[src.Bucket] {
			continue
		}
		checked[src.Bucket] = true
		if err := client.Bucket(src.Bucket).Check(ctx); err != nil {
			return nil, nil, err
		}
	}
	return client, up, nil
}

// newBuckets builds the S3 client, without asking the buckets anything.
func newBuckets(ctx context.Context, s settings) (client *s3.Client, up *uploader.Uploader, err error) {
	client, err = s3.NewClient(ctx, s.s3)
	if err != nil {
		return nil, nil, err
	}
	return client, uploader.New(client.Bucket, client, s.upload), nil
}

// unversioned returns each destination bucket (once) whose versioning is
// not enabled, with its state: there an upload overwrites the object it
// replaces, and s3ferry's promise of a backup (every version kept, the
// bucket replicated) does not hold. A bucket that will not say (the
// policy lacks s3:GetBucketVersioning) is passed over: doctor says why.
func unversioned(ctx context.Context, open func(bucket string) uploader.Bucket, sources []*local.Source, log *slog.Logger) map[string]uploader.VersioningStatus {
	found := map[string]uploader.VersioningStatus{}
	asked := map[string]bool{}
	for _, src := range sources {
		if asked[src.Bucket] {
			continue
		}
		asked[src.Bucket] = true
		status, err := open(src.Bucket).Versioning(ctx)
		if err != nil {
			log.Debug("cannot read the bucket's versioning", "bucket", src.Bucket, "err", err)
			continue
		}
		if status != uploader.VersioningEnabled {
			found[src.Bucket] = status
		}
	}
	return found
}

// warnUnversioned logs a warning for each bucket unversioned returns.
func warnUnversioned(ctx context.Context, open func(bucket string) uploader.Bucket, sources []*local.Source, log *slog.Logger) {
	for _, b := range slices.Sorted(maps.Keys(unversioned(ctx, open, sources, log))) {
		log.Warn(fmt.Sprintf("bucket %s is not versioned: an upload overwrites the object it replaces and a deleted object is gone; turn versioning on: aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled", b, b))
	}
}

// refuseUnversioned returns an error naming a bucket unversioned returns,
// what it costs and how to enable versioning (or pass the flag).
func refuseUnversioned(ctx context.Context, open func(bucket string) uploader.Bucket, sources []*local.Source, log *slog.Logger) error {
	found := unversioned(ctx, open, sources, log)
	names := slices.Sorted(maps.Keys(found))
	if len(names) == 0 {
		return nil
	}
	b, state := names[0], "is not versioned"
	if found[b] == uploader.VersioningSuspended {
		state = "has versioning suspended"
	}
	return fmt.Errorf("bucket %s %s, so an upload would replace the object and a delete lose it (no backup): enable it (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled, or mc version enable ALIAS/%s), or pass --allow-unversioned",
		b, state, b, b)
}

// Close releases the index.
func (e *env) Close() error { return e.index.Close() }
