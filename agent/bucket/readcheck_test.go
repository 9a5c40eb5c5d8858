package bucket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

func TestParseReadSample(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ReadSample
		n    int64 // of 1,000 records
	}{
		{"all", ReadSample{All: true}, 1000},
		{"ALL", ReadSample{All: true}, 1000},
		{"100%", ReadSample{All: true}, 1000},
		{"1%", ReadSample{Fraction: 0.01}, 10},
		{"0.05%", ReadSample{Fraction: 0.0005}, 1}, // rounds up: a drill reads something
		{"500", ReadSample{Count: 500}, 500},
		{"5000", ReadSample{Count: 5000}, 1000},
		{"0", ReadSample{}, 0},
		{"0%", ReadSample{}, 0},
	} {
		got, err := ParseReadSample(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseReadSample(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if n := got.of(1000); n != c.n {
			t.Errorf("%q of 1000 records = %d, want %d", c.in, n, c.n)
		}
		if c.n > 0 {
			if back, err := ParseReadSample(got.String()); err != nil || back != got {
				t.Errorf("ParseReadSample(%q.String() = %q) = %+v, %v", c.in, got.String(), back, err)
			}
		}
	}
	for _, bad := range []string{"", "-1", "101%", "1.5", "x%", "NaN%", "some"} {
		if s, err := ParseReadSample(bad); err == nil {
			t.Errorf("ParseReadSample(%q) = %+v, want an error", bad, s)
		}
	}
}

// TestReadCheckFindsRot damages the stored bytes of one version while its
// size, ETag, checksum and metadata stay: the listing verify passes, the
// read check finds it, and one whose recorded version is gone.
func TestReadCheckFindsRot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 20 {
		f.upload(t, fmt.Sprintf("d/%02d.wav", i), strings.Repeat(fmt.Sprint(i), 100+i))
	}
	if err := f.fake.Damage("rec/d/07.wav", "", 50, 1); err != nil {
		t.Fatal(err)
	}
	// The recorded version of 12 is deleted for good and the same bytes
	// put again: the listing sees the same size and ETag.
	gone, _ := f.record(t, "d/12.wav")
	if _, err := f.fake.Delete(ctx, "rec/d/12.wav", gone.VersionID); err != nil {
		t.Fatal(err)
	}
	f.put(t, "d/12.wav", strings.Repeat("12", 112), true)

	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open}
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problems() != 0 {
		t.Fatalf("verify without --read: %d problems %+v; the damage must be invisible to a listing", rep.Problems(), rep.Findings)
	}

	v.Read = ReadSample{All: true}
	rep, err = v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep, map[string][]string{
		FindingReadCorrupt: {"d/07.wav"},
		FindingReadMissing: {"d/12.wav"},
	})
	r := rep.Read
	if r == nil || r.Records != 20 || r.Sampled != 20 || r.Objects != 20 || r.Corrupt != 1 || r.Missing != 1 || rep.Problems() != 2 {
		t.Fatalf("read report %+v, problems %d: want all 20 read, 1 corrupt, 1 missing", r, rep.Problems())
	}
	// 12's recorded version answers 404: its bytes never came.
	var want int64
	for i := range 20 {
		if i != 12 {
			want += int64(len(strings.Repeat(fmt.Sprint(i), 100+i)))
		}
	}
	if r.Bytes != want || f.fake.BytesServed() != want {
		t.Errorf("read %d bytes, the bucket served %d; want %d", r.Bytes, f.fake.BytesServed(), want)
	}
}

