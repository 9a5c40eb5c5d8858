package uploader_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// umask reads the process's umask without changing it.
func umask(tb testing.TB) fs.FileMode {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				tb.Fatal(err)
			}
			return fs.FileMode(m)
		}
	}
	tb.Fatal("no Umask in /proc/self/status")
	return 0
}

func owner(tb testing.TB, path string) (uid, gid uint32, mode fs.FileMode) {
	tb.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		tb.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

// TestRestorePerm: a 0600 file owned by another user comes back 0600 and,
// as root, owned by that user; an object without s3ferry's metadata comes
// back 0666 less the umask, owned by the caller, like cp makes it.
func TestRestorePerm(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	src := writeFile(t, t.TempDir(), "secret.wav", []byte("private"))
	if err := os.Chmod(src, 0o600|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	wantUID, wantGID := uint32(os.Getuid()), uint32(os.Getgid())
	if os.Geteuid() == 0 {
		wantUID, wantGID = 65534, 65533
		if err := os.Chown(src, int(wantUID), int(wantGID)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(src, 0o600|fs.ModeSetgid); err != nil { // chown cleared setgid
			t.Fatal(err)
		}
	}
	if _, err := use(client, uploader.Config{}).Upload(ctx, uploader.Job{Bucket: bucket, Key: "secret.wav", Path: src, DirMode: 0o710}); err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	b := client.Bucket(bucket)
	res, err := uploader.Download(ctx, b, uploader.DownloadJob{Key: "secret.wav", Root: beneath.New(to, beneath.Options{}), Rel: "d/secret.wav"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Perm.HasDirMode || res.Perm.DirMode != 0o710 || len(res.Created) != 1 || res.Created[0] != "d" {
		t.Errorf("Download = dir mode %v (%v), created %q; want 0710 recorded and d created", res.Perm.DirMode, res.Perm.HasDirMode, res.Created)
	}
	// setgid from the bucket is not trusted: removed, and said.
	uid, gid, mode := owner(t, filepath.Join(to, "d/secret.wav"))
	if mode != 0o600 || uid != wantUID || gid != wantGID || !res.Sanitized {
		t.Errorf("restored file: %v %d:%d, sanitized %v; want %v %d:%d, sanitized", mode, uid, gid, res.Sanitized, fs.FileMode(0o600), wantUID, wantGID)
	}
	if _, _, mode := owner(t, filepath.Join(to, "d")); mode != fs.ModeDir|0o700 {
		t.Errorf("created directory: %v, want drwx------ (its mode is the caller's to give)", mode)
	}
	if _, err := uploader.Download(ctx, b, uploader.DownloadJob{Key: "secret.wav", Root: beneath.New(to, beneath.Options{}), Rel: "d/kept.wav", KeepSpecialBits: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, mode := owner(t, filepath.Join(to, "d/kept.wav")); mode != 0o600|fs.ModeSetgid {
		t.Errorf("restored file with KeepSpecialBits: %v, want %v", mode, 0o600|fs.ModeSetgid)
	}

	putObject(t, client, bucket, "plain", "from another tool", nil)
	if _, err := uploader.Download(ctx, b, uploader.DownloadJob{Key: "plain", Root: beneath.New(to, beneath.Options{}), Rel: "plain"}); err != nil {
		t.Fatal(err)
	}
	uid, _, mode = owner(t, filepath.Join(to, "plain"))
	if want := 0o666 &^ umask(t); mode != want || uid != uint32(os.Geteuid()) {
		t.Errorf("object without metadata: %v owned by %d, want %v owned by %d", mode, uid, want, os.Geteuid())
	}
}

// TestDownloadRefusesLinks: a directory link inside the target is met on
// the way: the download fails naming it, and nothing is written where it
// leads, with or without Overwrite.
func TestDownloadRefusesLinks(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	ctx := context.Background()
	putObject(t, client, bucket, "link/x.txt", "attack", nil)
	to, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(to, "link")); err != nil {
		t.Fatal(err)
	}
	b := client.Bucket(bucket)
	for _, overwrite := range []bool{false, true} {
		_, err := uploader.Download(ctx, b, uploader.DownloadJob{Key: "link/x.txt", Root: beneath.New(to, beneath.Options{FollowSymlinks: true}), Rel: "link/x.txt", Overwrite: overwrite})
		if !errors.Is(err, beneath.ErrSymlink) || !strings.Contains(err.Error(), filepath.Join(to, "link")) {
			t.Errorf("Download through a link (overwrite %v) = %v; want ErrSymlink naming %s", overwrite, err, filepath.Join(to, "link"))
		}
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through the link: %v", entries)
	}
}

// TestUploadIdentity: an upload reads the file its Open returns, and one
// that is not the file that was found (another inode) is ErrChanged.
func TestUploadIdentity(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, true)
	dir := t.TempDir()
	found := writeFile(t, dir, "found", []byte("found"))
	other := writeFile(t, dir, "other", []byte("other"))
	fi, err := os.Stat(found)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	up := use(client, uploader.Config{})
	open := func(name string) func() (*os.File, error) { return func() (*os.File, error) { return os.Open(name) } }
	job := uploader.Job{Bucket: bucket, Key: "k", Path: found, Open: open(found), Dev: uint64(st.Dev), Inode: st.Ino}
	if _, err := up.Upload(context.Background(), job); err != nil {
		t.Fatalf("Upload of the file found: %v", err)
	}
	job.Open = open(other)
	if _, err := up.Upload(context.Background(), job); !errors.Is(err, uploader.ErrChanged) {
		t.Errorf("Upload of another inode = %v, want ErrChanged", err)
	}
	job.Open = open(dir)
	if _, err := up.Upload(context.Background(), job); !errors.Is(err, uploader.ErrChanged) {
		t.Errorf("Upload of a directory where the file was found = %v, want ErrChanged", err)
	}
	job.Open = func() (*os.File, error) { return beneath.New(dir, beneath.Options{}).Open("link") }
	if err := os.Symlink(found, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Upload(context.Background(), job); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Upload of a link, not followed = %v, want fs.ErrNotExist", err)
	}
}
