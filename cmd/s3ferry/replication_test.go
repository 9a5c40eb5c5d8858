package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// replicated is a test env whose bucket replicates to a bucket of a
// second MinIO.
type replicated struct {
	*testEnv
	replica *s3test.Server
	target  string
}

func newReplicatedEnv(tb testing.TB) replicated {
	tb.Helper()
	e := newEnv(tb)
	replica := s3test.Start(tb)
	target := replica.NewBucket(tb, true)
	e.srv.Replicate(tb, e.bucket, replica, target)
	return replicated{testEnv: e, replica: replica, target: target}
}

// replicaHas says whether the replica holds key below rec/ with content.
func (r replicated) replicaHas(tb testing.TB, key, content string) bool {
	tb.Helper()
	out, err := r.replica.Client(tb).SDK().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(r.target), Key: aws.String("rec/" + key)})
	if err != nil {
		return false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return err == nil && string(b) == content
}

// replicationStatus is what HeadObject of the current version of key
// below rec/ says of its replication.
func (r replicated) replicationStatus(tb testing.TB, key string) string {
	tb.Helper()
	out, err := r.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(r.bucket), Key: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatal(err)
	}
	return string(out.ReplicationStatus)
}

// TestRunTracksReplication runs the daemon against a replicated bucket: an
// upload is tracked until COMPLETED (metrics, status); then the replica's
// bucket stops versioning, replication of the next upload FAILS, and once
// it versions again s3ferry has sent the file again, so the replica holds
// every file.
func TestRunTracksReplication(t *testing.T) {
	t.Parallel()
	r := newReplicatedEnv(t)
	r.write(t, "a.wav", "first", time.Hour)
	d := r.startDaemon(t, "--replication-check-interval", "200ms", "--replication-max-backoff", "1s")
	eventually(t, time.Minute, "a.wav to be confirmed on the replica", func() bool {
		return d.metric(t, "s3ferry_replication_lag_seconds_count") == 1 && d.metric(t, "s3ferry_replication_pending") == 0
	})
	if !r.replicaHas(t, "a.wav", "first") {
		t.Error("the tracker said COMPLETED but the replica lacks a.wav")
	}
	st := d.status(t)
	if rs := st.Sources[0].Replication; rs == nil || rs.Pending != 0 || rs.Failed != 0 {
		t.Errorf("status replication = %+v, want tracked with nothing pending", rs)
	}
	if out := r.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}").stdout; !strings.Contains(out, "not yet replicated") {
		t.Errorf("s3ferry status does not show replication:\n%s", out)
	}

	// The replica's bucket stops versioning: replication of new versions
	// fails.
	r.replica.MC(t, "version", "suspend", s3test.Alias+"/"+r.target)
	writeNow(t, r.root+"/b.wav", "second")
	eventually(t, 2*time.Minute, "replication of b.wav to fail", func() bool {
		return d.metric(t, "s3ferry_replication_failed_total") >= 1
	})
	if got := d.metric(t, "s3ferry_replication_resent_total"); got < 1 {
		t.Errorf("s3ferry_replication_resent_total = %v after a FAILED version of an unchanged file, want at least 1", got)
	}
	// Back to versioning.
	r.replica.MC(t, "version", "enable", s3test.Alias+"/"+r.target)
	eventually(t, 3*time.Minute, "b.wav to reach the replica after it is back", func() bool {
		return r.replicaHas(t, "b.wav", "second") && d.metric(t, "s3ferry_replication_pending") == 0
	})
	if !r.replicaHas(t, "a.wav", "first") {
		t.Error("the replica lost a.wav")
	}
	if n := r.versions(t, "b.wav"); n < 2 {
		t.Errorf("b.wav has %d versions, want a second one sent after the first FAILED", n)
	}
	resp, err := d.get("/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(string(body), "warning") {
		t.Errorf("/healthz = %d %q once replication caught up, want 200 ok", resp.StatusCode, body)
	}
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, d.out)
	}
}

