package bucket

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
)

func TestEscapeKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"rec/2026-11-22/call_1.wav", "rec/2026-11-22/call_1.wav"},
		{"rec/with space+plus.wav", "rec/with%20space%2Bplus.wav"},
		{"rec/a,b\"c\n.wav", "rec/a%2Cb%22c%0A.wav"},
		{"rec/ünï.wav", "rec/%C3%BCn%C3%AF.wav"},
	}
	for _, tt := range tests {
		got := EscapeKey(tt.key)
		if got != tt.want {
			t.Errorf("EscapeKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
		// Both kinds of decoder read it back the same.
		for name, unescape := range map[string]func(string) (string, error){"path": url.PathUnescape, "query": url.QueryUnescape} {
			if back, err := unescape(got); err != nil || back != tt.key {
				t.Errorf("%s-unescape(%q) = %q, %v; want %q", name, got, back, err, tt.key)
			}
		}
	}
}

// TestManifestRun writes the rows of the index's records: escaped keys,
// "null" for an object written without versioning, none uploaded at or
// after Before, and refuses sources in two buckets.
func TestManifestRun(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for rel, rec := range map[string]index.Record{
		"a b,c.wav":   {VersionID: "v1", UploadedNs: t0.UnixNano()},
		"unversioned": {UploadedNs: t0.UnixNano()},
		"late.wav":    {VersionID: "v3", UploadedNs: t0.Add(time.Hour).UnixNano()},
	} {
		if err := f.idx.Commit(f.src.ID(), rel, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	st, err := (&Manifest{Sources: []*local.Source{f.src}, Index: f.idx, Before: t0.Add(time.Minute), Out: &out}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "b,rec/a%20b%2Cc.wav,v1\nb,rec/unversioned,null\n"
	if out.String() != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", out.String(), want)
	}
	if st.Objects != 2 || st.Later != 1 || st.Bucket != "b" {
		t.Errorf("stats %+v: want 2 objects, 1 later, bucket b", st)
	}
	other := &local.Source{Root: f.src.Root, Bucket: "other", Prefix: "x/"}
	if _, err := (&Manifest{Sources: []*local.Source{f.src, other}, Index: f.idx, Out: &out}).Run(context.Background()); err == nil {
		t.Error("a manifest of two buckets: nil error, want one")
	}
}

// TestManifestReplicationFailed lists only the versions the replica set
// keeps as failed for good, not those still pending nor the records.
func TestManifestReplicationFailed(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for rel, r := range map[string]index.Replica{
		"gone.wav":    {VersionID: "v1", UploadedNs: t0.UnixNano(), Failed: true},
		"pending.wav": {VersionID: "v2", UploadedNs: t0.UnixNano()},
	} {
		if err := f.idx.Commit(f.src.ID(), rel, index.Record{VersionID: r.VersionID}, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.idx.Replicas().Add(f.src.ID(), rel, r); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	st, err := (&Manifest{Sources: []*local.Source{f.src}, Index: f.idx, Out: &out, ReplicationFailed: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "b,rec/gone.wav,v1\n"; out.String() != want || st.Objects != 1 {
		t.Errorf("manifest --replication-failed (%d objects):\n%s\nwant:\n%s", st.Objects, out.String(), want)
	}
}
