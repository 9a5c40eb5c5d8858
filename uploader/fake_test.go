package uploader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// The tests of this file run the Uploader over a buckettest.Fake: what
// the MinIO tests check of resume, put-once, lost completions and changed
// files, without a server, and under the ways of other servers the Fake
// can take.

// onFake returns an Uploader with cfg (and parts of MinPartSize) over a new
// Fake, and the Fake. Every job goes to it, whatever its Bucket.
func onFake(cfg uploader.Config) (*uploader.Uploader, *buckettest.Fake) {
	fake := buckettest.NewFake("b", cfg.Checksum)
	if cfg.PartSize == 0 {
		cfg.PartSize = uploader.MinPartSize
	}
	return uploader.New(func(string) uploader.Bucket { return fake }, buckettest.Retry{}, cfg), fake
}

// checkStored checks that the version res names holds data, with res's
// ETag, checksum and content hash, and that it is the only version of key.
func checkStored(tb testing.TB, fake *buckettest.Fake, key string, res uploader.Result, data []byte) {
	tb.Helper()
	ctx := context.Background()
	body, o, err := fake.Get(ctx, key, res.VersionID, 0, -1)
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		tb.Errorf("object %s: %d bytes differ from the %d bytes of the file", key, len(got), len(data))
	}
	if hash, ok := uploader.ParseMetaHash(o.Metadata); !ok || hash != res.Hash {
		tb.Errorf("metadata %s = %q, want %s", uploader.MetaHash, o.Metadata[uploader.MetaHash], uploader.FormatMetaHash(res.Hash))
	}
	if o.ETag != res.ETag || o.Checksum(res.Checksum) != res.Checksum || res.Checksum == "" {
		tb.Errorf("stored ETag %q, checksums %v; Upload said %q, %q", o.ETag, o.Checksums, res.ETag, res.Checksum)
	}
	if n := fakeVersions(tb, fake, key); n != 1 {
		tb.Errorf("%d versions of %s, want 1", n, key)
	}
}

// fakeVersions is how many versions and delete markers key has.
func fakeVersions(tb testing.TB, fake *buckettest.Fake, key string) int {
	tb.Helper()
	n := 0
	err := fake.ListVersions(context.Background(), key, uploader.ListOptions{}, func(h uploader.History) error {
		if h.Key == key {
			n = len(h.Versions)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestUploadOnFake(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1000, int(uploader.MinPartSize), 3*int(uploader.MinPartSize) + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			up, fake := onFake(uploader.Config{})
			data := randomBytes(size)
			path := writeFile(t, t.TempDir(), "f", data)
			res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "f", Path: path})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, path, data)
			if want := size > int(uploader.MinPartSize); res.Multipart != want {
				t.Errorf("Multipart = %t for %d bytes, want %t", res.Multipart, size, want)
			}
			checkStored(t, fake, "f", res, data)
			wantNoUploads(t, fake)
		})
	}
}

// TestUploadResumeOnFake: a resumed upload keeps the parts the Fake holds
// and sends only the others, also when the server lists parts without
// their checksums or wants every part's checksum in the completion (AWS),
// or both and lists a part sent twice twice (SeaweedFS): the kept parts
// carry the checksums the hash pass verified, each once.
func TestUploadResumeOnFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func(*buckettest.Fake)
	}{
		{"as AWS", func(*buckettest.Fake) {}},
		{"parts listed without checksums", func(f *buckettest.Fake) { f.UnlistedPartChecksums = true }},
		{"checksums required", func(f *buckettest.Fake) { f.RequirePartChecksums = true }},
		{"as SeaweedFS", func(f *buckettest.Fake) {
			f.UnlistedPartChecksums, f.RequirePartChecksums, f.ListReplacedParts = true, true, true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, fake := onFake(uploader.Config{PartConcurrency: 1}) // parts in order: the cancel lands after part 2
			tt.server(fake)
			data := randomBytes(4*int(uploader.MinPartSize) + 11)
			path := writeFile(t, t.TempDir(), "big.bin", data)
			state := interrupted(t, up, "b", "big", path, 2)
			res, _ := resumeKeeping(t, up, fake, path, state, data, state.Parts)
			checkResult(t, res, path, data)
			wantNoUploads(t, fake)
		})
	}
}

