package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// dropVersion deletes the version of rec/key that is current now for
// good, and puts the same bytes back as a new version, behind s3ferry's
// back: the listing shows the same size and ETag, but the version the
// index recorded is gone (what a lifecycle rule that expires noncurrent
// versions, or an admin's cleanup, does).
func (e *testEnv) dropVersion(tb testing.TB, key, content string) {
	tb.Helper()
	v := e.latestVersions(tb)["rec/"+key]
	if _, err := e.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key), VersionId: aws.String(v)}); err != nil {
		tb.Fatal(err)
	}
	e.put(tb, key, content)
}

// randomFile writes n random bytes to rel, an hour old, and returns them.
func (e *testEnv) randomFile(tb testing.TB, rel string, n int) string {
	tb.Helper()
	b := make([]byte, n)
	rand.Read(b)
	e.write(tb, rel, string(b), time.Hour)
	return string(b)
}

// TestVerifyReadFindsWhatListingsMiss damages the backup in the two ways
// a real MinIO lets a test do so that every listing still looks right:
// the part file of one object rots on MinIO's disk, and the version the
// index recorded of another is deleted and the same bytes put again.
// verify passes; verify --read all finds both and exits 5.
//
// What MinIO cannot stage: a store that serves rotten bytes. MinIO keeps
// a bitrot hash of every part and refuses to serve a damaged one (503
// "Resource requested is unreadable"), so the rot reads as unreadable,
// not corrupt; a store that hands back other bytes under the same ETag is
// TestReadCheckFindsRot's, on buckettest.Fake. Nor can a writer through
// the S3 API: a new version leaves the recorded one intact, which the
// read check rightly reads back clean.
func TestVerifyReadFindsWhatListingsMiss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.randomFile(t, "d/rotten.wav", 200<<10) // larger than MinIO inlines
	replaced := e.randomFile(t, "d/replaced.wav", 1000)
	for i := range 5 {
		e.randomFile(t, fmt.Sprintf("d/fine-%d.wav", i), 3000+i)
	}
	e.sync(t, 0)
	e.srv.Rot(t, e.bucket, "rec/d/rotten.wav")
	e.dropVersion(t, "d/replaced.wav", replaced)

	verify := func(want int, flags ...string) bucket.VerifyReport {
		t.Helper()
		r := e.run(t, append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--max-attempts", "2"}, flags...)...)
		if r.code != want {
			t.Fatalf("verify %v: exit %d, want %d\n%s\n%s", flags, r.code, want, r.stdout, r.stderr)
		}
		var rep bucket.VerifyReport
		r.decode(t, &rep)
		return rep
	}
	if rep := verify(0); rep.Problems() != 0 || rep.Read != nil {
		t.Fatalf("verify without --read: %+v, want no problem: the listing looks right", rep)
	}
	rep := verify(exitProblems, "--read", "all")
	checkFindings(t, rep, map[string][]string{
		bucket.FindingReadUnreadable: {"d/rotten.wav"},
		bucket.FindingReadMissing:    {"d/replaced.wav"},
	})
	if r := rep.Read; r == nil || r.Records != 7 || r.Sampled != 7 || r.Objects != 7 || r.Unreadable != 1 || r.Missing != 1 {
		t.Fatalf("read report %+v: want all 7 read, 1 unreadable, 1 gone", rep.Read)
	}

	// The text summary says what was read, and the problem what to do.
	r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--read", "all", "--max-attempts", "2")
	if r.code != exitProblems || !strings.Contains(r.stdout, "read back 7 of 7 recorded versions (all): 7 objects") ||
		!strings.Contains(r.stdout, "read-missing     rec/d/replaced.wav: version ") {
		t.Errorf("text verify --read: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--read", "2 percent"); r.code != exitUsage {
		t.Errorf("verify --read '2 percent': exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
}

// TestVerifyReadSampleReadsWhatItSays: a sampled drill through a proxy
// that counts the bytes on the wire reads as many objects and bytes as
// its summary says, and fewer than the whole backup.
func TestVerifyReadSampleReadsWhatItSays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const files = 40
	var total int64
	for i := range files {
		total += int64(len(e.randomFile(t, fmt.Sprintf("d/%02d.wav", i), 1000+i*997)))
	}
	e.sync(t, 0)
	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 1)
	verify := func(flags ...string) (bucket.VerifyReport, s3test.ProxyStats) {
		t.Helper()
		before := p.Stats()
		r := e.run(t, append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--endpoint-url", p.URL}, flags...)...)
		if r.code != 0 {
			t.Fatalf("verify %v: exit %d\n%s\n%s", flags, r.code, r.stdout, r.stderr)
		}
		var rep bucket.VerifyReport
		r.decode(t, &rep)
		after := p.Stats()
		return rep, s3test.ProxyStats{Requests: after.Requests - before.Requests, BytesAnswered: after.BytesAnswered - before.BytesAnswered}
	}
	_, listing := verify()
	rep, drill := verify("--read", "25%", "--read-workers", "3")
	r := rep.Read
	if r == nil || r.Records != files || r.Sampled != 10 || r.Objects != 10 {
		t.Fatalf("read report %+v: want 10 of %d read", r, files)
	}
	if gets := drill.Requests - listing.Requests; gets != r.Objects {
		t.Errorf("the drill sent %d more requests than verify alone, its summary says %d objects", gets, r.Objects)
	}
	if wire := drill.BytesAnswered - listing.BytesAnswered; wire != r.Bytes || r.Bytes == 0 || r.Bytes >= total {
		t.Errorf("the proxy passed %d more answer bytes than verify alone; the summary says %d (of %d backed up)", wire, r.Bytes, total)
	}
}