// TestSyncWaitReplication runs sync --wait-replication: it returns once the
// replica holds what it uploaded, and with a timeout it fails when the
// replica cannot get it.
func TestSyncWaitReplication(t *testing.T) {
	t.Parallel()
	r := newReplicatedEnv(t)
	r.write(t, "a.wav", "first", time.Hour)
	r.write(t, "d/b.wav", "second", time.Hour)
	stats := r.sync(t, 0, "--wait-replication=2m", "--replication-check-interval", "200ms")
	if stats.Uploaded != 2 {
		t.Fatalf("uploaded %d, want 2", stats.Uploaded)
	}
	for key, content := range map[string]string{"a.wav": "first", "d/b.wav": "second"} {
		if got := r.replicationStatus(t, key); got != "COMPLETED" {
			t.Errorf("%s: replication %q when sync --wait-replication returned, want COMPLETED", key, got)
		}
		if !r.replicaHas(t, key, content) {
			t.Errorf("the replica lacks %s when sync --wait-replication returned", key)
		}
	}

	// The replica's bucket is gone for good: the wait times out, exit 1.
	r.replica.MC(t, "rb", "--force", s3test.Alias+"/"+r.target)
	r.write(t, "c.wav", "third", time.Hour)
	res := r.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--wait-replication=3s", "--replication-check-interval", "200ms")
	if res.code != 1 || !strings.Contains(res.stderr, "not yet on the replica after 3s") {
		t.Errorf("sync --wait-replication=3s with no replica: exit %d, stderr %q; want 1 and the count not replicated", res.code, res.stderr)
	}
}

// TestVerifyReplica removes a version from the replica behind s3ferry's
// back: verify --replica (with the replica's own endpoint and profile)
// reports it, --repair sends the file again, and the replica then holds it.
func TestVerifyReplica(t *testing.T) {
	t.Parallel()
	r := newReplicatedEnv(t)
	r.write(t, "a.wav", "first", time.Hour)
	r.write(t, "d/b.wav", "second", time.Hour)
	r.sync(t, 0, "--wait-replication=2m", "--replication-check-interval", "200ms")

	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[replica]\naws_access_key_id = "+r.replica.AccessKey+"\naws_secret_access_key = "+r.replica.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withProfile := func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+filepath.Join(dir, "none"))
	}
	verify := func(flags ...string) (result, bucket.VerifyReport) {
		args := append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--json",
			"--replica", "s3://" + r.target + "/rec/", "--replica-endpoint-url", r.replica.Endpoint, "--replica-profile", "replica"}, flags...)
		res := r.runWith(t, withProfile, args...)
		var rep bucket.VerifyReport
		if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
			t.Fatalf("verify --json: %v\n%s\n%s", err, res.stdout, res.stderr)
		}
		return res, rep
	}
	if res, rep := verify(); res.code != 0 || rep.ReplicaListed != 2 {
		t.Fatalf("verify --replica of a complete replica: exit %d, %d versions listed\n%s", res.code, rep.ReplicaListed, res.stderr)
	}

	rc := r.replica.Client(t).SDK()
	out, err := rc.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(r.target), Key: aws.String("rec/d/b.wav")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(r.target), Key: aws.String("rec/d/b.wav"), VersionId: out.VersionId}); err != nil {
		t.Fatal(err)
	}
	res, rep := verify()
	if res.code != exitProblems || rep.ReplicaMissing != 1 || len(rep.Findings) != 1 || rep.Findings[0].Path != "d/b.wav" {
		t.Fatalf("verify --replica after a version was removed from it: exit %d, %+v", res.code, rep)
	}
	if res, rep := verify("--repair"); res.code != 0 || rep.Repaired != 1 {
		t.Fatalf("verify --replica --repair: exit %d, %d repaired\n%s", res.code, rep.Repaired, res.stderr)
	}
	eventually(t, time.Minute, "the repaired file to reach the replica", func() bool { return r.replicaHas(t, "d/b.wav", "second") })
	eventually(t, time.Minute, "verify --replica to find nothing", func() bool {
		res, rep := verify()
		return res.code == 0 && rep.ReplicaMissing == 0
	})
}