// resumeKeeping resumes state, the upload of data (5 parts) from path as
// "big", and checks that it stores data, keeping the parts kept (each
// once, with its checksum) and sending the others; it returns the result
// and the progress reported.
func resumeKeeping(tb testing.TB, up *uploader.Uploader, fake *buckettest.Fake, path string, state uploader.Multipart, data []byte, kept []uploader.Part) (uploader.Result, []uploader.Multipart) {
	tb.Helper()
	sent := fake.Calls("UploadPart")
	var reported []uploader.Multipart
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path, Resume: &state,
		Progress: func(m uploader.Multipart) { reported = append(reported, m) }})
	if err != nil {
		tb.Fatal(err)
	}
	checkStored(tb, fake, "big", res, data)
	if want := int64(len(kept)) * uploader.MinPartSize; res.Kept != want {
		tb.Errorf("Kept = %d bytes, want the %d of parts %+v", res.Kept, want, kept)
	}
	if got, want := fake.Calls("UploadPart")-sent, 5-len(kept); got != want {
		tb.Errorf("the resumed upload sent %d parts, want the %d not kept", got, want)
	}
	if len(reported) == 0 || reported[0].ID != state.ID {
		tb.Fatalf("resumed upload reported %+v first, want the upload %s continued", reported, state.ID)
	}
	checkReported(tb, reported[0], kept)
	return res, reported
}

// checkReported checks that m, the first progress a resumed upload
// reported, lists the parts of want (what the interrupted attempt
// recorded), each once and with its checksum: what the index records for
// the next attempt.
func checkReported(tb testing.TB, m uploader.Multipart, want []uploader.Part) {
	tb.Helper()
	if len(m.Parts) != len(want) {
		tb.Fatalf("resumed upload reported parts %+v, want %+v", m.Parts, want)
	}
	for i, p := range m.Parts {
		if p.Number != want[i].Number || p.ETag != want[i].ETag || p.Checksum != want[i].Checksum {
			tb.Errorf("reported part %+v, want %+v", p, want[i])
		}
	}
}

// TestUploadResumeReplacedPartOnFake: a part sent twice that ListParts
// lists twice (SeaweedFS) is kept once, as the last one listed, the one
// the completion takes: Result.Kept and the progress reported count it
// once, and one whose last bytes are not the file's is sent again even if
// the older ones are.
func TestUploadResumeReplacedPartOnFake(t *testing.T) {
	t.Parallel()
	for _, unlisted := range []bool{false, true} {
		for _, same := range []bool{true, false} {
			t.Run(fmt.Sprintf("unlisted checksums %t/same bytes %t", unlisted, same), func(t *testing.T) {
				t.Parallel()
				up, fake := onFake(uploader.Config{PartConcurrency: 1})
				fake.ListReplacedParts, fake.UnlistedPartChecksums, fake.RequirePartChecksums = true, unlisted, true
				data := randomBytes(4*int(uploader.MinPartSize) + 11)
				path := writeFile(t, t.TempDir(), "big.bin", data)
				state := interrupted(t, up, "b", "big", path, 2)
				if len(state.Parts) != 2 {
					t.Fatalf("interrupted after parts %+v, want 2", state.Parts)
				}

				// Part 2 again: the same bytes (a retry whose first answer
				// was lost), or others (the bytes of an attempt that did
				// not record them).
				part2 := bytes.Clone(data[uploader.MinPartSize : 2*uploader.MinPartSize])
				if !same {
					part2[0] ^= 1
				}
				p, err := fake.UploadPart(context.Background(), "big", state.ID, 2, bytes.NewReader(part2), int64(len(part2)))
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Clone(state.Parts)
				if same {
					want[1] = p
				} else {
					want = want[:1]
				}
				_, reported := resumeKeeping(t, up, fake, path, state, data, want)
				if last := reported[len(reported)-1]; len(last.Parts) != 5 {
					t.Errorf("last progress reported %d parts, want the 5 of the file once each: %+v", len(last.Parts), last.Parts)
				}
			})
		}
	}
}

// TestUploadPartWithoutChecksumOnFake: a completion is not sent with a
// part that lacks its checksum (the server would take the upload as one
// without checksums, or refuse it); the error names the part. The next
// attempt resumes the upload, verifies the part and completes it.
func TestUploadPartWithoutChecksumOnFake(t *testing.T) {
	t.Parallel()
	fake := buckettest.NewFake("b", "")
	b := &unsummedParts{Fake: fake, part: 2}
	up := uploader.New(func(string) uploader.Bucket { return b }, buckettest.Retry{}, uploader.Config{PartSize: uploader.MinPartSize})
	data := randomBytes(3*int(uploader.MinPartSize) + 1)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	var state uploader.Multipart
	_, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path,
		Progress: func(m uploader.Multipart) { state = m }})
	if err == nil || !strings.Contains(err.Error(), "part 2") {
		t.Fatalf("Upload with part 2 answered without its checksum: %v, want an error naming part 2", err)
	}
	if n := fake.Calls("CompleteMultipart"); n != 0 {
		t.Fatalf("%d completions sent with a part that lacks its checksum, want none", n)
	}
	resumeSendsNone(t, up, fake, path, state, data)
}

