package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/index"
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

	doc := r.run(t, "doctor", "{root}", "{dest}", "--index-dir", "{index}", "--local-retention", "30d", "--json")
	var rep2 doctorReport
	doc.decode(t, &rep2)
	if got := rep2.status("retention"); got != bucket.CheckOK {
		t.Errorf("doctor retention on a versioned, replicated bucket: %q, want ok (%+v)", got, rep2.Checks)
	}
	// pending.wav failed to replicate while its file is still there: not
	// failed for good, but not confirmed either.
	if got := rep2.status("replicated"); got == "" {
		t.Errorf("doctor does not report the replication the index tracked (%+v)", rep2.Checks)
	}
	res := r.run(t, "restore", "{root}", "{dest}", "--index-dir", "{index}", "--prefix", files["old"], "--to", r.root, "--overwrite")
	if res.code != 0 || !r.exists(t, files["old"]) {
		t.Fatalf("restore of the deleted file: exit %d\n%s", res.code, res.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(r.root, files["old"])); err != nil || string(b) != "old" {
		t.Errorf("restored old.wav = %q, %v; want its content", b, err)
	}
}

// TestRetentionSurvivesKill9 kills sync -9 while its retention deletes
// files, again and again, and checks after each kill that nothing was
// deleted that the rules keep and that every file missing from the disk is
// in the index's gone set; a last sync finishes the job.
func TestRetentionSurvivesKill9(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 40
	var deletable []string
	for i := range n {
		rel := fmt.Sprintf("%s/f%02d.wav", day(-100-i%3), i)
		e.write(t, rel, rel, 100*24*time.Hour)
		deletable = append(deletable, rel)
	}
	young := day(-1) + "/young.wav"
	e.write(t, young, "young", 24*time.Hour)
	e.sync(t, 0, "--full", "--partition-layout", "2006-01-02")
	modified := deletable[0]
	deletable = deletable[1:]
	e.write(t, modified, "modified after its upload", 100*24*time.Hour)

	args := []string{"sync", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--settle", "0s", "--partition-layout", "2006-01-02",
		"--local-retention", "30d", "--replication-check-rate", "10"}
	midway := false
	for i := range 10 {
		e.killAfter(t, time.Duration(300+400*i)*time.Millisecond, args...)

		gone := goneSet(t, e)
		left := 0
		for _, rel := range deletable {
			switch on := e.exists(t, rel); {
			case on:
				left++
			case gone[rel] != index.GoneRetention:
				t.Fatalf("after kill %d: %s is off the disk and not in the gone set", i+1, rel)
			}
		}
		for _, rel := range []string{young, modified} {
			if !e.exists(t, rel) {
				t.Fatalf("after kill %d: %s was deleted, which the retention must keep", i+1, rel)
			}
		}
		if left > 0 && left < len(deletable) {
			midway = true
		}
		if left == 0 {
			break
		}
	}
	if !midway {
		t.Fatal("no kill landed in the middle of the deletions: the test proved nothing")
	}
	e.sync(t, 0, "--partition-layout", "2006-01-02", "--local-retention", "30d", "--replication-check-rate", "1000")
	gone := goneSet(t, e)
	for _, rel := range deletable {
		if e.exists(t, rel) || gone[rel] != index.GoneRetention {
			t.Errorf("%s after the last sync: on disk %v, gone %v; want deleted and marked", rel, e.exists(t, rel), gone[rel])
		}
	}
	if len(gone) != len(deletable) || !e.exists(t, young) || !e.exists(t, modified) {
		t.Errorf("gone set has %d entries, want %d; young and modified files must stay", len(gone), len(deletable))
	}
}

// goneSet reads the gone set of the test's source from its index.
func goneSet(tb testing.TB, e *testEnv) map[string]index.GoneReason {
	tb.Helper()
	idx, err := index.Open(e.index, index.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer idx.Close()
	got := map[string]index.GoneReason{}
	if err := idx.Removed().Each(sourceID(tb, e), func(rel string, g index.Gone) error { got[rel] = g.Reason; return nil }); err != nil {
		tb.Fatal(err)
	}
	return got
}

// killAfter runs s3ferry with args (no placeholders) and kills it with
// SIGKILL after d, as a crash would; it has ended when killAfter returns.
func (e *testEnv) killAfter(tb testing.TB, d time.Duration, args ...string) {
	tb.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), e.srv.Env()...)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(d)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// TestRunLocalRetention: the daemon uploads an old file, then its sweep
// deletes it, counts it, and leaves a young one.
func TestRunLocalRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old, young := day(-100)+"/old.wav", day(0)+"/young.wav"
	e.write(t, old, "old", 100*24*time.Hour)
	e.write(t, young, "young", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02", "--full-rescan-interval", "0", "--local-retention", "30d", "--retention-interval", "200ms")
	eventually(t, time.Minute, "the old file to be uploaded and deleted locally", func() bool {
		return !e.exists(t, old) && d.metric(t, "s3ferry_local_deleted_files_total") == 1
	})
	if got := e.object(t, old); got != "old" {
		t.Errorf("the bucket's copy of the deleted file = %q", got)
	}
	if !e.exists(t, young) || d.metric(t, "s3ferry_local_deleted_bytes_total") != 3 {
		t.Errorf("young file on disk %v, %v bytes deleted; want it kept and 3 bytes", e.exists(t, young), d.metric(t, "s3ferry_local_deleted_bytes_total"))
	}
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d\n%s", code, d.out)
	}
}
