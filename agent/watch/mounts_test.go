package watch

import (
	"context"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWatchMountsTellsMountAndUnmount: mounting a tmpfs and unmounting it
// each reach the channel, and nothing is told while the table stays the
// same;
// the channel closes once ctx ends. Mounting needs root (CI runs as root).
func TestWatchMountsTellsMountAndUnmount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs: needs root (CI runs as root)")
	}
	ctx, cancel := context.WithCancel(t.Context())
	changed, err := WatchMounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	expect := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("no word of the %s", what)
		}
	}
	// quiet fails on a word while the table stays the same (other tests
	// may mount meanwhile: a word of theirs is no failure).
	quiet := func(what string) {
		t.Helper()
		before, err := os.ReadFile(mountinfo)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			if after, _ := os.ReadFile(mountinfo); string(after) == string(before) {
				t.Fatalf("told of a change %s, the mount table is the same", what)
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	quiet("before any mount")
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	expect("mount")
	quiet("after the mount was told")
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	expect("unmount")
	cancel()
	select {
	case _, ok := <-changed:
		if ok {
			t.Fatal("a change told after ctx ended, none was made")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the channel stays open after ctx ended")
	}
}
