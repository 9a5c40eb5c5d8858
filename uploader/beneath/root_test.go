package beneath

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// tree makes root/{file, dir/inner, inlink -> dir, outlink -> outside,
// filelink -> file} and outside/{inner, file} holding "secret".
func tree(tb testing.TB) (root, outside string) {
	tb.Helper()
	base := tb.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		filepath.Join(root, "file"): "mine", filepath.Join(root, "dir", "inner"): "inner",
		filepath.Join(outside, "inner"): "secret", filepath.Join(outside, "file"): "secret",
	} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for link, target := range map[string]string{"inlink": "dir", "outlink": outside, "filelink": "file", "up": ".."} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			tb.Fatal(err)
		}
	}
	return root, outside
}

// modes runs fn with openat2 (where the kernel has it) and with the
// per-component fallback.
func modes(t *testing.T, fn func(t *testing.T, opts Options)) {
	for _, opts := range []Options{{}, {NoOpenat2: true}} {
		name := "openat2"
		if opts.NoOpenat2 {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) { fn(t, opts) })
	}
}

func readAll(tb testing.TB, r Root, rel string) (string, error) {
	tb.Helper()
	f, err := r.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b), nil
}

func TestOpenRefusesLinks(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		root, _ := tree(t)
		r := New(root, opts)
		for _, rel := range []string{"file", "dir/inner", "./dir//inner"} {
			if _, err := readAll(t, r, rel); err != nil {
				t.Errorf("Open(%q): %v", rel, err)
			}
		}
		for _, rel := range []string{"inlink/inner", "outlink/inner", "filelink", "outlink", "up/root/file", "../outside/file", "dir/../../outside/file", "/etc/passwd"} {
			body, err := readAll(t, r, rel)
			if !errors.Is(err, ErrSymlink) {
				t.Errorf("Open(%q) = %q, %v; want ErrSymlink", rel, body, err)
			}
		}
		if _, err := r.Open("missing/x"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(missing/x): %v, want fs.ErrNotExist", err)
		}
		if _, err := r.Stat("outlink/inner"); !errors.Is(err, ErrSymlink) {
			t.Errorf("Stat(outlink/inner): %v, want ErrSymlink", err)
		}
		if fi, err := r.Stat("outlink"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Stat(outlink) = %v, %v; want the link itself", fi, err)
		}
		if fi, err := r.Stat("dir/inner"); err != nil || !fi.Mode().IsRegular() || fi.Size() != 5 {
			t.Errorf("Stat(dir/inner) = %v, %v; want a 5-byte file", fi, err)
		}
	})
}

func TestFollowSymlinks(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		root, _ := tree(t)
		opts.FollowSymlinks = true
		r := New(root, opts)
		for rel, want := range map[string]string{"inlink/inner": "inner", "outlink/inner": "secret", "filelink": "mine"} {
			if got, err := readAll(t, r, rel); err != nil || got != want {
				t.Errorf("Open(%q) = %q, %v; want %q", rel, got, err, want)
			}
		}
		if fi, err := r.Stat("outlink"); err != nil || !fi.IsDir() {
			t.Errorf("Stat(outlink) = %v, %v; want the directory it leads to", fi, err)
		}
		if _, err := r.Open("../outside/file"); !errors.Is(err, ErrSymlink) {
			t.Errorf("Open(../outside/file): %v, want ErrSymlink (a name, not a link, leads out)", err)
		}
	})
}

func TestMkdirAll(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		root, outside := tree(t)
		opts.FollowSymlinks = true // writes never follow, whatever the options
		r := New(root, opts)
		d, created, err := r.MkdirAll("dir/a/b")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := created, []string{"dir/a", "dir/a/b"}; !slicesEqual(got, want) {
			t.Errorf("created %q, want %q", got, want)
		}
		f, name, err := d.CreateTemp(".x-", func() string { return "1" })
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("new")
		f.Close()
		if err := d.Rename(name, "f"); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if b, err := os.ReadFile(filepath.Join(root, "dir/a/b/f")); err != nil || string(b) != "new" {
			t.Errorf("dir/a/b/f = %q, %v", b, err)
		}
		for _, rel := range []string{"outlink/new", "inlink/new", "outlink", "../outside/new"} {
			if _, _, err := r.MkdirAll(rel); !errors.Is(err, ErrSymlink) {
				t.Errorf("MkdirAll(%q): %v, want ErrSymlink", rel, err)
			}
		}
		if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a directory was made outside the root: %v", err)
		}
	})
}

