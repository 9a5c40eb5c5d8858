package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

// controlTree is a tree whose names hold each C0 control character a
// Linux name can (all but NUL; '/' is not one) and DEL, one in a
// directory name, beside plain files: name -> content.
func controlTree() map[string]string {
	files := map[string]string{
		"d/plain.wav":                 "plain",
		"e/other.wav":                 "other",
		"d\x1b[2J/in escaped dir.wav": "in a directory with ESC",
		"d/call\x1b]0;x\x07-01.wav":   "OSC title then BEL",
	}
	for c := byte(1); c < 0x20; c++ {
		files[fmt.Sprintf("d/call%c-%02x.wav", c, c)] = fmt.Sprintf("content %02x", c)
	}
	files["d/call\x7f-7f.wav"] = "content 7f"
	return files
}

// TestControlCharacterNames: a tree with control characters in its
// names syncs, restores, verifies clean, adopts on a fresh index and runs
// under the daemon on a fresh index, every file with it; no command prints
// the names raw.
func TestControlCharacterNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.root = filepath.Join(e.root, "tree\x1b]0;pwned\x07")
	files := controlTree()
	for rel, content := range files {
		e.write(t, rel, content, time.Hour)
	}
	n := int64(len(files))
	if st := e.sync(t, 0); st.Uploaded != n || st.Failed != 0 {
		t.Fatalf("sync: %+v, want %d uploaded", st, n)
	}

	to := t.TempDir()
	r := e.run(t, "restore", "{dest}", "--to", to, "--json")
	var rs bucket.RestoreStats
	if r.code == 0 {
		r.decode(t, &rs)
	}
	if r.code != 0 || rs.Restored != n || rs.Failed != 0 {
		t.Fatalf("restore: exit %d, %+v; want %d restored\n%s", r.code, rs, n, r.stderr)
	}
	checkTree(t, to, files)

	r = e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep", "--json")
	var rep bucket.VerifyReport
	if r.code == 0 {
		r.decode(t, &rep)
	}
	if r.code != 0 || rep.Problems() != 0 || rep.Listed != n || rep.Hashed != n || rep.Unknown != 0 {
		t.Fatalf("verify: exit %d, %+v; want %d listed and read, clean\n%s", r.code, rep, n, r.stderr)
	}

	r = e.run(t, "adopt", "{root}", "{dest}", "--index-dir", t.TempDir(), "--settle", "0s", "--json")
	var ad bucket.AdoptStats
	if r.code == 0 {
		r.decode(t, &ad)
	}
	if r.code != 0 || ad.Listed != n || ad.Adopted != n || ad.Failed != 0 {
		t.Fatalf("adopt on a fresh index: exit %d, %+v; want %d adopted\n%s", r.code, ad, n, r.stderr)
	}

	// The daemon on a fresh index adopts the prefix first: its listing
	// must get through, and nothing is uploaded again.
	e.index = t.TempDir()
	d := e.startDaemon(t)
	eventually(t, 60*time.Second, "the daemon to record every file", func() bool {
		st := d.status(t)
		return len(st.Sources) == 1 && st.Sources[0].Records == n
	})
	if st := d.status(t); st.Sources[0].Uploaded != 0 || st.Sources[0].LastError != "" {
		t.Errorf("daemon on a fresh index: %+v, want every file adopted, none uploaded, no error", st.Sources[0])
	}
	if code := d.stop(t, 30*time.Second); code != 0 {
		t.Errorf("run exit %d\n%s", code, d.out)
	}
	if st := e.sync(t, 0, "--full"); st.Uploaded != 0 {
		t.Errorf("sync after the daemon: %+v, want nothing uploaded", st)
	}

	// Text for a person: no raw ESC or BEL, the escaped form instead.
	_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("rec/d/stranger\x1b[2J\x1b[H\x1b[32mALL BACKUPS OK.wav"),
		Body: strings.NewReader("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEscaped := func(what string, r result, want ...string) {
		t.Helper()
		for _, out := range []string{r.stdout, r.stderr} {
			if strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("%s printed a raw escape:\n%q", what, out)
			}
		}
		for _, w := range want {
			if !strings.Contains(r.stdout+r.stderr, w) {
				t.Errorf("%s output lacks %s:\n%s\n%s", what, w, r.stdout, r.stderr)
			}
		}
	}
	r = e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}")
	checkEscaped("verify", r, `rec/d/stranger\x1b[2J\x1b[H\x1b[32mALL BACKUPS OK.wav`)
	r = e.run(t, "status", "--index-dir", "{index}")
	checkEscaped("status", r, `tree\x1b]0;pwned\a -> s3://`)
	r = e.run(t, "sync", filepath.Join(e.root, "missing\x1b[2J"), "{dest}", "--index-dir", t.TempDir())
	if r.code == 0 {
		t.Errorf("sync of a missing root: exit 0")
	}
	checkEscaped("an error", r, `missing\x1b[2J`)
}

