package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

// Tests of restore against a hostile bucket and hostile neighbours
// (issue 22): what a bucket writer plants, and what another local user can
// see or change while a root restore runs.

// plant writes rec/key behind s3ferry's back with s3ferry metadata of the
// attacker's choosing, as anyone who may write to the bucket can.
func (e *testEnv) plant(tb testing.TB, key, body string, meta map[string]string) {
	tb.Helper()
	_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("rec/" + key), Body: bytes.NewReader([]byte(body)), Metadata: meta,
	})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

// modeOf is the permission and special bits of p (not following a link).
func modeOf(tb testing.TB, p string) fs.FileMode {
	tb.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// requireRoot skips a test that needs root, as restore is often run.
func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: it restores as root, watched by an unprivileged user")
	}
}

// publicDir is a new empty directory that every user may traverse (a
// test's temporary directory is 0700).
func publicDir(tb testing.TB) string {
	tb.Helper()
	base := tb.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return base
}

// TestRestoreNeverShowsPrivateFile: while a root restore writes a 0600
// file into a 0700 directory, an unprivileged user polling the target (the
// file's name and the temporary files beside it) never opens it. A proxy
// holds the file's download halfway until the poller has looked several
// times, so the test does not depend on how fast the download is.
func TestRestoreNeverShowsPrivateFile(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	e := newEnv(t)
	const rel = "private/secret.bin"
	e.write(t, rel, strings.Repeat("secret!\n", 128<<10), time.Hour) // 1 MiB
	if err := os.Chmod(filepath.Join(e.root, rel), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.root, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.sync(t, 0)

	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open()
	target, err := url.Parse(e.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, "/"+rel) {
			resp.Body = &heldBody{ReadCloser: resp.Body, after: 64 << 10, release: release}
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	to := filepath.Join(publicDir(t), "to")
	if err := os.Mkdir(to, 0o755); err != nil {
		t.Fatal(err)
	}
	// The canary proves the poller may open what the target holds for all.
	if err := os.WriteFile(filepath.Join(to, "canary"), []byte("public"), 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `cd "$1" || exit 3
head -c1 canary >/dev/null || exit 3
while :; do
	for f in "$2" private/* private/.s3ferry-*; do
		if head -c1 "$f" >/dev/null 2>&1; then echo "opened $f"; exit 0; fi
	done
	echo pass
done`
	poller := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "sh", "-c", script, "sh", to, rel)
	out, err := poller.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := poller.Start(); err != nil {
		t.Fatal(err)
	}
	defer poller.Wait()
	defer poller.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	restore := exec.CommandContext(ctx, binary, "restore", "s3://"+e.bucket+"/rec/", "--to", to, "--workers", "1")
	restore.Env = append(append(os.Environ(), e.srv.Env()...), "AWS_ENDPOINT_URL="+front.URL)
	var restoreOut bytes.Buffer
	restore.Stdout, restore.Stderr = &restoreOut, &restoreOut
	if err := restore.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- restore.Wait() }()

	// Wait until the download is held with its temporary file in place,
	// then for three whole passes of the poller.
	dir := filepath.Join(to, "private")
	for held := false; !held; {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			held = held || strings.HasPrefix(en.Name(), ".s3ferry-")
		}
		select {
		case err := <-done:
			t.Fatalf("restore ended before its download was held: %v\n%s", err, restoreOut.String())
		case <-ctx.Done():
			t.Fatal("the download was not held within 5 minutes")
		case <-time.After(10 * time.Millisecond):
		}
	}
	var opened []string
	for passes := 0; passes < 3 && len(opened) == 0; {
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				t.Fatal("the poller ended")
			case line == "pass":
				passes++
			default:
				opened = append(opened, line)
			}
		case <-ctx.Done():
			t.Fatal("the poller did not pass three times within 5 minutes")
		}
	}
	open()
	if err := <-done; err != nil {
		t.Fatalf("restore: %v\n%s", err, restoreOut.String())
	}
	if len(opened) > 0 {
		t.Errorf("an unprivileged user read the private file while restore ran: %q", opened)
	}
	if got := modeOf(t, filepath.Join(to, rel)); got != 0o600 {
		t.Errorf("%s: mode %v, want 0600", rel, got)
	}
	if got := modeOf(t, dir); got != 0o700 {
		t.Errorf("private: mode %v, want 0700", got)
	}
}

