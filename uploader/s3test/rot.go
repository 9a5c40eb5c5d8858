package s3test

import (
	"os"
	"path/filepath"
	"testing"
)

// Rot flips a bit in the middle of every stored part of key's versions in
// bucket, on MinIO's disk, as a failing disk under the store would: the
// listing, HeadObject and the ETag still look right. Only objects larger
// than MinIO inlines (128 KiB) have part files; tb fails when key has
// none. MinIO keeps a bitrot hash of every part and refuses to serve a
// damaged one (503 SlowDownRead, "Resource requested is unreadable"), so
// a reader sees a read that fails, never the damaged bytes.
func (s *Server) Rot(tb testing.TB, bucket, key string) {
	tb.Helper()
	if s.Kind != MinIO {
		tb.Fatalf("rot %s: only MinIO's disk layout is known, not %s's", key, s.Kind)
	}
	parts, err := filepath.Glob(filepath.Join(s.Dir, "data", bucket, filepath.FromSlash(key), "*", "part.*"))
	if err != nil || len(parts) == 0 {
		tb.Fatalf("rot %s: no part file in MinIO's data (%v): is the object larger than 128 KiB?", key, err)
	}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
