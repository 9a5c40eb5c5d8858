package bucket

import (
	"bytes"
	"context"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// TestAdoptETagRules builds every row of Adopt's table and checks what is
// recorded.
func TestAdoptETagRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A plain-MD5 ETag of the file: adopted without a Head.
	f.write(t, "md5.wav", "same bytes")
	f.put(t, "md5.wav", "same bytes", false)
	// A plain-MD5 ETag of other bytes of the same size.
	f.write(t, "other.wav", "these")
	f.put(t, "other.wav", "those", false)
	// Another size.
	f.write(t, "size.wav", "short")
	f.put(t, "size.wav", "longer", false)
	// A multipart ETag of an unusual part size: only the metadata can
	// tell, and says the same; without metadata nothing can.
	big := bytes.Repeat([]byte("x"), int(uploader.MinPartSize)+11)
	f.write(t, "meta.wav", string(big))
	f.putParts(t, "meta.wav", big, true)
	f.write(t, "unverified.wav", string(big))
	f.putParts(t, "unverified.wav", big, false)
	// Deleted in the bucket; not on disk; excluded by the filter.
	f.write(t, "deleted.wav", "x")
	f.put(t, "deleted.wav", "x", false)
	if _, err := f.fake.Delete(ctx, "rec/deleted.wav", ""); err != nil {
		t.Fatal(err)
	}
	f.put(t, "nowhere.wav", "x", false)
	f.write(t, "skip.tmp", "x")
	f.put(t, "skip.tmp", "x", false)
	filter, err := local.NewFilter(nil, []string{"*.tmp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	f.src.Filter = filter

	st, err := (&Adopt{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Listed != 7 || st.Adopted != 2 || st.Differs != 2 || st.Unverified != 1 || st.NotLocal != 1 || st.Excluded != 1 || st.Failed != 0 {
		t.Errorf("stats %+v: want 7 listed, 2 adopted, 2 differ, 1 unverified, 1 not local, 1 excluded", st)
	}
	// Heads: the two multipart objects, asked before reading the file,
	// and other.wav, whose ETag did not match, asked after.
	if st.Heads != 3 {
		t.Errorf("heads %d, want 3", st.Heads)
	}
	for rel, want := range map[string]bool{"md5.wav": true, "meta.wav": true, "other.wav": false, "size.wav": false, "unverified.wav": false, "skip.tmp": false} {
		rec, ok := f.record(t, rel)
		if ok != want {
			t.Errorf("%s recorded: %v, want %v", rel, ok, want)
		}
		if ok && (rec.Hash == 0 || rec.VersionID == "" || rec.ETag == "") {
			t.Errorf("%s recorded as %+v: want its hash, version and ETag", rel, rec)
		}
	}
	if rec, _ := f.record(t, "md5.wav"); rec.Hash != xxhash.Sum64String("same bytes") {
		t.Errorf("md5.wav recorded with hash %x, want the file's", rec.Hash)
	}

	// Again: the adopted ones are known now. With TrustSize the same size
	// is enough, and the record has no hash.
	st, err = (&Adopt{Sources: []*local.Source{f.src}, Index: f.idx, Open: f.open, TrustSize: true}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Known != 2 || st.Adopted != 2 || st.Differs != 1 {
		t.Errorf("with TrustSize: %+v; want 2 known, 2 adopted (other.wav, unverified.wav), 1 differs", st)
	}
	if rec, ok := f.record(t, "other.wav"); !ok || rec.Hash != 0 {
		t.Errorf("other.wav with TrustSize: %+v, %v; want recorded with hash 0", rec, ok)
	}
}

// putParts stores data as a multipart upload whose first part is one
// byte more than MinPartSize, a part size no tool uses.
func (f *fixture) putParts(tb testing.TB, rel string, data []byte, meta bool) {
	tb.Helper()
	ctx := context.Background()
	key := f.src.Prefix + rel
	opts := uploader.PutOptions{}
	if meta {
		opts.Metadata = map[string]string{uploader.MetaHash: uploader.FormatMetaHash(xxhash.Sum64(data))}
	}
	id, err := f.fake.CreateMultipart(ctx, key, opts)
	if err != nil {
		tb.Fatal(err)
	}
	cut := int(uploader.MinPartSize) + 1
	var parts []uploader.Part
	for i, chunk := range [][]byte{data[:cut], data[cut:]} {
		p, err := f.fake.UploadPart(ctx, key, id, int32(i+1), bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			tb.Fatal(err)
		}
		parts = append(parts, p)
	}
	if _, err := f.fake.CompleteMultipart(ctx, key, id, parts); err != nil {
		tb.Fatal(err)
	}
}
