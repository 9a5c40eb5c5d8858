package main

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

// secretDir is a directory outside the tree holding a file named like one
// in it, as /etc holds shadow: what an attacker who writes into the tree
// would like s3ferry to upload.
func secretDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	secret := filepath.Join(dir, "shadow")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		tb.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // settled long ago
	if err := os.Chtimes(secret, old, old); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// swapForLink renames the directory rel away (to rel.old) and puts a link
// to target in its place.
func (e *testEnv) swapForLink(tb testing.TB, rel, target string) {
	tb.Helper()
	dir := filepath.Join(e.root, rel)
	if err := os.Rename(dir, dir+".old"); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		tb.Fatal(err)
	}
}

// noSecret fails the test if any version of rec/key holds the secret.
func (e *testEnv) noSecret(tb testing.TB, key string) {
	tb.Helper()
	for _, v := range e.allVersions(tb, key) {
		if v == "SECRET" {
			tb.Fatalf("the object %s holds the file outside the tree", key)
		}
	}
}

// allVersions reads every version of rec/key.
func (e *testEnv) allVersions(tb testing.TB, key string) []string {
	tb.Helper()
	ctx := context.Background()
	out, err := e.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.bucket), Prefix: aws.String("rec/" + key)})
	if err != nil {
		tb.Fatal(err)
	}
	var bodies []string
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != "rec/"+key {
			continue
		}
		obj, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return bodies
}

// TestRunDirectorySwappedForLink: a directory renamed away within the
// settle window and replaced by a link to a directory outside the tree
// uploads nothing of what the link leads to; the moved file is uploaded
// under its new name.
func TestRunDirectorySwappedForLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := secretDir(t)
	e.write(t, "today/old.wav", "before start", time.Hour)
	e.startDaemon(t, "--settle", "2s")
	writeNow(t, filepath.Join(e.root, "today/agentX/shadow"), "in the tree")
	time.Sleep(500 * time.Millisecond) // the watcher has seen the file; it settles 1.5 s later
	e.swapForLink(t, "today/agentX", secret)
	eventually(t, 30*time.Second, "the moved file under its new name", func() bool { return e.hasKeys(t, "today/agentX.old/shadow") })
	// Let a second settle window pass: whatever the watcher saw of the old
	// name has been handled by now.
	time.Sleep(3 * time.Second)
	e.noSecret(t, "today/agentX/shadow")
	if got := e.object(t, "today/agentX.old/shadow"); got != "in the tree" {
		t.Errorf("today/agentX.old/shadow = %q, want the file written into the tree", got)
	}
}

// TestSyncDirectorySwappedForLink: sync walks the tree, then, while a slow
// upload holds the only worker, the directory of a file already found is
// swapped for a link: its upload opens beneath the root, meets the link and
// counts the file as vanished.
func TestSyncDirectorySwappedForLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := secretDir(t)
	e.write(t, "today/agentX/shadow", "in the tree", time.Hour)
	// The walk visits the most recently changed directory first: agentA,
	// whose big file then holds the one worker for seconds.
	e.write(t, "today/agentA/big.wav", strings.Repeat("x", 1<<20), time.Hour)
	now := time.Now()
	if err := os.Chtimes(filepath.Join(e.root, "today/agentA"), now, now); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(e.root, "today/agentX"), old, old); err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		done <- e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--json", "--settle", "0s", "--workers", "1", "--bwlimit", "128KiB")
	}()
	time.Sleep(2 * time.Second) // the walk has found both files; big.wav takes 8 s to send
	e.swapForLink(t, "today/agentX", secret)
	r := <-done
	if r.code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if st := r.stats(t); st.Uploaded != 1 || st.Vanished != 1 {
		t.Errorf("sync: %+v, want big.wav uploaded and shadow vanished (a link is on its way now)", st)
	}
	if keys := e.keys(t); !slices.Equal(keys, []string{"today/agentA/big.wav"}) {
		t.Errorf("bucket holds %q, want only big.wav", keys)
	}
	e.noSecret(t, "today/agentX/shadow")
	// The next sync finds the file under its new name, and skips the link.
	if st := e.sync(t, 0); st.Uploaded != 1 {
		t.Errorf("second sync: %+v, want agentX.old/shadow uploaded", st)
	}
	e.noSecret(t, "today/agentX/shadow")
}

// TestRestoreThroughLinkInTarget: a directory link inside --to is a
// per-file error naming it; nothing is written where it leads, with or
// without --overwrite, and restore exits 3.
func TestRestoreThroughLinkInTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "link/x.txt", "restored", time.Hour)
	e.write(t, "other/y.txt", "restored too", time.Hour)
	e.sync(t, 0)
	to, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(to, "link")); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{nil, {"--overwrite"}} {
		r := e.run(t, append([]string{"restore", "{dest}", "--to", to, "--json"}, flags...)...)
		if r.code != 3 || !strings.Contains(r.stderr, filepath.Join(to, "link")) || !strings.Contains(r.stderr, "symbolic link") {
			t.Errorf("restore %v: exit %d, want 3 and an error naming %s\n%s\n%s", flags, r.code, filepath.Join(to, "link"), r.stdout, r.stderr)
		}
		if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
			t.Fatalf("restore %v wrote through the link: %v", flags, entries)
		}
	}
	checkTree(t, filepath.Join(to, "other"), map[string]string{"y.txt": "restored too"})
}

// TestRestoreKeepsModeAndOwner: a 0600 file in a 0700 directory comes
// back 0600 in a 0700 directory and, as root, with its owner.
func TestRestoreKeepsModeAndOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "private/call.wav", "private", time.Hour)
	e.write(t, "public/note.wav", "public", time.Hour)
	file, dir := filepath.Join(e.root, "private/call.wav"), filepath.Join(e.root, "private")
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		uid, gid = 65534, 65533
		if err := os.Chown(file, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.sync(t, 0)
	to := t.TempDir()
	r := e.run(t, "restore", "{dest}", "--to", to, "--json")
	var st bucket.RestoreStats
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r.decode(t, &st)
	fi, err := os.Stat(filepath.Join(to, "private/call.wav"))
	if err != nil {
		t.Fatal(err)
	}
	sys := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != 0o600 || int(sys.Uid) != uid || int(sys.Gid) != gid {
		t.Errorf("restored file %v %d:%d, want -rw------- %d:%d", fi.Mode(), sys.Uid, sys.Gid, uid, gid)
	}
	if fi, err := os.Stat(filepath.Join(to, "private")); err != nil || fi.Mode() != fs.ModeDir|0o700 {
		t.Errorf("restored directory: %v, %v; want drwx------", fi.Mode(), err)
	}
}

// TestFollowSymlinksAncestorLoop: with --follow-symlinks a link back to an
// ancestor (the root included) is not walked again: each file once.
func TestFollowSymlinksAncestorLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "a/f.wav", "once", time.Hour)
	if err := os.Symlink("..", filepath.Join(e.root, "a/loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(e.root, "self")); err != nil {
		t.Fatal(err)
	}
	st := e.sync(t, 0, "--follow-symlinks")
	if keys := e.keys(t); st.Uploaded != 1 || !slices.Equal(keys, []string{"a/f.wav"}) {
		t.Errorf("sync --follow-symlinks: %+v, bucket %q; want a/f.wav once", st, keys)
	}
}