// heldBody passes the first after bytes of a body, then waits for release.
type heldBody struct {
	io.ReadCloser
	after   int
	release <-chan struct{}
}

func (h *heldBody) Read(p []byte) (int, error) {
	if h.after <= 0 {
		<-h.release
		return h.ReadCloser.Read(p)
	}
	n, err := h.ReadCloser.Read(p[:min(len(p), h.after)])
	h.after -= n
	return n, err
}

// TestRestoreToRefused: --to is opened from / through no symbolic link,
// and not below a directory another user may change, unless
// --allow-shared-parent.
func TestRestoreToRefused(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	e := newEnv(t)
	e.write(t, "d/f.wav", "restored", time.Hour)
	e.sync(t, 0)

	base := t.TempDir()
	mkdir := func(rel string, mode fs.FileMode, uid int) string {
		t.Helper()
		p := filepath.Join(base, rel)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // less the umask otherwise
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	real := mkdir("real", 0o755, 0)
	if err := os.Symlink(real, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	mkdir("user", 0o755, 65534)
	mkdir("groupw", 0o775, 0)
	mkdir("sticky", fs.ModeSticky|0o777, 0)

	r := e.run(t, "restore", "{dest}", "--to", filepath.Join(base, "link/out"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("--to through a link: exit %d, want %d and a word of the link\n%s", r.code, exitUsage, r.stderr)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("restore went through the link: %s holds %v", real, entries)
	}

	for dir, why := range map[string]string{"user": "owned by uid 65534", "groupw": "writable by its group"} {
		to := filepath.Join(base, dir, "out")
		r := e.run(t, "restore", "{dest}", "--to", to)
		said := false
		for line := range strings.Lines(r.stderr) {
			said = said || strings.Contains(line, why) && strings.Contains(line, "--allow-shared-parent")
		}
		if r.code != exitUsage || !said {
			t.Errorf("--to below %s: exit %d, want %d and a line saying %q and naming --allow-shared-parent\n%s", dir, r.code, exitUsage, why, r.stderr)
		}
		if _, err := os.Lstat(to); err == nil {
			t.Errorf("--to below %s refused, yet %s was made", dir, to)
		}
		r = e.run(t, "restore", "{dest}", "--to", to, "--allow-shared-parent")
		if r.code != 0 {
			t.Errorf("--to below %s with --allow-shared-parent: exit %d\n%s", dir, r.code, r.stderr)
		}
		checkTree(t, to, map[string]string{"d/f.wav": "restored"})
	}

	// A sticky world-writable directory (like /tmp) is fine; the --to
	// restore makes is 0700.
	to := filepath.Join(base, "sticky", "out")
	if r := e.run(t, "restore", "{dest}", "--to", to); r.code != 0 {
		t.Fatalf("--to below a sticky directory: exit %d\n%s", r.code, r.stderr)
	}
	checkTree(t, to, map[string]string{"d/f.wav": "restored"})
	if got := modeOf(t, to); got != 0o700 {
		t.Errorf("the --to restore made has mode %v, want 0700", got)
	}
}

// TestRestorePlantedSpecialBits: a bucket writer's setuid, setgid and
// world-writable objects come back without those bits (the summary counts
// them), and as recorded with --keep-special-bits.
func TestRestorePlantedSpecialBits(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	e := newEnv(t)
	meta := func(mode, uid, dirmode string) map[string]string {
		return map[string]string{"s3ferry-mode": mode, "s3ferry-uid": uid, "s3ferry-gid": uid, "s3ferry-dirmode": dirmode}
	}
	e.plant(t, "bin/sh", "#!/bin/sh copy", meta("4755", "0", "0755"))
	e.plant(t, "bin/all", "anything", meta("6777", "0", "0755"))
	e.plant(t, "cron.d/job", "* * * * * root sh", meta("0666", "1000", "0777"))
	e.plant(t, "shared/x", "x", meta("0644", "0", "1777"))
	e.plant(t, "sgid/x", "x", meta("0644", "0", "2775"))

	tests := []struct {
		flags []string
		want  map[string]fs.FileMode
		line  string
	}{
		{nil, map[string]fs.FileMode{
			"bin/sh": 0o755, "bin/all": 0o775, "cron.d/job": 0o664, "cron.d": 0o775,
			"shared": fs.ModeSticky | 0o777, "sgid": 0o775,
		}, "removed setuid, setgid or write for others from 5 files and directories"},
		{[]string{"--keep-special-bits"}, map[string]fs.FileMode{
			"bin/sh": fs.ModeSetuid | 0o755, "bin/all": fs.ModeSetuid | fs.ModeSetgid | 0o777, "cron.d/job": 0o666, "cron.d": 0o777,
			"shared": fs.ModeSticky | 0o777, "sgid": fs.ModeSetgid | 0o775,
		}, ""},
	}
	for _, tt := range tests {
		to := filepath.Join(t.TempDir(), "to")
		r := e.run(t, append([]string{"restore", "{dest}", "--to", to}, tt.flags...)...)
		if r.code != 0 {
			t.Fatalf("restore %v: exit %d\n%s\n%s", tt.flags, r.code, r.stdout, r.stderr)
		}
		for rel, want := range tt.want {
			if got := modeOf(t, filepath.Join(to, rel)); got != want {
				t.Errorf("restore %v: %s has mode %v, want %v", tt.flags, rel, got, want)
			}
		}
		fi, err := os.Stat(filepath.Join(to, "cron.d/job"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("restore %v: cron.d/job owned by %d:%d, want 1000:1000 as recorded", tt.flags, st.Uid, st.Gid)
		}
		if tt.line != "" && !strings.Contains(r.stdout, tt.line) {
			t.Errorf("restore %v: no summary %q in\n%s", tt.flags, tt.line, r.stdout)
		}
		if tt.line == "" && strings.Contains(r.stdout, "removed") {
			t.Errorf("restore %v removed bits:\n%s", tt.flags, r.stdout)
		}
	}
}

// TestRestoreDirModeAnyOrder: a directory whose files record different
// modes for it gets one mode, the same whichever file comes last.
func TestRestoreDirModeAnyOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meta := func(dirmode string) map[string]string {
		return map[string]string{"s3ferry-mode": "0640", "s3ferry-dirmode": dirmode}
	}
	e.plant(t, "one/a.wav", "a", meta("0750"))
	e.plant(t, "one/b.wav", "b", meta("0770"))
	e.plant(t, "two/a.wav", "a", meta("0770"))
	e.plant(t, "two/b.wav", "b", meta("0750"))
	for run := range 2 {
		to := filepath.Join(t.TempDir(), "to")
		// One download at a time: the files come in key order, a before b.
		if r := e.run(t, "restore", "{dest}", "--to", to, "--workers", "1"); r.code != 0 {
			t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
		}
		for _, dir := range []string{"one", "two"} {
			if got := modeOf(t, filepath.Join(to, dir)); got != 0o750 {
				t.Errorf("run %d: %s has mode %v, want 0750 (the narrowest its files record)", run, dir, got)
			}
		}
	}
}

// TestRestoreMtimeAfter2262: an mtime beyond what a timespec holds in
// nanoseconds is ignored with a note, instead of wrapping to 1678; the
// file gets the object's date.
func TestRestoreMtimeAfter2262(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.plant(t, "m/future.wav", "future", map[string]string{"s3ferry-mtime": "2263-01-01T00:00:00Z"})
	head, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("rec/m/future.wav")})
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "to")
	r := e.run(t, "restore", "{dest}", "--to", to, "--json")
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st bucket.RestoreStats
	r.decode(t, &st)
	if st.Restored != 1 {
		t.Errorf("restore: %+v, want 1 restored", st)
	}
	fi, err := os.Stat(filepath.Join(to, "m/future.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if want := aws.ToTime(head.LastModified); !fi.ModTime().Equal(want) {
		t.Errorf("restored mtime %v, want the object's Last-Modified %v", fi.ModTime(), want)
	}
	if !strings.Contains(r.stderr, "2263-01-01T00:00:00Z") || !strings.Contains(r.stderr, "out of range") {
		t.Errorf("no note of the ignored mtime:\n%s", r.stderr)
	}
}
