package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/index"
)

func day(offset int) string { return time.Now().AddDate(0, 0, offset).Format("2006-01-02") }

func TestSyncFirstRunThenOnlyNewFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for _, d := range []int{-200, -30, -1, 0} {
		for _, f := range []string{"agent01/call-1.wav", "agent02/call-2.wav"} {
			rel := day(d) + "/" + f
			e.write(t, rel, "audio of "+rel, time.Hour)
			want = append(want, rel)
		}
	}
	layout := []string{"--partition-layout", "2006-01-02", "--lookback", "48h"}
	got := e.sync(t, 0, layout...)
	if got.Uploaded != 8 || got.Scanned != 8 || got.Failed != 0 {
		t.Fatalf("first run: %+v, want all 8 files uploaded", got)
	}
	slices.Sort(want)
	if keys := e.keys(t); !slices.Equal(keys, want) {
		t.Fatalf("bucket = %q, want %q", keys, want)
	}

	// New files land in today's partition, and one late file in an old one.
	e.write(t, day(0)+"/agent03/call-3.wav", "new today", time.Minute)
	e.write(t, day(0)+"/agent01/call-4.wav", "new today too", time.Minute)
	e.write(t, day(-30)+"/agent01/late.wav", "late write", time.Minute)
	got = e.sync(t, 0, layout...)
	if got.Uploaded != 2 || got.Scanned != 6 || got.Unchanged != 4 {
		t.Fatalf("incremental run: %+v, want only the look-back partitions (6 files) scanned and the 2 new uploaded", got)
	}
	if keys := e.keys(t); len(keys) != 10 || slices.Contains(keys, day(-30)+"/agent01/late.wav") {
		t.Fatalf("bucket after incremental run = %q, want 10 keys without the late file", keys)
	}
	// A full walk finds the late file; nothing else is sent again.
	got = e.sync(t, 0, append(layout, "--full")...)
	if got.Uploaded != 1 || got.Unchanged != 10 {
		t.Fatalf("full run: %+v, want 1 uploaded, 10 unchanged", got)
	}
	if got := e.object(t, day(-30)+"/agent01/late.wav"); got != "late write" {
		t.Fatalf("late file content = %q", got)
	}
}

func TestSyncContentChangeAndTouch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "a/changed.wav", "version one", 2*time.Hour)
	e.write(t, "a/touched.wav", "same bytes", 2*time.Hour)
	e.sync(t, 0)

	e.write(t, "a/changed.wav", "version TWO", time.Hour) // same size, new content
	e.write(t, "a/touched.wav", "same bytes", time.Hour)  // rewritten, same content
	got := e.sync(t, 0, "--full")
	if got.Uploaded != 1 || got.Touched != 1 {
		t.Fatalf("after change: %+v, want 1 uploaded, 1 touched", got)
	}
	if got := e.object(t, "a/changed.wav"); got != "version TWO" {
		t.Fatalf("changed.wav in bucket = %q, want the new content", got)
	}
	if n := e.versions(t, "a/changed.wav"); n != 2 {
		t.Fatalf("changed.wav has %d versions, want 2", n)
	}
	if n := e.versions(t, "a/touched.wav"); n != 1 {
		t.Fatalf("touched.wav has %d versions, want 1: it must not be sent again", n)
	}
	if got := e.sync(t, 0); got.Unchanged != 2 || got.Uploaded+got.Touched != 0 {
		t.Fatalf("third run: %+v, want both unchanged", got)
	}
}

func TestSyncLargeFileMultipartWithChecksum(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := make([]byte, 12<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.root, "big", "video.mp4")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got := e.sync(t, 0, "--part-size", "5MiB")
	if got.Uploaded != 1 || got.Bytes != int64(len(data)) {
		t.Fatalf("got %+v, want 1 file of %d bytes", got, len(data))
	}
	head, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("rec/big/video.mp4"), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	crc := aws.ToString(head.ChecksumCRC32C)
	if !strings.HasSuffix(crc, "-3") {
		t.Fatalf("CRC32C = %q, want a composite checksum over 3 parts", crc)
	}
	if got := e.object(t, "big/video.mp4"); got != string(data) {
		t.Fatal("multipart object differs from the file")
	}
	if head.Metadata["s3ferry-xxhash64"] == "" {
		t.Fatalf("metadata = %v, want the xxhash", head.Metadata)
	}
}

func TestSyncNamesZeroBytesAndFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/with space.wav", "1", time.Hour)
	e.write(t, "d/ünïcødé-通話.wav", "2", time.Hour)
	e.write(t, "d/empty.wav", "", time.Hour)
	e.write(t, "d/.hidden", "3", time.Hour)
	e.write(t, "d/rec.wav.part", "4", time.Hour)
	e.write(t, "d/skip.log", "5", time.Hour)
	e.write(t, "d/bad-\xff\xfe.wav", "6", time.Hour)
	if err := os.Symlink(filepath.Join(e.root, "d/empty.wav"), filepath.Join(e.root, "d/link.wav")); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s", "--exclude", "*.log")
	if r.code != exitFilesFailed {
		t.Fatalf("exit %d, want %d for the file with a non-UTF-8 name\nstderr: %s", r.code, exitFilesFailed, r.stderr)
	}
	if !strings.Contains(r.stderr, "not valid UTF-8") || !strings.Contains(r.stderr, `bad-\xff\xfe.wav`) {
		t.Fatalf("stderr does not name the bad file and why: %s", r.stderr)
	}
	got := r.stats(t)
	if got.Uploaded != 3 || got.Failed != 1 || got.Excluded != 4 {
		t.Fatalf("got %+v, want 3 uploaded, 1 failed, 4 excluded (dotfile, .part, *.log, symlink)", got)
	}
	want := []string{"d/empty.wav", "d/with space.wav", "d/ünïcødé-通話.wav"}
	if keys := e.keys(t); !slices.Equal(keys, want) {
		t.Fatalf("bucket = %q, want %q", keys, want)
	}
	if got := e.object(t, "d/empty.wav"); got != "" {
		t.Fatalf("empty.wav = %q", got)
	}
	// With --follow-symlinks the link is uploaded as the file it points to.
	r = e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s", "--exclude", "*.log", "--follow-symlinks")
	if got := r.stats(t); got.Uploaded != 1 {
		t.Fatalf("with --follow-symlinks: %+v, want the link uploaded", got)
	}
}

func TestSyncUnreadableFileIsReportedNotFatal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/ok.wav", "fine", time.Hour)
	e.write(t, "d/secret.wav", "no access", time.Hour)
	if err := os.Chmod(filepath.Join(e.root, "d/secret.wav"), 0); err != nil {
		t.Fatal(err)
	}
	// Root reads everything; run as nobody so permission is really denied.
	asNobody := func(cmd *exec.Cmd) {}
	if os.Geteuid() == 0 {
		for _, d := range []string{e.root, e.index, filepath.Dir(e.root), filepath.Dir(e.index)} {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		asNobody = func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
	}
	r := e.runWith(t, asNobody, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s")
	if r.code != exitFilesFailed {
		t.Fatalf("exit %d, want %d\nstderr: %s", r.code, exitFilesFailed, r.stderr)
	}
	if !strings.Contains(r.stderr, "secret.wav") || !strings.Contains(r.stderr, "permission") {
		t.Fatalf("stderr does not report the unreadable file: %s", r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 || got.Failed != 1 {
		t.Fatalf("got %+v, want the readable file uploaded and 1 failure", got)
	}
}

func TestSyncDeferredDryRunAndSettle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/old.wav", "old", time.Hour)
	e.write(t, "d/fresh.wav", "fresh", 0)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--dry-run", "--settle", "10m")
	if r.code != 0 || !strings.Contains(r.stdout, "would upload") || !strings.Contains(r.stdout, "old.wav") || strings.Contains(r.stdout, "fresh.wav") {
		t.Fatalf("dry run: exit %d, stdout %q, want old.wav listed and fresh.wav not", r.code, r.stdout)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Fatalf("dry run uploaded %q", keys)
	}
	got := e.sync(t, 0, "--settle", "10m")
	if got.Uploaded != 1 || got.Deferred != 1 {
		t.Fatalf("got %+v, want old.wav uploaded and fresh.wav deferred", got)
	}
}

func TestSyncRefusesIndexInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "a.wav", "a", time.Hour)
	idx, err := index.Open(e.index, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}")
	if r.code != exitLocked {
		t.Fatalf("exit %d, want %d\nstderr: %s", r.code, exitLocked, r.stderr)
	}
	if !strings.Contains(r.stderr, "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("stderr does not name the process holding the index: %s", r.stderr)
	}
}

func TestSyncUsageAndConfigErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "a.wav")
	if err := os.WriteFile(file, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "s3ferry.yml")
	if err := os.WriteFile(cfg, []byte("sources:\n  - path: /tmp\n    destination: s3://b/\n    partiton-layout: 2006-01-02\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown config key", []string{"sync", "--config", cfg}, exitUsage, "line 4: unknown key partiton-layout"},
		{"bad destination", []string{"sync", "{root}", "bucket/x"}, exitUsage, "must look like s3://bucket/prefix/"},
		{"bad layout", []string{"sync", "{root}", "{dest}", "--partition-layout", "yyyy-mm-dd"}, exitUsage, "no date or time element"},
		{"bad size", []string{"sync", "{root}", "{dest}", "--part-size", "lots"}, exitUsage, "is not a size"},
		{"no attempts", []string{"sync", "{root}", "{dest}", "--max-attempts", "0"}, exitUsage, "--max-attempts must be at least 1"},
		{"memory below a part", []string{"sync", "{root}", "{dest}", "--part-size", "32MiB", "--upload-memory", "16MiB"}, exitUsage, "raise upload.memory or lower part-size"},
		{"bad workers", []string{"sync", "{root}", "{dest}", "--workers", "many"}, exitUsage, "want auto or a number of files"},
		{"no max workers", []string{"sync", "{root}", "{dest}", "--max-workers", "0"}, exitUsage, "--max-workers must be at least 1"},
		{"too many attempts", []string{"sync", "{root}", "{dest}", "--max-attempts", "99"}, exitUsage, "max attempts 99: want at most 30"},
		{"no stall timeout", []string{"sync", "{root}", "{dest}", "--stall-timeout", "0s"}, exitUsage, "--stall-timeout must be positive"},
		{"missing bucket", []string{"sync", "{root}", "s3://no-such-bucket-s3ferry/", "--index-dir", "{index}"}, exitError, "no-such-bucket-s3ferry"},
		// No such flag as --destination: the destination is DEST or destination:.
		{"missing bucket, what to fix", []string{"sync", "{root}", "s3://no-such-bucket-s3ferry/", "--index-dir", "{index}"}, exitError, "fix the destination s3://BUCKET/PREFIX/ (the DEST argument, or the source's destination: in the configuration)"},
		{"unknown flag", []string{"sync", "--frobnicate"}, exitUsage, "frobnicate"},
		{"invalid bucket name", []string{"sync", "{root}", "s3://Bad_Bucket/x/", "--index-dir", "{index}"}, exitUsage, `bucket name "Bad_Bucket" is not valid`},
		{"missing source", []string{"sync", "{root}/nope", "{dest}", "--index-dir", "{index}"}, exitUsage, "nope does not exist"},
		{"file as source", []string{"sync", file, "{dest}", "--index-dir", "{index}"}, exitUsage, "is not a directory"},
		// The daemon's configuration errors exit 78, EX_CONFIG, which the
		// unit does not restart; a Go crash exits 2, and is restarted.
		{"run: unknown config key", []string{"run", "--config", cfg}, exitConfig, "unknown key partiton-layout"},
		{"run: unknown flag", []string{"run", "--frobnicate"}, exitConfig, "frobnicate"},
		{"run: bad destination", []string{"run", "{root}", "bucket/x", "--index-dir", "{index}"}, exitConfig, "must look like s3://bucket/prefix/"},
		{"run: invalid bucket name", []string{"run", "{root}", "s3://Bad_Bucket/x/", "--index-dir", "{index}", "--admin-listen", "off"}, exitConfig, "is not valid"},
	}
	for _, tt := range tests {
		r := e.run(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tt.name, r.code, r.stderr, tt.code, tt.want)
		}
		if lines := strings.Count(strings.TrimSpace(lastLine(r.stderr)), "\n"); lines != 0 {
			t.Errorf("%s: error is not one line: %q", tt.name, r.stderr)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestSyncConfigFileWithTwoSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := t.TempDir()
	e.write(t, day(0)+"/a.wav", "a", time.Hour)
	if err := os.WriteFile(filepath.Join(other, "cam.mp4"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(other, "cam.mp4"), old, old); err != nil {
		t.Fatal(err)
	}
	var cfg bytes.Buffer
	cfg.WriteString("index-dir: " + e.index + "\nsettle: 0s\nsources:\n")
	cfg.WriteString("  - path: " + e.root + "\n    destination: s3://" + e.bucket + "/rec/\n    partition-layout: 2006-01-02\n")
	cfg.WriteString("  - path: " + other + "\n    destination: s3://" + e.bucket + "/cams\n")
	path := filepath.Join(t.TempDir(), "s3ferry.yml")
	if err := os.WriteFile(path, cfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "sync", "--config", path, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 2 {
		t.Fatalf("got %+v, want one file from each source", got)
	}
	if got := e.object(t, day(0)+"/a.wav"); got != "a" {
		t.Fatalf("rec object = %q", got)
	}
	out, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("cams/cam.mp4")})
	if err != nil || aws.ToInt64(out.ContentLength) != 1 {
		t.Fatalf("cams/cam.mp4: %v", err)
	}
}

