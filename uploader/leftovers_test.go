package uploader_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// TestRemoveLeftovers removes the temporary files of downloads that never
// ended, below the directory given, and nothing else: not a name that is
// almost one, not a directory or a link of that name, not what a link
// leads to, not a file beside the directory given.
func TestRemoveLeftovers(t *testing.T) {
	t.Parallel()
	to, outside := t.TempDir(), t.TempDir()
	const tmp = ".s3ferry-0123456789abcdef.tmp"
	write := func(rel string) {
		t.Helper()
		p := filepath.Join(to, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed := []string{"rec/" + tmp, "rec/a/b/.s3ferry-fedcba9876543210.tmp"}
	kept := []string{
		tmp, // beside rec/, which is where the restore writes
		"rec/call.wav", "rec/.s3ferry-0123456789ABCDEF.tmp", "rec/.s3ferry-0123.tmp",
		"rec/.s3ferry-0123456789abcdef.tmp.wav", "rec/x.s3ferry-0123456789abcdef.tmp",
		"rec/0123456789abcdef.tmp", "rec/.s3ferry0123456789abcdef.tmp",
		"rec/a/.s3ferry-2222222222222222.tmp/inside", // in a directory of that name
	}
	for _, rel := range append(append([]string(nil), removed...), kept...) {
		write(rel)
	}
	// What a writer into the tree could plant: links named as a
	// temporary file, and a link to a directory holding one.
	if err := os.WriteFile(filepath.Join(outside, tmp), []byte("not s3ferry's"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"rec/.s3ferry-1111111111111111.tmp": filepath.Join(outside, tmp),
		"rec/out":                           outside,
	} {
		if err := os.Symlink(target, filepath.Join(to, name)); err != nil {
			t.Fatal(err)
		}
	}
	kept = append(kept, "rec/.s3ferry-1111111111111111.tmp")
	// The temporary file of a download still running (another restore
	// into the same directory): its writer holds its lock.
	const running = "rec/.s3ferry-3333333333333333.tmp"
	write(running)
	held, err := os.Open(filepath.Join(to, running))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, running)

	n, err := uploader.RemoveLeftovers(context.Background(), beneath.New(to, beneath.Options{}), "rec")
	if err != nil || n != len(removed) {
		t.Fatalf("RemoveLeftovers = %d, %v; want %d removed", n, err, len(removed))
	}
	for _, rel := range removed {
		if _, err := os.Lstat(filepath.Join(to, rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", rel, err)
		}
	}
	for _, rel := range kept {
		if _, err := os.Lstat(filepath.Join(to, rel)); err != nil {
			t.Errorf("%s: %v, want it kept", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, tmp)); err != nil {
		t.Errorf("the file outside, named as a temporary file and reached through a link: %v, want it kept", err)
	}
	if n, err := uploader.RemoveLeftovers(context.Background(), beneath.New(to, beneath.Options{}), "missing/dir"); n != 0 || err != nil {
		t.Errorf("RemoveLeftovers of a missing directory = %d, %v; want 0, nil", n, err)
	}
}

// TestDownloadVanishedKeyLeavesNothing: a key gone between the listing and
// its GET (in one GET or in ranged parts) leaves no directory and no
// temporary file behind: they are made when the first byte arrives.
func TestDownloadVanishedKeyLeavesNothing(t *testing.T) {
	t.Parallel()
	_, fake := onFake(uploader.Config{})
	for _, job := range []uploader.DownloadJob{
		{Key: "gone", Rel: "a/b/gone"},
		{Key: "gone", Rel: "a/b/gone", Size: 3 << 20, ETag: "0123", Config: rangedConfig},
	} {
		to := t.TempDir()
		job.Root = beneath.New(to, beneath.Options{})
		res, err := uploader.Download(context.Background(), fake, job)
		if !errors.Is(err, uploader.ErrNotFound) {
			t.Fatalf("download of a missing key: %v, want ErrNotFound", err)
		}
		if entries, _ := os.ReadDir(to); len(entries) != 0 || len(res.Created) != 0 {
			t.Errorf("size %d: left %v, created %v; want nothing", job.Size, entries, res.Created)
		}
	}
}