// TestVerifyRepairKeepsEditedBytes: a file edited in place with its size
// and mtime kept looks damaged to verify --deep; the repair brings the
// recorded version back, and the edited bytes are kept as a version of
// its key, or beside it with --replaced beside.
func TestVerifyRepairKeepsEditedBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/asVersion.wav", "first take", time.Hour)
	e.write(t, "d/beside.wav", "first take", time.Hour)
	e.sync(t, 0)
	for _, rel := range []string{"d/asVersion.wav", "d/beside.wav"} {
		rewriteKeepingMtime(t, filepath.Join(e.root, rel), "second tak")
	}
	repair := func(rel string, flags ...string) bucket.Finding {
		t.Helper()
		r := e.run(t, append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--deep", "--repair", "--json"}, flags...)...)
		if r.code != 0 {
			t.Fatalf("verify --repair %v: exit %d\n%s\n%s", flags, r.code, r.stdout, r.stderr)
		}
		var rep bucket.VerifyReport
		r.decode(t, &rep)
		for _, f := range rep.Findings {
			if f.Path == rel && f.Kind == bucket.FindingLocalCorrupt && f.Repaired {
				return f
			}
		}
		t.Fatalf("verify --repair %v: no repaired local-corrupt finding of %s: %+v", flags, rel, rep.Findings)
		return bucket.Finding{}
	}
	// The first run repairs both the default way; the second file is
	// edited again for the run that keeps its bytes beside it.
	f := repair("d/asVersion.wav")
	if !strings.Contains(f.Repair, "kept as version ") {
		t.Errorf("repair says %q, want which version keeps the bytes", f.Repair)
	}
	if got := e.object(t, "d/asVersion.wav"); got != "first take" {
		t.Errorf("current object %q, want the recorded content", got)
	}
	if got := e.contents(t, "d/asVersion.wav"); !strings.Contains(got, "|second tak|") {
		t.Errorf("versions of d/asVersion.wav: %s; want the edited bytes among them", got)
	}
	local, err := os.ReadFile(filepath.Join(e.root, "d/asVersion.wav"))
	if err != nil || string(local) != "first take" {
		t.Errorf("local file %q, %v; want the recorded content", local, err)
	}

	p := filepath.Join(e.root, "d/beside.wav")
	rewriteKeepingMtime(t, p, "third take")
	f = repair("d/beside.wav", "--replaced", "beside")
	kept, _ := filepath.Glob(p + bucket.ReplacedSuffix + "*")
	if len(kept) != 1 {
		t.Fatalf("beside d/beside.wav: %q, want one kept file", kept)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || string(b) != "third take" {
		t.Errorf("%s = %q, %v; want the edited bytes", kept[0], b, err)
	}
	if !strings.Contains(f.Repair, filepath.Base(kept[0])) {
		t.Errorf("repair says %q, want the name %s", f.Repair, filepath.Base(kept[0]))
	}
	if r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep"); r.code != 0 {
		t.Errorf("verify after the repairs: exit %d\n%s", r.code, r.stdout)
	}
	if st := e.sync(t, 0); st.Uploaded != 1 {
		t.Errorf("sync after the repairs: %+v, want the kept file uploaded", st)
	}
}

// rewriteKeepingMtime writes content over the file at p and gives it back
// its mtime, as an editor that keeps it does.
func rewriteKeepingMtime(tb testing.TB, p, content string) {
	tb.Helper()
	info, err := os.Stat(p)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		tb.Fatal(err)
	}
}

// contents is every version of rec/key, newest first, as |a|b|.
func (e *testEnv) contents(tb testing.TB, key string) string {
	tb.Helper()
	ctx := context.Background()
	out, err := e.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatal(err)
	}
	s := "|"
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != "rec/"+key {
			continue
		}
		o, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		s += string(b) + "|"
	}
	return s
}
