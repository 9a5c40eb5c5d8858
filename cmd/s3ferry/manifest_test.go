package main

import (
	"encoding/csv"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestManifest writes the Batch Operations manifest and checks it against
// the bucket's current versions, whole and cut at a time.
func TestManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/a.wav", "a", time.Hour)
	e.write(t, "d/with space+plus,comma.wav", "b", time.Hour)
	e.write(t, "d/ünïcødé.wav", "c", time.Hour)
	e.sync(t, 0)
	before := time.Now()
	e.write(t, "e/later.wav", "later", time.Hour)
	e.sync(t, 0, "--full")
	versions := e.latestVersions(t)

	out := filepath.Join(t.TempDir(), "manifest.csv")
	r := e.run(t, "manifest", "{root}", "{dest}", "--index-dir", "{index}", "--out", out)
	if r.code != 0 {
		t.Fatalf("manifest: exit %d\n%s", r.code, r.stderr)
	}
	if got := readManifest(t, out, e.bucket); !maps.Equal(got, versions) {
		t.Errorf("manifest = %v, want the current versions %v", got, versions)
	}

	r = e.run(t, "manifest", "{root}", "{dest}", "--index-dir", "{index}", "--out", out, "--before", before.Format(time.RFC3339Nano))
	if r.code != 0 {
		t.Fatalf("manifest --before: exit %d\n%s", r.code, r.stderr)
	}
	delete(versions, "rec/e/later.wav")
	if got := readManifest(t, out, e.bucket); !maps.Equal(got, versions) {
		t.Errorf("manifest --before = %v, want %v", got, versions)
	}

	// A destination alone names no source directory, which the index needs.
	if r := e.run(t, "manifest", "{dest}", "--index-dir", "{index}", "--out", out); r.code != exitUsage {
		t.Errorf("manifest of a lone destination: exit %d, want %d", r.code, exitUsage)
	}
}

// readManifest parses a manifest into key → version ID, checking that
// every row is of bucket.
func readManifest(tb testing.TB, path, bucket string) map[string]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("manifest is not CSV: %v", err)
	}
	got := map[string]string{}
	for _, row := range rows {
		if len(row) != 3 || row[0] != bucket {
			tb.Fatalf("row %q: want bucket,key,versionId of bucket %s", row, bucket)
		}
		key, err := url.PathUnescape(row[1])
		if err != nil {
			tb.Fatalf("key %q is not URL-encoded: %v", row[1], err)
		}
		got[key] = row[2]
	}
	return got
}