func TestSyncFileDeletedBeforeItsUploadIsSkipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// One worker, a slow multipart upload of a-big first; b-small waits
	// behind it, already listed by the walk, and is deleted meanwhile.
	big := make([]byte, 6<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	e.write(t, "d/a-big.wav", string(big), time.Hour)
	e.write(t, "d/b-small.wav", "small", time.Hour)
	ctx := context.Background()
	done := make(chan result, 1)
	go func() {
		done <- e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s",
			"--workers", "1", "--part-size", "5MiB", "--bwlimit", "1MiB/s")
	}()
	eventually(t, 60*time.Second, "the multipart upload of a-big to start", func() bool {
		out, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.bucket)})
		return err == nil && len(out.Uploads) > 0
	})
	if err := os.Remove(filepath.Join(e.root, "d/b-small.wav")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: a vanished file is not an error\nstderr: %s", r.code, r.stderr)
	}
	if got := r.stats(t); got.Uploaded != 1 || got.Vanished != 1 || got.Failed != 0 {
		t.Fatalf("got %+v, want a-big uploaded and b-small vanished", got)
	}
	if keys := e.keys(t); !slices.Equal(keys, []string{"d/a-big.wav"}) {
		t.Fatalf("bucket = %q", keys)
	}
	// Nothing is left pending for the vanished file.
	if got := e.sync(t, 0); got.Uploaded != 0 || got.Vanished != 0 {
		t.Fatalf("next run: %+v, want nothing left to do", got)
	}
}

// TestSyncRefusesAnUnversionedBucket: on a bucket without versioning an
// upload replaces what it overwrites, so sync refuses before the walk,
// saying how to enable it; --allow-unversioned uploads, with the warning.
func TestSyncRefusesAnUnversionedBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bucket = e.srv.NewBucket(t, false)
	e.write(t, "a.wav", "a", time.Hour)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s")
	if r.code != exitUsage || !strings.Contains(r.stderr, "s3ferry: bucket "+e.bucket+" is not versioned") ||
		!strings.Contains(r.stderr, "aws s3api put-bucket-versioning --bucket "+e.bucket) || !strings.Contains(r.stderr, "--allow-unversioned") {
		t.Fatalf("exit %d, stderr %q; want %d and an error naming put-bucket-versioning and --allow-unversioned", r.code, r.stderr, exitUsage)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Fatalf("refused sync uploaded %q", keys)
	}
	// The versioning is asked while the index opens; an index another
	// process holds still decides first (that process may do the sync).
	idx, err := index.Open(e.index, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r = e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s")
	idx.Close()
	if r.code != exitLocked || strings.Contains(r.stderr, "not versioned") {
		t.Fatalf("index held: exit %d, stderr %q; want %d and no word of versioning", r.code, r.stderr, exitLocked)
	}
	r = e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--allow-unversioned")
	if r.code != 0 || !strings.Contains(r.stderr, "is not versioned") {
		t.Fatalf("--allow-unversioned: exit %d, stderr %q; want 0 and the warning", r.code, r.stderr)
	}
	if keys := e.keys(t); !slices.Equal(keys, []string{"a.wav"}) {
		t.Fatalf("bucket = %q, want a.wav", keys)
	}
	versioned := newEnv(t)
	versioned.write(t, "a.wav", "a", time.Hour)
	if r := versioned.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s"); r.code != 0 || strings.Contains(r.stderr, "not versioned") {
		t.Errorf("versioned bucket: exit %d, stderr %s", r.code, r.stderr)
	}
}