// TestReadCheckSample: a sampled check reads as many versions as it says,
// distinct ones, and the bytes it reports are the bytes the bucket served.
func TestReadCheckSample(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const files = 200
	for i := range files {
		f.upload(t, fmt.Sprintf("d/%03d.wav", i), strings.Repeat("x", 1+i*7))
	}
	for _, c := range []struct {
		sample  string
		objects int64
	}{{"5%", 10}, {"17", 17}, {"all", files}} {
		s, err := ParseReadSample(c.sample)
		if err != nil {
			t.Fatal(err)
		}
		calls, served := f.fake.Calls("Get"), f.fake.BytesServed()
		rc := &ReadCheck{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Sample: s, Rate: -1,
			Rand: rand.New(rand.NewPCG(uint64(len(c.sample)), 1))}
		rep, err := rc.run(ctx, func(_ *local.Source, rel string, _ index.Record, fd Finding) {
			t.Errorf("%s: finding %s on %s: %s", c.sample, fd.Kind, rel, fd.Detail)
		})
		if err != nil {
			t.Fatal(err)
		}
		gets, bytes := int64(f.fake.Calls("Get")-calls), f.fake.BytesServed()-served
		if rep.Records != files || rep.Sampled != c.objects || rep.Objects != c.objects || gets != c.objects {
			t.Errorf("%s: report %+v, %d GETs; want %d of %d read", c.sample, rep, gets, c.objects, files)
		}
		if rep.Bytes != bytes || bytes == 0 {
			t.Errorf("%s: report says %d bytes read, the bucket served %d", c.sample, rep.Bytes, bytes)
		}
	}
}

// TestReadCheckReadsAgain: the files named in Again are read back beside
// the sample, by their record as it is now; one no longer recorded is
// passed over.
func TestReadCheckReadsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 50 {
		f.upload(t, fmt.Sprintf("d/%02d.wav", i), strings.Repeat("y", 100+i))
	}
	if err := f.fake.Damage("rec/d/33.wav", "", 0, 1); err != nil {
		t.Fatal(err)
	}
	rc := &ReadCheck{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Sample: ReadSample{Count: 5},
		Again: []ReadTarget{{f.src, "d/33.wav"}, {f.src, "d/not-recorded.wav"}}}
	for range 20 { // a sample that draws d/33.wav too must not read it twice
		rep, err := rc.Run(ctx)
		if err != nil || rep.Sampled != 6 || rep.Objects != 6 || rep.Corrupt != 1 || len(rep.Findings) != 1 || rep.Findings[0].Path != "d/33.wav" {
			t.Fatalf("%+v, %v: want d/33.wav read again (corrupt) and 5 more", rep, err)
		}
	}
}

// TestReadCheckStopsOnFatal: access denied stops the check with the error
// instead of reporting every version unreadable; a failure after retries
// is a finding.
func TestReadCheckStopsOnFatal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "a.wav", "a")
	f.upload(t, "b.wav", "b")
	rc := &ReadCheck{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Sample: ReadSample{All: true}}
	f.fake.FailNext("Get", 1, buckettest.InternalError())
	rep, err := rc.Run(ctx)
	if err != nil || rep.Unreadable != 1 || len(rep.Findings) != 1 || rep.Findings[0].Kind != FindingReadUnreadable {
		t.Fatalf("a 5xx on one GET: %+v, %v; want one unreadable finding", rep, err)
	}
	f.fake.FailNext("Get", 1, buckettest.AccessDenied())
	if _, err := rc.Run(ctx); !uploader.Fatal(err) {
		t.Fatalf("access denied: err %v, want it fatal", err)
	}
}

// TestVerifyRepairsReadBack: --repair uploads the local file of a version
// that read back corrupt again, and the next read check is clean.
func TestVerifyRepairsReadBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, "a.wav", "the good bytes")
	if err := f.fake.Damage("rec/a.wav", "", 0, 3); err != nil {
		t.Fatal(err)
	}
	v := &Verify{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, Read: ReadSample{All: true},
		Repair: true, Uploader: agenttest.UploaderOf(f.fake)}
	rep, err := v.Run(ctx)
	if err != nil || rep.Repaired != 1 || rep.Unrepaired() != 0 {
		t.Fatalf("repair: %+v, %v; want the corrupt version repaired", rep, err)
	}
	v.Repair = false
	if rep, err := v.Run(ctx); err != nil || rep.Problems() != 0 {
		t.Fatalf("after the repair: %+v, %v; want no problem", rep, err)
	}
	if b, err := os.ReadFile(filepath.Join(f.src.Root, "a.wav")); err != nil || string(b) != "the good bytes" {
		t.Fatalf("the local file: %q, %v", b, err)
	}
}
