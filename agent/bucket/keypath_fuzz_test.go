package bucket

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKeyPath: no key maps outside the target directory, and no two keys
// map to one path. A key KeyPath accepts gives a clean relative path with
// no ".." and no leading "/", which joined to the target stays below it,
// and which is the key less the prefix, as it is.
func FuzzKeyPath(f *testing.F) {
	for _, k := range [][2]string{
		{"rec/", "rec/2026-11-22/a.wav"}, {"rec/", "rec/../etc/passwd"}, {"rec/", "rec//etc/passwd"},
		{"rec/", "rec/a/../../b"}, {"", "/abs"}, {"rec/", "rec/dir/"}, {"rec/", "rec/."}, {"rec/", "rec/a/./b"},
		{"", ".."}, {"p", "p.."}, {"", "a\\..\\b"}, {"rec/", "other/x"},
	} {
		f.Add(k[0], k[1])
	}
	const to = "/target"
	f.Fuzz(func(t *testing.T, prefix, key string) {
		rel, ok, err := KeyPath(prefix, key)
		if !ok || err != nil {
			if rel != "" {
				t.Fatalf("KeyPath(%q, %q) = %q, %v, %v: a path with no file to restore", prefix, key, rel, ok, err)
			}
			return
		}
		if rel != path.Clean(rel) || path.IsAbs(rel) || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("KeyPath(%q, %q) = %q: not a clean path below the target", prefix, key, rel)
		}
		if rel != strings.TrimPrefix(key, prefix) {
			t.Fatalf("KeyPath(%q, %q) = %q: not the key less its prefix, so another key may map there too", prefix, key, rel)
		}
		if abs := filepath.Join(to, filepath.FromSlash(rel)); !strings.HasPrefix(abs, to+"/") {
			t.Fatalf("KeyPath(%q, %q) = %q: lands at %s, outside %s", prefix, key, rel, abs, to)
		}
	})
}