// TestSyncRefusesALayoutThatMatchesNoFolder: a layout that reads none of
// the tree's date folders would back up nothing, night after night, with
// exit 0; sync refuses before it does anything, and says which layout
// would read them. The right layout passes, and so does a tree whose
// partitions all lie before the look-back window, or that has none yet.
func TestSyncRefusesALayoutThatMatchesNoFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, d := range []int{-2, -1, 0} {
		e.write(t, day(d)+"/agent05/call.wav", "audio", time.Hour)
	}
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--partition-layout", "2006/01/02")
	want := fmt.Sprintf(`s3ferry: partition layout "2006/01/02" matches none of the 3 folders under %s (e.g. %q): set --partition-layout to match them, e.g. 2006-01-02`, e.root, day(-2))
	if r.code != exitUsage || lastLine(r.stderr) != want {
		t.Fatalf("exit %d, last line %q; want %d and %q\n%s", r.code, lastLine(r.stderr), exitUsage, want, r.stderr)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Fatalf("refused sync uploaded %q", keys)
	}
	if got := e.sync(t, 0, "--partition-layout", "2006-01-02"); got.Uploaded != 3 {
		t.Fatalf("right layout: %+v, want 3 uploaded", got)
	}

	old := newEnv(t)
	old.write(t, day(-30)+"/agent05/call.wav", "audio", time.Hour)
	layout := []string{"--partition-layout", "2006-01-02", "--lookback", "48h"}
	if got := old.sync(t, 0, layout...); got.Uploaded != 1 {
		t.Fatalf("old tree, first run: %+v, want 1 uploaded", got)
	}
	if got := old.sync(t, 0, layout...); got.Scanned != 0 {
		t.Fatalf("old tree, partition walk: %+v, want nothing scanned", got)
	}
	empty := newEnv(t)
	empty.sync(t, 0, layout...)
}

// TestSyncUnreadableDirectoryCountedOnce: a directory that cannot be read
// is one failure on every run: the later runs' retry of it and their walk
// meet it twice, and must count and log it once.
func TestSyncUnreadableDirectoryCountedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/ok.wav", "fine", time.Hour)
	e.write(t, "d/locked/secret.wav", "no access", time.Hour)
	asNobody := e.unreadable(t, "d/locked")
	for run := 1; run <= 3; run++ {
		r := e.runWith(t, asNobody, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s", "--log-format", "json")
		if r.code != exitFilesFailed {
			t.Fatalf("run %d: exit %d, want %d\nstderr: %s", run, r.code, exitFilesFailed, r.stderr)
		}
		if got := r.stats(t); got.Failed != 1 {
			t.Errorf("run %d: %+v, want the unreadable directory counted once", run, got)
		}
		if n := strings.Count(r.stderr, `"msg":"cannot read"`); n != 1 {
			t.Errorf("run %d: the unreadable directory logged %d times, want once:\n%s", run, n, r.stderr)
		}
	}
}

// TestJSONLogsNamePathsOneWay: every log line about a file or directory
// of a source names it the same way, for files and directories alike:
// "source" is the source's root, "path" the path relative to it.
func TestJSONLogsNamePathsOneWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/ok.wav", "fine", time.Hour)
	e.write(t, "d/locked/secret.wav", "no access", time.Hour)
	asNobody := e.unreadable(t, "d/locked")
	r := e.runWith(t, asNobody, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--log-format", "json", "--log-level", "debug", "--no-progress")
	if r.code != exitFilesFailed {
		t.Fatalf("exit %d, want %d\nstderr: %s", r.code, exitFilesFailed, r.stderr)
	}
	named := map[string]string{} // msg → path
	for line := range strings.Lines(r.stderr) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue // the summary a person reads
		}
		if src, ok := rec["source"]; ok && src != e.root {
			t.Errorf("source %q, want the root %s: %s", src, e.root, line)
		}
		p, ok := rec["path"].(string)
		if !ok {
			continue
		}
		if filepath.IsAbs(p) || rec["source"] != e.root {
			t.Errorf("path %q with source %v, want a path relative to the root %s: %s", p, rec["source"], e.root, line)
		}
		named[rec["msg"].(string)] = p
	}
	if named["uploaded"] != "d/ok.wav" || named["cannot read"] != "d/locked" {
		t.Errorf("logged paths %v, want uploaded d/ok.wav and cannot read d/locked", named)
	}
}

// unreadable makes the directory rel below the root unreadable (mode 0)
// and returns how to run s3ferry so that it really is: as nobody when the
// test runs as root, who reads everything, with the root, the index and
// rel's parent open to nobody.
func (e *testEnv) unreadable(tb testing.TB, rel string) func(*exec.Cmd) {
	tb.Helper()
	dir := filepath.Join(e.root, rel)
	if err := os.Chmod(dir, 0); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Chmod(dir, 0o755) })
	if os.Geteuid() != 0 {
		return func(*exec.Cmd) {}
	}
	for _, d := range []string{e.root, e.index, filepath.Dir(e.root), filepath.Dir(e.index), filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o777); err != nil {
			tb.Fatal(err)
		}
	}
	return func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
}
