package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// exists says whether rel is below the test's root.
func (e *testEnv) exists(tb testing.TB, rel string) bool {
	tb.Helper()
	_, err := os.Lstat(filepath.Join(e.root, rel))
	return err == nil
}

// retentionTree uploads, to a replicated bucket whose replica has all of
// it, five old files and a young one, then makes all but old.wav unsafe to
// delete: one modified after its upload, one whose version is deleted
// behind s3ferry's back, one uploaded while replication fails (not
// COMPLETED). It returns the relative paths by role.
func retentionTree(t *testing.T, r replicated) map[string]string {
	t.Helper()
	old := day(-100)
	files := map[string]string{
		"old": old + "/agent01/old.wav", "modified": old + "/modified.wav", "versiongone": old + "/versiongone.wav",
		"young": day(-1) + "/young.wav", "pending": old + "/pending.wav",
	}
	for role, rel := range files {
		if role == "pending" {
			continue
		}
		age := 100 * 24 * time.Hour
		if role == "young" {
			age = 24 * time.Hour
		}
		r.write(t, rel, role, age)
	}
	r.sync(t, 0, "--full", "--partition-layout", "2006-01-02", "--wait-replication=2m", "--replication-check-interval", "200ms")

	r.write(t, files["modified"], "modified after its upload", 100*24*time.Hour)
	out, err := r.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(r.bucket), Key: aws.String("rec/" + files["versiongone"])})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(r.bucket), Key: aws.String("rec/" + files["versiongone"]), VersionId: out.VersionId}); err != nil {
		t.Fatal(err)
	}
	r.replica.MC(t, "version", "suspend", s3test.Alias+"/"+r.target)
	r.write(t, files["pending"], "pending", 100*24*time.Hour)
	r.sync(t, 0, "--full", "--partition-layout", "2006-01-02")
	return files
}

// TestSyncLocalRetention deletes exactly the local file that passes every
// condition, first in a dry run that deletes nothing; verify does not call
// it missing and restore brings it back.
func TestSyncLocalRetention(t *testing.T) {
	t.Parallel()
	r := newReplicatedEnv(t)
	files := retentionTree(t, r)
	// The partition directory of old.wav alone: emptied, and removed.
	oldDir := filepath.Dir(files["old"])

	dry := r.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--full", "--partition-layout", "2006-01-02",
		"--local-retention", "30d", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "would delete "+filepath.Join(r.root, files["old"])) || strings.Count(dry.stdout, "would delete") != 1 {
		t.Fatalf("dry run: exit %d, stdout %q; want old.wav alone listed\n%s", dry.code, dry.stdout, dry.stderr)
	}
	for role, rel := range files {
		if !r.exists(t, rel) {
			t.Fatalf("the dry run deleted %s (%s)", rel, role)
		}
	}

	stats := r.sync(t, 0, "--full", "--partition-layout", "2006-01-02", "--local-retention", "30d")
	if stats.Retention == nil || stats.Retention.Deleted != 1 || stats.Retention.Kept != 3 || stats.Retention.DirsRemoved != 1 {
		t.Errorf("retention stats %+v, want 1 deleted, 3 old ones kept, 1 directory removed", stats.Retention)
	}
	for role, rel := range files {
		if got, want := r.exists(t, rel), role != "old"; got != want {
			t.Errorf("%s (%s): on disk %v, want %v", rel, role, got, want)
		}
	}
	if r.exists(t, oldDir) {
		t.Errorf("the emptied partition directory %s is still there", oldDir)
	}

	v := r.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep", "--json")
	var rep bucket.VerifyReport
	if err := json.Unmarshal([]byte(v.stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", err, v.stdout, v.stderr)
	}
	for _, f := range rep.Findings {
		if strings.HasSuffix(f.Path, "old.wav") {
			t.Errorf("verify reports the file the retention deleted: %+v", f)
		}
	}

	res := r.run(t, "restore", "{root}", "{dest}", "--index-dir", "{index}", "--prefix", files["old"], "--to", r.root, "--overwrite")
	if res.code != 0 || !r.exists(t, files["old"]) {
		t.Fatalf("restore of the deleted file: exit %d\n%s", res.code, res.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(r.root, files["old"])); err != nil || string(b) != "old" {
		t.Errorf("restored old.wav = %q, %v; want its content", b, err)
	}
}
