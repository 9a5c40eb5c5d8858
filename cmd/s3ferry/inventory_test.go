package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// TestVerifyInventory runs verify --inventory on a report in AWS's layout,
// made in another bucket from the bucket's versions as S3 would, after a
// missing, a different and an unknown object appeared.
func TestVerifyInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, rel := range []string{"d/deleted.wav", "d/overwritten.wav", "d/fine.wav", "d/with space+plus.wav", "d/unreplicated.wav"} {
		e.write(t, rel, "content of "+rel, time.Hour)
	}
	e.sync(t, 0)
	e.remove(t, "d/deleted.wav")
	e.put(t, "d/overwritten.wav", strings.ToUpper("content of d/overwritten.wav")) // same size, other bytes
	e.put(t, "d/stranger.wav", "not s3ferry's")

	rows, err := buckettest.InventoryOf(ctx, e.srv.Client(t).Bucket(e.bucket), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if rows[i].Key == "rec/d/unreplicated.wav" {
			rows[i].ReplicationStatus = "FAILED"
		}
	}
	reports := e.srv.NewBucket(t, false)
	manifest, err := buckettest.WriteInventory(ctx, e.srv.Client(t).Bucket(reports), e.bucket, "inv/"+e.bucket+"/daily/", 3, slices.Values(rows))
	if err != nil {
		t.Fatal(err)
	}

	r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--inventory", "s3://"+reports+"/"+manifest)
	if r.code != exitProblems {
		t.Fatalf("verify --inventory: exit %d, want %d\n%s\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	var rep bucket.VerifyReport
	r.decode(t, &rep)
	checkFindings(t, rep, map[string][]string{
		bucket.FindingMissing:     {"d/deleted.wav"},
		bucket.FindingContent:     {"d/overwritten.wav"},
		bucket.FindingUnknown:     {"d/stranger.wav"},
		bucket.FindingReplication: {"d/unreplicated.wav"},
	})
	if rep.Listed != 5 || rep.Records != 5 {
		t.Errorf("%d objects, %d records; want 5 objects (one deleted, one added), 5 records", rep.Listed, rep.Records)
	}

	// A report that is not one: a usage error, or one line saying what to do.
	if r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--inventory", "s3://"+reports); r.code != exitUsage || !strings.Contains(r.stderr, "want the s3://BUCKET/PATH/manifest.json") {
		t.Errorf("--inventory of a bucket: exit %d, %q; want %d and what to give", r.code, r.stderr, exitUsage)
	}
	if r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--inventory", "s3://"+reports+"/nothing/manifest.json"); r.code == 0 || !strings.Contains(r.stderr, "give the manifest.json of a delivered report") {
		t.Errorf("--inventory of no report: exit %d, %q; want an error saying what to give", r.code, r.stderr)
	}
}
