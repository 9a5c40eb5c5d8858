package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// The end-to-end set every kind of S3 server s3test starts passes, over
// HTTP and over HTTPS (where the SDK sends aws-chunked bodies with
// trailing checksums): users point s3ferry at many S3 implementations, and
// MinIO, which the other tests use, accepts what stricter servers refuse
// (issue 23 item 3). docs/compatibility.md is the table of what passes
// where. A server without its binary skips its cases (make test-compat
// builds them all).

// compatCases are the end-to-end cases, each on a new bucket of a shared
// server.
var compatCases = []struct {
	name string
	fn   func(t *testing.T, e *testEnv)
}{
	{"SyncIncrementalOverwriteVerify", compatSync},
	{"RestoreAt", compatRestoreAt},
	{"Kill9MidMultipartResumes", compatKill9Resume},
	{"AdoptAfterLostIndex", compatAdopt},
	{"RunUploadsADroppedFile", compatRun},
}

func TestCompat(t *testing.T) {
	s3test.EachKind(t, func(t *testing.T, srv *s3test.Server) {
		for _, c := range compatCases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t, newEnvOn(t, srv))
			})
		}
	})
}

// newEnvOn is newEnv on srv instead of the package's MinIO.
func newEnvOn(tb testing.TB, srv *s3test.Server) *testEnv {
	tb.Helper()
	return &testEnv{
		srv:    srv,
		root:   tb.TempDir(),
		index:  tb.TempDir(),
		bucket: srv.NewBucket(tb, true),
		client: srv.Client(tb).SDK(),
	}
}

// compatSync: a first sync, an incremental one that sends only the new
// file, an overwrite that makes a second version, a multipart upload, and
// verify --deep, which reads every object back.
func compatSync(t *testing.T, e *testEnv) {
	layout := []string{"--partition-layout", "2006-01-02", "--lookback", "48h", "--part-size", "5MiB"}
	e.write(t, day(-1)+"/a.wav", "first", time.Hour)
	e.write(t, day(0)+"/b.wav", "second", time.Hour)
	e.writeRandom(t, day(0)+"/big.mp4", 11<<20+5) // three parts
	if got := e.sync(t, 0, layout...); got.Uploaded != 3 || got.Failed != 0 {
		t.Fatalf("first sync: %+v, want 3 uploaded", got)
	}
	e.write(t, day(0)+"/c.wav", "new", time.Minute)
	if got := e.sync(t, 0, layout...); got.Uploaded != 1 || got.Unchanged != 3 {
		t.Fatalf("incremental sync: %+v, want the new file uploaded, 3 unchanged", got)
	}
	e.write(t, day(-1)+"/a.wav", "overwritten, longer", time.Minute)
	if got := e.sync(t, 0, append(layout, "--full")...); got.Uploaded != 1 || got.Unchanged != 3 {
		t.Fatalf("sync after an overwrite: %+v, want 1 uploaded, 3 unchanged", got)
	}
	if n := e.versions(t, day(-1)+"/a.wav"); n != 2 {
		t.Errorf("overwritten file has %d versions, want 2", n)
	}
	e.wantFiles(t, []string{day(-1) + "/a.wav", day(0) + "/b.wav", day(0) + "/big.mp4", day(0) + "/c.wav"})
	if r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep"); r.code != 0 {
		t.Errorf("verify --deep: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	e.wantNoIncompleteUploads(t)
}

// compatRestoreAt restores the tree as it was before an overwrite, after
// it, and after a propagated delete, and as it is now, each compared byte
// for byte with what the files held then. VersityGW dates an overwritten
// version at the overwrite and a delete marker at the version it hides, a
// history S3 cannot produce: there restore --at must refuse the keys
// whose history it cannot trust (exit 3, "untrusted"), restore the rest,
// and never write a wrong version; the restore of now is right.
func compatRestoreAt(t *testing.T, e *testEnv) {
	old := randomString(3000)
	e.write(t, "d/overwritten.wav", old, 3*time.Hour)
	e.write(t, "d/deleted.wav", "deleted later", 3*time.Hour)
	e.write(t, "d/kept.wav", "kept", 3*time.Hour)
	e.sync(t, 0)
	beforeOverwrite := pause()
	e.write(t, "d/overwritten.wav", "new content", time.Hour)
	e.sync(t, 0, "--full")
	beforeDelete := pause()
	if err := os.Remove(filepath.Join(e.root, "d/deleted.wav")); err != nil {
		t.Fatal(err)
	}
	propagate := []string{"--propagate-deletes", "--propagate-deletes-after", "1ms"}
	e.sync(t, 0, propagate...)
	e.sync(t, 0, propagate...)
	if n, deleted := e.markers(t, "d/deleted.wav"); n != 1 || !deleted {
		t.Fatalf("deleted.wav: %d delete markers (current %t), want one current", n, deleted)
	}

	for _, c := range []struct {
		name string
		at   time.Time // zero: now
		want map[string]string
	}{
		{"before the overwrite", beforeOverwrite, map[string]string{"d/overwritten.wav": old, "d/deleted.wav": "deleted later", "d/kept.wav": "kept"}},
		{"before the delete", beforeDelete, map[string]string{"d/overwritten.wav": "new content", "d/deleted.wav": "deleted later", "d/kept.wav": "kept"}},
		{"now", time.Time{}, map[string]string{"d/overwritten.wav": "new content", "d/kept.wav": "kept"}},
	} {
		to := t.TempDir()
		args := []string{"restore", "{dest}", "--to", to, "--json"}
		if !c.at.IsZero() {
			args = append(args, "--at", c.at.Format(time.RFC3339Nano))
		}
		r := e.run(t, args...)
		var st bucket.RestoreStats
		if e.srv.Kind == s3test.VersityGW && !c.at.IsZero() {
			// What it restores is right; what it cannot tell, it refuses.
			if r.code != exitFilesFailed || !strings.Contains(r.stderr, "version timestamps cannot be trusted") {
				t.Fatalf("restore %s on VersityGW: exit %d, want %d naming the untrusted histories\n%s\n%s", c.name, r.code, exitFilesFailed, r.stdout, r.stderr)
			}
			r.decode(t, &st)
			if st.Untrusted == 0 {
				t.Errorf("restore %s on VersityGW: %+v, want the keys it cannot trust counted", c.name, st)
			}
			for rel, content := range c.want {
				if b, err := os.ReadFile(filepath.Join(to, rel)); err == nil && string(b) != content {
					t.Errorf("restore %s on VersityGW: %s holds %q, want %q or nothing", c.name, rel, b, content)
				}
			}
			continue
		}
		if r.code != 0 {
			t.Fatalf("restore %s: exit %d\n%s\n%s", c.name, r.code, r.stdout, r.stderr)
		}
		r.decode(t, &st)
		if st.Restored != int64(len(c.want)) || st.Failed != 0 {
			t.Errorf("restore %s: %+v, want %d restored", c.name, st, len(c.want))
		}
		checkTree(t, to, c.want)
	}
}

// pause returns the time now, once S3 can date what follows after it:
// S3 keeps times to the millisecond, AWS to the second.
func pause() time.Time {
	at := time.Now()
	time.Sleep(time.Until(at.Add(1100 * time.Millisecond)))
	return at
}

// randomString returns n random hex digits.
func randomString(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b) // never returns an error
	return hex.EncodeToString(b)[:n]
}

