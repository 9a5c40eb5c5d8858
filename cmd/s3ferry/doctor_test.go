package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

type doctorReport struct {
	Checks []bucket.Check `json:"checks"`
}

// status returns the status of the check named name (the first one).
func (d doctorReport) status(name string) bucket.CheckStatus {
	for _, c := range d.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

// TestDoctorWithReplication runs s3ferry against a bucket replicated to a
// second MinIO, sees the uploads arrive on the replica, and asks doctor
// about it, about a bucket without replication and about an unversioned
// one.
func TestDoctorWithReplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	replica := s3test.Start(t)
	target := replica.NewBucket(t, true)
	e.srv.Replicate(t, e.bucket, replica, target)

	e.write(t, day(0)+"/agent01/a.wav", "a", time.Hour)
	e.write(t, day(-1)+"/agent02/b.wav", "bb", time.Hour)
	e.sync(t, 0, "--partition-layout", "2006-01-02")
	want := []string{"rec/" + day(-1) + "/agent02/b.wav", "rec/" + day(0) + "/agent01/a.wav"}
	replicaClient := replica.Client(t).SDK()
	eventually(t, time.Minute, "the uploads to reach the replica", func() bool {
		out, err := replicaClient.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(target)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		slices.Sort(keys)
		return slices.Equal(keys, want)
	})

	r := e.run(t, "doctor", "{root}", "{dest}", "--index-dir", "{index}", "--partition-layout", "2006-01-02", "--json")
	var rep doctorReport
	r.decode(t, &rep)
	if r.code != 0 {
		t.Fatalf("doctor on the replicated bucket: exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"credentials", "bucket", "write", "versioning", "replication", "clock", "source", "index", "inotify"} {
		if got := rep.status(name); got != bucket.CheckOK {
			t.Errorf("check %s: %q, want ok (%+v)", name, got, rep.Checks)
		}
	}
	if got := rep.status("multipart"); got != bucket.CheckWarning {
		t.Errorf("check multipart without a lifecycle rule: %q, want warning", got)
	}
	// The write probe left nothing in the bucket, not even a delete marker.
	out, err := e.client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/" + bucket.DoctorProbeKey)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.Versions) + len(out.DeleteMarkers); n != 0 {
		t.Errorf("the write probe left %d versions or delete markers behind", n)
	}

	plain := e.srv.NewBucket(t, true)
	r = e.run(t, "doctor", "{root}", "s3://"+plain+"/rec/", "--index-dir", "{index}", "--json")
	rep = doctorReport{}
	r.decode(t, &rep)
	if r.code != 0 || rep.status("replication") != bucket.CheckWarning {
		t.Errorf("versioned bucket without replication: exit %d, replication %q; want 0 and warning", r.code, rep.status("replication"))
	}

	unversioned := e.srv.NewBucket(t, false)
	r = e.run(t, "doctor", "s3://"+unversioned+"/rec/", "--index-dir", "{index}")
	if r.code != exitProblems {
		t.Fatalf("unversioned bucket: exit %d, want %d\n%s\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "error    versioning") || !strings.Contains(r.stdout, "fix: aws s3api put-bucket-versioning --bucket "+unversioned) {
		t.Errorf("doctor output does not name the versioning error and its fix:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "doctor found 1 error") {
		t.Errorf("stderr = %q, want the count of errors", r.stderr)
	}
	// A bucket that never kept a version keeps no old ones forever.
	if strings.Contains(r.stdout, "kept forever") || !strings.Contains(r.stdout, "none kept: versioning was never enabled") {
		t.Errorf("doctor of a never-versioned bucket does not say it keeps no old versions:\n%s", r.stdout)
	}
}

func TestDoctorMissingBucketAndUnreadableSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run(t, "doctor", "/nonexistent/s3ferry-source", "s3://no-such-bucket-s3ferry/rec/", "--index-dir", "{index}", "--json")
	var rep doctorReport
	r.decode(t, &rep)
	if r.code != exitProblems || rep.status("bucket") != bucket.CheckError || rep.status("source") != bucket.CheckError {
		t.Fatalf("exit %d, bucket %q, source %q; want %d, error, error", r.code, rep.status("bucket"), rep.status("source"), exitProblems)
	}
	if rep.status("versioning") != "" {
		t.Errorf("checks of an unreachable bucket ran: %+v", rep.Checks)
	}
	// Counted as a person counts: one error, two errors.
	for _, c := range []struct{ src, want string }{
		{"/nonexistent/s3ferry-source", "s3ferry: doctor found 2 errors: fix as shown above and run doctor again\n"},
		{e.root, "s3ferry: doctor found 1 error: fix as shown above and run doctor again\n"},
	} {
		r := e.run(t, "doctor", c.src, "s3://no-such-bucket-s3ferry/rec/", "--index-dir", "{index}")
		if r.code != exitProblems || !strings.HasSuffix(r.stderr, c.want) {
			t.Errorf("doctor %s: exit %d, stderr %q; want %d ending %q", c.src, r.code, r.stderr, exitProblems, c.want)
		}
	}
}

// TestDoctorProbeOnMinIO: doctor --probe finds MinIO capable of what
// s3ferry relies on, with the default checksum and with CRC64NVME, and
// leaves no version, delete marker or upload behind; text output names
// each probe check.
func TestDoctorProbeOnMinIO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, algo := range []string{"CRC32C", "CRC64NVME"} {
		r := e.run(t, "doctor", "{dest}", "--index-dir", "{index}", "--probe", "--checksum", algo, "--json")
		var rep doctorReport
		r.decode(t, &rep)
		if r.code != 0 {
			t.Fatalf("doctor --probe --checksum %s: exit %d, want 0\n%s\n%s", algo, r.code, r.stdout, r.stderr)
		}
		for _, name := range []string{"checksum", "history", "part-checksums", "completion", "cleanup"} {
			if got := rep.status(name); got != bucket.CheckOK {
				t.Errorf("%s: check %s: %q, want ok (%+v)", algo, name, got, rep.Checks)
			}
		}
		if got := rep.status("lock"); got != bucket.CheckInfo {
			t.Errorf("%s: check lock on a bucket without Object Lock: %q, want info (skipped)", algo, got)
		}
	}
	out, err := e.client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.Versions) + len(out.DeleteMarkers); n != 0 {
		t.Errorf("the probe left %d versions or delete markers behind", n)
	}
	ups, err := e.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("the probe left %d multipart uploads behind", len(ups.Uploads))
	}

	r := e.run(t, "doctor", "{dest}", "--index-dir", "{index}")
	if r.code != 0 || !strings.Contains(r.stdout, "info     probe") || !strings.Contains(r.stdout, "doctor --probe") {
		t.Errorf("doctor without --probe: exit %d, want 0 and a line saying how to probe:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestDoctorLayout: doctor says how many folders the layout reads, and
// that one reading none of them is an error.
func TestDoctorLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, day(-1)+"/agent05/call.wav", "a", time.Hour)
	e.write(t, day(0)+"/agent05/call.wav", "b", time.Hour)
	doctor := func(layout string) (result, bucket.Check) {
		t.Helper()
		r := e.run(t, "doctor", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--partition-layout", layout)
		var rep doctorReport
		r.decode(t, &rep)
		for _, c := range rep.Checks {
			if c.Name == "layout" {
				return r, c
			}
		}
		t.Fatalf("no layout check:\n%s", r.stdout)
		return r, bucket.Check{}
	}
	r, c := doctor("2006/01/02")
	if r.code != exitProblems || c.Status != bucket.CheckError || !strings.Contains(c.Message, `matches none of the 2 folders`) || !strings.Contains(c.Fix, "2006-01-02") {
		t.Fatalf("wrong layout: exit %d, check %+v; want %d, an error and the layout that reads them", r.code, c, exitProblems)
	}
	r, c = doctor("2006-01-02")
	if c.Status != bucket.CheckOK || c.Message != fmt.Sprintf(`partition layout "2006-01-02" matches 2 of 2 folders, newest %q`, day(0)) {
		t.Fatalf("right layout: exit %d, check %+v", r.code, c)
	}
}