// resumeSendsNone resumes state, the upload of data from path as "big",
// and checks that it completes and stores data without sending a part.
func resumeSendsNone(tb testing.TB, up *uploader.Uploader, fake *buckettest.Fake, path string, state uploader.Multipart, data []byte) {
	tb.Helper()
	sent := fake.Calls("UploadPart")
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path, Resume: &state})
	if err != nil {
		tb.Fatal(err)
	}
	checkStored(tb, fake, "big", res, data)
	if got := fake.Calls("UploadPart") - sent; got != 0 {
		tb.Errorf("%d parts sent again, want none", got)
	}
}

// unsummedParts is a Fake whose UploadPart answers part without its
// checksum, as a server might that does not echo it.
type unsummedParts struct {
	*buckettest.Fake
	part int32
}

func (b *unsummedParts) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64) (uploader.Part, error) {
	p, err := b.Fake.UploadPart(ctx, key, uploadID, n, body, size)
	if n == b.part {
		p.Checksum = ""
	}
	return p, err
}

// TestUploadRefusedCompletionOnFake: a completion the bucket refuses is
// kept for the next attempt, which may find what was wrong (a part to
// send again); refused again, the upload is aborted with
// ReasonMultipartRefused, and the attempt after that sends the file as a
// new upload.
func TestUploadRefusedCompletionOnFake(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	refusal := buckettest.InvalidRequest("The upload was created using a crc32c checksum. The complete request must include the checksum for each part.")
	fake.FailNext("CompleteMultipart", 2, refusal)
	data := randomBytes(2*int(uploader.MinPartSize) + 1)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	var state uploader.Multipart
	job := uploader.Job{Bucket: "b", Key: "big", Path: path, Progress: func(m uploader.Multipart) { state = m }}

	_, err := up.Upload(context.Background(), job)
	if !errors.Is(err, refusal) || uploader.ReasonOf(err) == uploader.ReasonMultipartRefused {
		t.Fatalf("first refusal: %v (%s), want the server's error", err, uploader.ReasonOf(err))
	}
	if got := fake.Uploads(); len(got) != 1 || state.ID != got[0] || state.Refused != 1 {
		t.Fatalf("after one refusal: uploads %v, recorded %s refused %d times; want it kept, refused once", got, state.ID, state.Refused)
	}
	first := state.ID

	resumed := job
	resumed.Resume = &state
	_, err = up.Upload(context.Background(), resumed)
	if !errors.Is(err, uploader.ErrMultipartRefused) || !errors.Is(err, refusal) || uploader.ReasonOf(err) != uploader.ReasonMultipartRefused || uploader.Fatal(err) {
		t.Fatalf("second refusal: %v (%s), want ErrMultipartRefused with the server's error, not fatal", err, uploader.ReasonOf(err))
	}
	wantNoUploads(t, fake)

	sent := fake.Calls("UploadPart")
	again := job
	again.Resume = &state // what the index holds, unless the caller dropped it
	res, err := up.Upload(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, fake, "big", res, data)
	if got := fake.Calls("UploadPart") - sent; got != 3 || res.Kept != 0 {
		t.Errorf("after the abort: %d parts sent, %d bytes kept; want all 3 sent", got, res.Kept)
	}
	if state.ID == first || state.Refused != 0 {
		t.Errorf("recorded upload %s refused %d times, want a new upload, not refused", state.ID, state.Refused)
	}
	wantNoUploads(t, fake)
}

// TestUploadResumeChangedFileOnFake: the old upload of a file that changed
// is aborted and the file sent whole.
func TestUploadResumeChangedFileOnFake(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{PartConcurrency: 1})
	data := randomBytes(3*int(uploader.MinPartSize) + 5)
	path := writeFile(t, t.TempDir(), "big.bin", data)
	state := interrupted(t, up, "b", "big", path, 1)
	sent := fake.Calls("UploadPart")

	rewriteInPlace(t, path, data)
	res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path, Resume: &state})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 0 {
		t.Errorf("Kept = %d bytes of a file that changed, want 0", res.Kept)
	}
	if got := fake.Calls("UploadPart") - sent; got != 4 {
		t.Errorf("%d parts sent after the change, want all 4", got)
	}
	checkStored(t, fake, "big", res, data)
	wantNoUploads(t, fake) // the old upload was aborted
}

