package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestRetentionWaitsForReplicaLock: a bucket with Object Lock replicates
// to one with Object Lock on a second MinIO (its own credentials, named by
// the source's replica setting in the configuration file). A file whose
// replica version lacks the lock stays; once the replica's version is
// locked it is deleted. Without a replica setting, sync and doctor say in
// one line that only the replication status is checked. sync (replica
// from the file) and the daemon (from the flags) both wait.
func TestRetentionWaitsForReplicaLock(t *testing.T) {
	t.Parallel()
	e := newLockedEnv(t)
	replica := s3test.Start(t)
	target := replica.NewLockedBucket(t)
	e.srv.Replicate(t, e.bucket, replica, target)
	const rel = "old.wav"
	e.write(t, rel, "old", 100*24*time.Hour)
	lock := []string{"--object-lock-mode", "governance", "--object-lock-retain", "1d"}
	e.sync(t, 0, append(lock, "--wait-replication=2m", "--replication-check-interval", "200ms")...)
	vid := e.currentVersion(t, rel)

	// The replica keeps the VersionId, and MinIO copied the lock; take it
	// off the replica's version (GOVERNANCE, bypassed as its owner).
	ctx := context.Background()
	rc := replica.Client(t).SDK()
	eventually(t, time.Minute, "the replica's version", func() bool {
		_, err := rc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(target), Key: aws.String("rec/" + rel), VersionId: aws.String(vid)})
		return err == nil
	})
	if mode, _, err := replica.Retention(ctx, target, "rec/"+rel, vid); err != nil || mode != "GOVERNANCE" {
		t.Fatalf("replica's retention: %q, %v; want the GOVERNANCE lock replication copies", mode, err)
	}
	if _, err := rc.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(target), Key: aws.String("rec/" + rel), VersionId: aws.String(vid),
		BypassGovernanceRetention: aws.Bool(true), Retention: &types.ObjectLockRetention{}}); err != nil {
		t.Fatalf("clear the replica's retention: %v", err)
	}
	// (MinIO answers NoSuchObjectLockConfiguration for a version without.)
	if mode, _, err := replica.Retention(ctx, target, "rec/"+rel, vid); mode != "" || (err != nil && !strings.Contains(err.Error(), "NoSuchObjectLockConfiguration")) {
		t.Fatalf("replica's retention after clearing: %q, %v; want none", mode, err)
	}

	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[replica]\naws_access_key_id = "+replica.AccessKey+"\naws_secret_access_key = "+replica.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withProfile := func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+filepath.Join(dir, "none"))
	}
	config := filepath.Join(dir, "s3ferry.yml")
	yml := fmt.Sprintf(`sources:
  - path: %s
    destination: s3://%s/rec/
    local-retention: 30d
    object-lock: {mode: GOVERNANCE, retain: 1d}
    replica: {destination: "s3://%s/rec/", endpoint-url: "%s", profile: replica}
`, e.root, e.bucket, target, replica.Endpoint)
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func() result {
		t.Helper()
		res := e.runWith(t, withProfile, "sync", "--config", config, "--index-dir", "{index}", "--json", "--settle", "0s")
		if res.code != 0 {
			t.Fatalf("sync: exit %d\n%s", res.code, res.stderr)
		}
		return res
	}

	// Without a replica setting: one line says only the status is checked
	// (a dry run, which would delete the file).
	dry := e.run(t, append([]string{"sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--local-retention", "30d", "--dry-run"}, lock...)...)
	if dry.code != 0 || strings.Count(dry.stderr, "checks only the replication status") != 1 || !strings.Contains(dry.stdout, "would delete") {
		t.Errorf("dry run without a replica: exit %d, stdout %q, stderr %q; want one line saying only the replication status is checked", dry.code, dry.stdout, dry.stderr)
	}
	doc := e.run(t, append([]string{"doctor", "{root}", "{dest}", "--index-dir", "{index}", "--local-retention", "30d", "--json"}, lock...)...)
	var rep doctorReport
	doc.decode(t, &rep)
	if got := rep.status("replica-lock"); got != bucket.CheckWarning {
		t.Errorf("doctor replica-lock without a replica: %q, want a warning (%+v)", got, rep.Checks)
	}

	res := sync()
	if st := res.stats(t); st.Retention == nil || st.Retention.Deleted != 0 || !e.exists(t, rel) {
		t.Fatalf("retention with the replica's version unlocked: %+v, on disk %v; want kept\n%s", st.Retention, e.exists(t, rel), res.stderr)
	}
	if !strings.Contains(res.stderr, "until its replica is locked") || strings.Contains(res.stderr, "checks only the replication status") {
		t.Errorf("sync's log does not say it waits for the replica's lock:\n%s", res.stderr)
	}
	doc = e.runWith(t, withProfile, "doctor", "--config", config, "--index-dir", "{index}", "--json")
	rep = doctorReport{}
	doc.decode(t, &rep)
	if got := rep.status("replica-lock"); got != bucket.CheckOK {
		t.Errorf("doctor replica-lock with a replica: %q, want ok (%+v)", got, rep.Checks)
	}

	// The daemon, given the replica by flags, keeps the file too, until
	// the replica's version is locked.
	d := e.startDaemonWith(t, []string{"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=" + filepath.Join(dir, "none")},
		append(lock, "--full-rescan-interval", "0", "--local-retention", "30d", "--retention-interval", "200ms",
			"--replica", "s3://"+target+"/rec/", "--replica-endpoint-url", replica.Endpoint, "--replica-profile", "replica")...)
	eventually(t, time.Minute, "the daemon's sweep to keep the file for its replica's lock", func() bool {
		return strings.Count(d.out.String(), "until its replica is locked") >= 2
	})
	if !e.exists(t, rel) || d.metric(t, "s3ferry_local_deleted_files_total") != 0 {
		t.Fatalf("the daemon deleted the file while its replica's version is unlocked\n%s", d.out)
	}
	until := time.Now().Add(48 * time.Hour)
	if _, err := rc.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(target), Key: aws.String("rec/" + rel), VersionId: aws.String(vid),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)}}); err != nil {
		t.Fatalf("lock the replica's version: %v", err)
	}
	eventually(t, time.Minute, "the daemon to delete the file once its replica's version is locked", func() bool {
		return !e.exists(t, rel) && d.metric(t, "s3ferry_local_deleted_files_total") == 1
	})
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, d.out)
	}
}
