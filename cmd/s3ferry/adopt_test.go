package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestAdoptThenSyncUploadsOnlyWhatIsMissing fills the bucket with another
// tool (mc mirror), adopts it, and checks that sync then uploads exactly
// what the bucket lacks or holds differently.
func TestAdoptThenSyncUploadsOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, rel := range []string{"d1/a.wav", "d1/b.wav", "d2/c.wav", "d2/with space.wav", "d2/ünï.wav"} {
		e.write(t, rel, "content of "+rel, time.Hour)
	}
	// Large enough for mc to upload it in parts: a multipart ETag.
	big := make([]byte, 20<<20+17)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	e.write(t, "d3/big.mp4", string(big), time.Hour)
	e.srv.MC(t, "mirror", e.root, s3test.Alias+"/"+e.bucket+"/rec")

	// After the mirror: two new files, and one changed in place (same size).
	e.write(t, "d1/new.wav", "new", time.Hour)
	e.write(t, "d4/new.wav", "new too", time.Hour)
	e.write(t, "d1/b.wav", "CONTENT OF d1/b.wav", time.Hour)

	r := e.run(t, "adopt", "{root}", "{dest}", "--index-dir", "{index}", "--settle", "0s", "--json")
	if r.code != 0 {
		t.Fatalf("adopt: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st bucket.AdoptStats
	r.decode(t, &st)
	if st.Listed != 6 || st.Adopted != 5 || st.Differs != 1 || st.Unverified != 0 || st.Failed != 0 {
		t.Fatalf("adopt: %+v, want 6 listed, 5 adopted (the big multipart one too), 1 differs", st)
	}

	got := e.sync(t, 0)
	if got.Uploaded != 3 || got.Unchanged != 5 {
		t.Fatalf("sync after adopt: %+v, want the 2 new files and the changed one uploaded, 5 unchanged", got)
	}
	for _, rel := range []string{"d1/a.wav", "d2/ünï.wav", "d3/big.mp4"} {
		if n := e.versions(t, rel); n != 1 {
			t.Errorf("%s has %d versions, want 1: an adopted file must not be uploaded again", rel, n)
		}
	}
	if got := e.object(t, "d1/b.wav"); got != "CONTENT OF d1/b.wav" {
		t.Errorf("changed file in the bucket = %q, want the new content", got)
	}
	if rep := e.run(t, "verify", "{root}", "{dest}", "--index-dir", "{index}", "--deep"); rep.code != 0 {
		t.Errorf("verify after adopt and sync: exit %d\n%s", rep.code, rep.stdout)
	}

	// --trust-size on a fresh index takes the changed-in-place file too:
	// that is why it is the weaker choice.
	idx2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(e.root, "d2/c.wav"), []byte("CONTENT OF d2/c.wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.run(t, "adopt", "{root}", "{dest}", "--index-dir", idx2, "--settle", "0s", "--trust-size", "--json")
	st = bucket.AdoptStats{}
	r.decode(t, &st)
	if r.code != 0 || st.Adopted != 8 || st.BytesRead != 0 {
		t.Errorf("adopt --trust-size: exit %d, %+v; want all 8 adopted without reading", r.code, st)
	}
}