// TestUploadPutOnceOnFake: a Put whose answer was lost stored the file;
// the retry finds it and stores no second version. One that failed before
// storing is sent again.
func TestUploadPutOnceOnFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inject func(*buckettest.Fake)
		puts   int
	}{
		{"answer lost", func(f *buckettest.Fake) { f.LoseNext("Put", 1, buckettest.InternalError()) }, 1},
		{"failed", func(f *buckettest.Fake) { f.FailNext("Put", 1, buckettest.InternalError()) }, 2},
	}
	for _, tt := range tests {
		for _, size := range []int{1000, int(uploader.MinPartSize)} { // a small file, and a one-part large one
			t.Run(fmt.Sprint(tt.name, "/", size), func(t *testing.T) {
				t.Parallel()
				up, fake := onFake(uploader.Config{})
				tt.inject(fake)
				data := randomBytes(size)
				path := writeFile(t, t.TempDir(), "f", data)
				res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "f", Path: path})
				if err != nil {
					t.Fatal(err)
				}
				checkStored(t, fake, "f", res, data)
				if got := fake.Calls("Put"); got != tt.puts {
					t.Errorf("%d Puts, want %d", got, tt.puts)
				}
			})
		}
	}
}

// TestUploadLostCompletionOnFake: a completion whose answer was lost
// completed the upload. Whether the Bucket's retry finds the upload gone
// or the next attempt resumes it, the object is found and recorded, and
// the file is not sent again.
func TestUploadLostCompletionOnFake(t *testing.T) {
	t.Parallel()
	data := randomBytes(2*int(uploader.MinPartSize) + 1)

	t.Run("retried", func(t *testing.T) {
		t.Parallel()
		up, fake := onFake(uploader.Config{})
		path := writeFile(t, t.TempDir(), "big.bin", data)
		fake.LoseNext("CompleteMultipart", 1, fmt.Errorf("retried: %w", uploader.ErrNotFound))
		res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, fake, "big", res, data)
		wantNoUploads(t, fake)
	})

	// A CreateMultipart whose answer was lost left an upload nobody knows
	// the ID of; the completion found by its retry sweeps it, as any
	// completion does.
	t.Run("retried after a lost create", func(t *testing.T) {
		t.Parallel()
		up, fake := onFake(uploader.Config{})
		path := writeFile(t, t.TempDir(), "big.bin", data)
		fake.LoseNext("CreateMultipart", 1, buckettest.InternalError())
		if _, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path}); err == nil {
			t.Fatal("Upload whose CreateMultipart answer was lost succeeded")
		}
		fake.LoseNext("CompleteMultipart", 1, fmt.Errorf("retried: %w", uploader.ErrNotFound))
		res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		checkStored(t, fake, "big", res, data)
		wantNoUploads(t, fake)
	})

	t.Run("resumed", func(t *testing.T) {
		t.Parallel()
		up, fake := onFake(uploader.Config{})
		path := writeFile(t, t.TempDir(), "big.bin", data)
		fake.LoseNext("CompleteMultipart", 1, buckettest.InternalError())
		var state uploader.Multipart
		_, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "big", Path: path,
			Progress: func(m uploader.Multipart) { state = m }})
		if !errors.Is(err, buckettest.InternalError()) && uploader.ReasonOf(err) != uploader.ReasonServerError {
			t.Fatalf("Upload whose completion's answer is lost: %v, want the server error", err)
		}
		resumeSendsNone(t, up, fake, path, state, data)
	})
}

// TestUploadChangedOnFake: a file that changes while it is sent fails with
// ErrChanged and no result, so nothing records it as done; what reached
// the bucket may stay there (Upload's contract).
func TestUploadChangedOnFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		op     string
		change func(path string) error
	}{
		{"small appended", 1000, "Put", appendByte},
		{"small touched", 1000, "Put", touch},
		{"multipart appended", 11 << 20, "UploadPart", appendByte},
		{"multipart touched", 11 << 20, "UploadPart", touch},
		{"multipart truncated", 11 << 20, "UploadPart", func(path string) error { return os.Truncate(path, 3<<20) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, fake := onFake(uploader.Config{PartConcurrency: 1})
			path := writeFile(t, t.TempDir(), "f", randomBytes(tt.size))
			changed := make(chan error, 1)
			fake.Fail = func(op, key string) error {
				if op == tt.op && len(changed) == 0 {
					changed <- tt.change(path)
				}
				return nil
			}
			res, err := up.Upload(context.Background(), uploader.Job{Bucket: "b", Key: "f", Path: path})
			if cerr := <-changed; cerr != nil {
				t.Fatalf("change the file: %v", cerr)
			}
			if !errors.Is(err, uploader.ErrChanged) || uploader.ReasonOf(err) != uploader.ReasonChanged || uploader.Fatal(err) {
				t.Fatalf("Upload of a file changed while it is sent: err = %v, want ErrChanged, not fatal", err)
			}
			if res != (uploader.Result{}) {
				t.Errorf("result %+v with the error, want none", res)
			}
			wantNoUploads(t, fake) // none left behind to resume: the job records no progress
		})
	}
}