// compatKill9Resume kills sync with SIGKILL once the server holds parts
// of a multipart upload; the next sync finishes the file: one version,
// the file's bytes, no upload left incomplete.
func compatKill9Resume(t *testing.T, e *testEnv) {
	const size = 40 << 20
	e.writeRandom(t, "cams/big.mp4", size)
	args := []string{"{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--part-size", "5MiB", "--workers", "1"}
	cmd, out := e.startSync(t, append(args, "--bwlimit", "4MiB/s")...)
	eventually(t, 2*time.Minute, "two parts on the server", func() bool { return e.partsHeld(t) >= 2 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if e.hasKeys(t, "cams/big.mp4") {
		t.Fatalf("the upload ended before the kill: the test interrupted nothing\n%s", out)
	}
	r := e.runWithin(t, 3*time.Minute, nil, append([]string{"sync", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("sync after the kill: exit %d\n%s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 {
		t.Errorf("sync after the kill: %+v, want the file uploaded", got)
	}
	e.wantFiles(t, []string{"cams/big.mp4"})
	if n := e.versions(t, "cams/big.mp4"); n != 1 {
		t.Errorf("%d versions, want 1", n)
	}
	e.wantNoIncompleteUploads(t)
}

// partsHeld counts the parts of the bucket's incomplete multipart uploads.
func (e *testEnv) partsHeld(tb testing.TB) int {
	tb.Helper()
	ctx := context.Background()
	out, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, u := range out.Uploads {
		parts, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(e.bucket), Key: u.Key, UploadId: u.UploadId})
		if err != nil {
			tb.Fatal(err)
		}
		n += len(parts.Parts)
	}
	return n
}

// compatAdopt loses the index after a sync: adopt recognises every object
// (the multipart one too), and the next sync sends nothing.
func compatAdopt(t *testing.T, e *testEnv) {
	e.write(t, "d/a.wav", "a", time.Hour)
	e.write(t, "d/with space ü.wav", "b", time.Hour)
	e.writeRandom(t, "d/big.mp4", 11<<20)
	e.sync(t, 0, "--part-size", "5MiB")
	if err := os.RemoveAll(e.index); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "adopt", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--json")
	if r.code != 0 {
		t.Fatalf("adopt: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st bucket.AdoptStats
	r.decode(t, &st)
	if st.Listed != 3 || st.Adopted != 3 || st.Failed != 0 {
		t.Fatalf("adopt after a lost index: %+v, want all 3 listed and adopted", st)
	}
	if got := e.sync(t, 0); got.Uploaded != 0 || got.Unchanged != 3 {
		t.Errorf("sync after adopt: %+v, want nothing uploaded, 3 unchanged", got)
	}
	for _, rel := range []string{"d/a.wav", "d/with space ü.wav", "d/big.mp4"} {
		if n := e.versions(t, rel); n != 1 {
			t.Errorf("%s has %d versions, want 1", rel, n)
		}
	}
}

// compatRun: the daemon uploads what was there at its start and a file
// dropped while it runs, and stops cleanly on SIGTERM.
func compatRun(t *testing.T, e *testEnv) {
	e.write(t, day(0)+"/before.wav", "before the start", time.Hour)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	eventually(t, 30*time.Second, "the file from before the start", func() bool { return e.hasKeys(t, day(0)+"/before.wav") })
	dropped := day(0) + "/agent01/dropped.wav"
	writeNow(t, filepath.Join(e.root, dropped), "dropped while it runs")
	eventually(t, 30*time.Second, "the dropped file", func() bool { return e.hasKeys(t, dropped) })
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, d.out)
	}
	e.wantFiles(t, []string{day(0) + "/before.wav", dropped})
}
