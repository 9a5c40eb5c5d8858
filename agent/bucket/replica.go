package bucket

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// replicaVersion is what the replica's listing says of one version.
type replicaVersion struct {
	size int64
	etag uint64 // xxhash64 of the ETag
}

// replica compares src's records with the versions the replica holds
// below ReplicaPrefix (replication keeps version IDs):
//
//	replica                        finding          problem  --repair
//	the recorded version           (ok)
//	  same size and ETag
//	  another size or ETag         replica-differs  yes      upload the local file again (it replicates);
//	no such version                replica-missing  yes        its file gone: into the replica set as failed,
//	                                                           for s3ferry manifest --replication-failed
//	(any key) a history S3 cannot  replica-history  yes      - (restore it by version ID; report the endpoint)
//	  produce (History.Check)
//
// A record without a version ID (an unversioned bucket) is not compared.
// The listing costs 24 bytes per version of the replica.
func (r *verifyRun) replica(ctx context.Context, src *local.Source) error {
	var mu sync.Mutex
	have := map[uint64]replicaVersion{}
	err := r.Replica.ListVersions(ctx, r.ReplicaPrefix, uploader.ListOptions{Workers: r.ListWorkers, Depth: listDepth(src)}, func(h uploader.History) error {
		rel, ok := strings.CutPrefix(h.Key, r.ReplicaPrefix)
		if !ok {
			return nil
		}
		if err := h.Check(); err != nil {
			r.add(src, rel, Finding{Kind: FindingReplicaHistory, Problem: true,
				Detail: fmt.Sprintf("%s on the replica %s/%s: the endpoint's version timestamps cannot be trusted (%v); "+
					"restore --at cannot use them: restore this key by its version ID or from the source bucket, and report the endpoint",
					local.Printable(h.Key), r.Replica.Name(), local.Printable(r.ReplicaPrefix), err)}, nil)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, v := range h.Versions {
			if !v.Deleted {
				have[replicaKey(rel, v.VersionID)] = replicaVersion{size: v.Size, etag: xxhash.Sum64String(v.ETag)}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the replica %s/%s: %w", r.Replica.Name(), r.ReplicaPrefix, err)
	}
	r.mu.Lock()
	r.report.ReplicaListed += int64(len(have))
	r.mu.Unlock()
	where := fmt.Sprintf("s3://%s/%s", r.Replica.Name(), r.ReplicaPrefix)
	err = r.Index.Records(src.ID(), "", func(rel string, rec index.Record) error {
		if rec.VersionID == "" {
			return nil
		}
		v, ok := have[replicaKey(rel, rec.VersionID)]
		switch {
		case !ok:
			r.add(src, rel, Finding{Kind: FindingReplicaMissing, Problem: true,
				Detail: fmt.Sprintf("version %s is not on the replica %s: its replication failed or was never done; run s3ferry verify --replica --repair", rec.VersionID, where)}, &rec)
		case v.size != rec.Size || (rec.ETag != "" && v.etag != xxhash.Sum64String(rec.ETag)):
			r.add(src, rel, Finding{Kind: FindingReplicaDiffers, Problem: true,
				Detail: fmt.Sprintf("version %s on the replica %s has %d bytes and another ETag than the upload's %d: run s3ferry verify --replica --repair", rec.VersionID, where, v.size, rec.Size)}, &rec)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read index of %s: %w", src, err)
	}
	return nil
}

// replicaKey names one version of rel.
func replicaKey(rel, versionID string) uint64 {
	return xxhash.Sum64String(rel + "\x00" + versionID)
}

// resendReplica repairs a version the replica lacks: the local file is
// uploaded again as a new version, which replicates (and is tracked, when
// the source is Replicated); a file that is gone puts the version in the
// replica set as failed, for a Batch Replication manifest.
func (r *verifyRun) resendReplica(ctx context.Context, p *agent.Pipeline, it repairItem) error {
	info, err := it.src.Stat(it.rel)
	if err == nil && info.Mode().IsRegular() {
		return r.reupload(ctx, p, it)
	}
	failed := index.Replica{VersionID: it.rec.VersionID, UploadedNs: it.rec.UploadedNs, Failed: true}
	if err := r.Index.Replicas().Add(it.src.ID(), it.rel, failed); err != nil {
		return fmt.Errorf("repair %s: %w", it.rel, err)
	}
	r.setRepair(it, false, "not repaired: the local file is gone; s3ferry manifest --replication-failed lists the version for an S3 Batch Replication job")
	return nil
}