func TestDirReadDirAndStat(t *testing.T) {
	root, _ := tree(t)
	d, err := New(root, Options{}).OpenDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	entries, err := d.ReadDir()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"dir", "file", "filelink", "inlink", "outlink", "up"}; !slicesEqual(names, want) {
		t.Errorf("ReadDir: %q, want %q", names, want)
	}
	want, _ := os.Lstat(filepath.Join(root, "filelink"))
	got, err := d.Lstat("filelink")
	if err != nil || got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) || got.Size() != want.Size() {
		t.Errorf("Lstat(filelink) = %v, %v; os.Lstat says mode %v", got, err, want.Mode())
	}
	if _, err := d.Lstat("../file"); err == nil {
		t.Error("Lstat(../file) succeeded")
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDirRemoveDir removes an empty directory, and neither one that is
// not empty nor a link to one.
func TestDirRemoveDir(t *testing.T) {
	root, _ := tree(t)
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := New(root, Options{}).OpenDir(".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.RemoveDir("dir"); err == nil {
		t.Error("RemoveDir of a directory that is not empty: no error")
	}
	if err := d.RemoveDir("inlink"); err == nil {
		t.Error("RemoveDir of a link to a directory: no error")
	}
	if err := d.RemoveDir("empty"); err != nil {
		t.Errorf("RemoveDir of an empty directory: %v", err)
	}
	for name, want := range map[string]bool{"dir/inner": true, "inlink": true, "empty": false} {
		if _, err := os.Lstat(filepath.Join(root, name)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", name, err == nil, want)
		}
	}
	if err := d.RemoveDir("../x"); err == nil {
		t.Error("RemoveDir of a path, not a name: no error")
	}
}

// A temporary file is RemoveStale's only once its writer has closed it
// (its lock goes with the last fd, or with the process: kill -9); a file
// RemoveStale removed between CreateTemp's create and lock is given up for
// another name; a link or a FIFO of a temporary file's name is left.
func TestRemoveStaleLeavesFilesInUse(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d, err := New(root, Options{}).OpenDir(".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names := []string{"a", "b"}
	next := func() string { n := names[0]; names = names[1:]; return n }
	f, name, err := d.CreateTemp(".t-", next)
	if err != nil || name != ".t-a.tmp" {
		t.Fatalf("CreateTemp = %q, %v", name, err)
	}
	if removed, err := d.RemoveStale(name); removed || err != nil {
		t.Fatalf("RemoveStale of a file its writer holds open = %v, %v; want it left", removed, err)
	}
	f.Close()
	if removed, err := d.RemoveStale(name); !removed || err != nil {
		t.Fatalf("RemoveStale of a file its writer closed = %v, %v; want it removed", removed, err)
	}
	if _, err := os.Lstat(filepath.Join(root, name)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s after RemoveStale: %v", name, err)
	}

	// A name whose lock another RemoveStale took, or that it removed,
	// between CreateTemp's create and its claim is not CreateTemp's.
	f, name, err = d.CreateTemp(".t-", next)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, err := os.Open(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("a second lock of a file CreateTemp made = %v, want EWOULDBLOCK", err)
	}
	g, err := os.OpenFile(filepath.Join(root, "g"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	gOther, err := os.Open(filepath.Join(root, "g"))
	if err != nil {
		t.Fatal(err)
	}
	defer gOther.Close()
	if err := unix.Flock(int(gOther.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if ours, err := claim(int(g.Fd())); ours || err != nil {
		t.Errorf("claim of a file another holds locked = %v, %v; want not ours", ours, err)
	}
	unix.Flock(int(gOther.Fd()), unix.LOCK_UN)
	if err := os.Remove(filepath.Join(root, "g")); err != nil {
		t.Fatal(err)
	}
	if ours, err := claim(int(g.Fd())); ours || err != nil {
		t.Errorf("claim of a file removed since = %v, %v; want not ours", ours, err)
	}

	if err := os.Symlink("/etc/passwd", filepath.Join(root, ".t-link.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, ".t-fifo.tmp"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".t-link.tmp", ".t-fifo.tmp"} {
		if removed, err := d.RemoveStale(n); removed || err != nil {
			t.Errorf("RemoveStale(%s) = %v, %v; want it left", n, removed, err)
		}
		if _, err := os.Lstat(filepath.Join(root, n)); err != nil {
			t.Errorf("%s: %v, want it kept", n, err)
		}
	}
}
