package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// checkFindings checks that a report has exactly the findings of want:
// the paths of each kind, in order.
func checkFindings(tb testing.TB, rep bucket.VerifyReport, want map[string][]string) {
	tb.Helper()
	got := map[string][]string{}
	for _, f := range rep.Findings {
		got[f.Kind] = append(got[f.Kind], f.Path)
	}
	for kind, paths := range want {
		if !slices.Equal(got[kind], paths) {
			tb.Errorf("findings %s = %q, want %q", kind, got[kind], paths)
		}
	}
	if len(got) != len(want) {
		tb.Errorf("findings %v, want exactly %v", got, want)
	}
}

// TestVerifyFindsAndRepairs damages the backup in every way verify knows,
// checks that it says so, repairs, and checks again.
func TestVerifyFindsAndRepairs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := map[string]string{
		"d/deleted.wav":     "deleted behind s3ferry's back",
		"d/overwritten.wav": "overwritten with other bytes",
		"d/resized.wav":     "overwritten, other size",
		"d/corrupt.wav":     "damaged on the local disk",
		"d/fine.wav":        "left alone",
	}
	for rel, content := range files {
		e.write(t, rel, content, time.Hour)
	}
	e.sync(t, 0)
	verify := func(want int, flags ...string) bucket.VerifyReport {
		t.Helper()
		r := e.run(t, append([]string{"verify", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--json"}, flags...)...)
		if r.code != want {
			t.Fatalf("verify %v: exit %d, want %d\n%s\n%s", flags, r.code, want, r.stdout, r.stderr)
		}
		var rep bucket.VerifyReport
		r.decode(t, &rep)
		return rep
	}
	if rep := verify(0, "--deep"); rep.Problems() != 0 || rep.Listed != 5 || rep.Records != 5 || rep.Hashed != 5 {
		t.Fatalf("verify after sync: %+v, want 5 objects, 5 records, 5 files read, no problem", rep)
	}

	e.remove(t, "d/deleted.wav")
	e.put(t, "d/overwritten.wav", strings.ToUpper(files["d/overwritten.wav"]))
	e.put(t, "d/resized.wav", "short")
	e.put(t, "d/stranger.wav", "not s3ferry's")
	// Same size, same mtime, other bytes: what a failing disk does.
	corrupt := filepath.Join(e.root, "d/corrupt.wav")
	info, err := os.Stat(corrupt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(corrupt, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("DAMAGED"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(corrupt, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}

	rep := verify(exitProblems, "--deep")
	checkFindings(t, rep, map[string][]string{
		bucket.FindingMissing:      {"d/deleted.wav"},
		bucket.FindingContent:      {"d/overwritten.wav"},
		bucket.FindingSize:         {"d/resized.wav"},
		bucket.FindingLocalCorrupt: {"d/corrupt.wav"},
		bucket.FindingUnknown:      {"d/stranger.wav"},
	})
	if rep.Problems() != 4 {
		t.Errorf("%d problems, want 4", rep.Problems())
	}
	if rep.Heads != 1 {
		t.Errorf("%d HeadObject requests, want 1: only the object whose ETag differs and size does not", rep.Heads)
	}

	rep = verify(0, "--deep", "--repair")
	if rep.Repaired != 4 {
		t.Fatalf("repair: %d repaired, want 4: %+v", rep.Repaired, rep.Findings)
	}
	for rel, content := range files {
		if got := e.object(t, rel); got != content {
			t.Errorf("after repair, object %s = %q, want %q", rel, got, content)
		}
		if got, err := os.ReadFile(filepath.Join(e.root, rel)); err != nil || string(got) != content {
			t.Errorf("after repair, local %s = %q (%v), want %q", rel, got, err, content)
		}
	}
	if rep := verify(0, "--deep"); rep.Problems() != 0 || rep.Unknown != 1 {
		t.Fatalf("verify after repair: %+v, want no problem and the stranger as unknown", rep)
	}
	// Nothing left for sync: the repair went through the index.
	if st := e.sync(t, 0, "--full"); st.Uploaded+st.Touched != 0 {
		t.Errorf("sync after repair: %+v, want nothing to do", st)
	}

	// Text output: each problem on a line with what to do.
	e.remove(t, "d/fine.wav")
	r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}")
	fix := "run " + shellLine([]string{"s3ferry", "verify", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--repair"}) + " to fix them"
	if r.code != exitProblems || !strings.Contains(r.stdout, "missing          rec/d/fine.wav") || !strings.Contains(r.stderr, fix) {
		t.Errorf("text verify: exit %d, want %d and %q\nstdout: %s\nstderr: %s", r.code, exitProblems, fix, r.stdout, r.stderr)
	}
	// The fix line carries the flags given: the configuration, the index,
	// what this verify compared.
	config := writeFile(t, "s3ferry.yml", fmt.Sprintf("s3:\n  path-style: true\nsources:\n  - path: %s\n    destination: s3://%s/rec/\n", e.root, e.bucket))
	r = e.run(t, "verify", "--config", config, "--index-dir", "{index}", "--deep")
	fix = "run " + shellLine([]string{"s3ferry", "verify", "--config", config, "--index-dir", e.index, "--deep", "--repair"}) + " to fix them"
	if r.code != exitProblems || !strings.HasSuffix(r.stderr, fix+"\n") {
		t.Errorf("verify --config: exit %d, stderr %q; want %d ending %q", r.code, r.stderr, exitProblems, fix)
	}
}

// TestVerifyRepairsALargeFileInParts: verify --deep --repair fetches the
// recorded version of a damaged large file in ranged parts (counted
// through a proxy), verified against the index's hash, into place.
func TestVerifyRepairsALargeFileInParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := make([]byte, 3<<20+17)
	rand.NewChaCha8([32]byte{3}).Read(data)
	e.write(t, "d/cam.mp4", string(data), time.Hour)
	e.sync(t, 0)
	p := filepath.Join(e.root, "d/cam.mp4")
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("DAMAGED"), 2<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	proxy := s3test.NewFaultProxy(t, e.srv.Endpoint, 3)
	r := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--json", "--deep", "--repair",
		"--endpoint-url", proxy.URL, "--download-part-size", "1MiB")
	if r.code != 0 {
		t.Fatalf("verify --deep --repair: exit %d\n%s", r.code, r.stderr)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair: %d bytes (%v), want the recorded %d", len(got), err, len(data))
	}
	ranges := map[string]bool{}
	for _, g := range proxy.Gets() {
		if strings.HasSuffix(g.Path, "/rec/d/cam.mp4") && g.Range != "" {
			ranges[g.Range] = true
		}
	}
	if len(ranges) != 4 {
		t.Errorf("ranges fetched %v, want the 4 parts of 1 MiB", ranges)
	}
}
