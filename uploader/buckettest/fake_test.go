package buckettest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

func TestFake(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) uploader.Bucket { return buckettest.NewFake("fake", "") }, buckettest.Quirks{})
}

// TestFakeAsVersityGW runs the suite on a Fake that lists version times
// as VersityGW does, accepting that quirk: the rest of the suite holds,
// and a deleted key's history, whose times always differ here (the Fake
// keeps nanoseconds), is refused as the suite requires.
func TestFakeAsVersityGW(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) uploader.Bucket {
		f := buckettest.NewFake("fake", "")
		f.ShiftedVersionTimes = true
		return f
	}, buckettest.Quirks{ShiftedVersionTimes: true})
}

func TestFakeFailures(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	boom := errors.New("boom")
	f.FailNext("Head", 2, boom)
	for i := range 2 {
		if _, err := f.Head(ctx, "k", ""); !errors.Is(err, boom) {
			t.Errorf("Head %d: err = %v, want the injected error", i+1, err)
		}
	}
	if _, err := f.Head(ctx, "k", ""); !errors.Is(err, uploader.ErrNotFound) {
		t.Errorf("Head after the injected failures: err = %v, want ErrNotFound", err)
	}
	f.Fail = func(op, key string) error {
		if op == "List" {
			return boom
		}
		return nil
	}
	if err := f.List(ctx, "", uploader.ListOptions{}, func(uploader.Object) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("List with a failing hook: err = %v, want the injected error", err)
	}
}

// multipart starts an upload of key on f and sends part 1 (MinPartSize
// bytes of a) and part 2 ("end"), and returns the upload's ID and the parts
// as UploadPart answered them.
func multipart(t *testing.T, f *buckettest.Fake, key string) (string, []uploader.Part) {
	t.Helper()
	ctx := context.Background()
	id, err := f.CreateMultipart(ctx, key, uploader.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []uploader.Part
	for n, data := range [][]byte{bytes.Repeat([]byte("a"), int(uploader.MinPartSize)), []byte("end")} {
		p, err := f.UploadPart(ctx, key, id, int32(n+1), bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	return id, parts
}

func TestFakeUnlistedPartChecksums(t *testing.T) {
	f := buckettest.NewFake("fake", "")
	f.UnlistedPartChecksums = true
	id, sent := multipart(t, f, "k")
	listed, err := f.ListParts(context.Background(), "k", id)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(sent) {
		t.Fatalf("ListParts = %+v, want the %d parts sent", listed, len(sent))
	}
	for i, p := range listed {
		want := sent[i]
		want.Checksum = ""
		if sent[i].Checksum == "" || p != want {
			t.Errorf("listed part %+v, want %+v: as sent, without its checksum %q", p, want, sent[i].Checksum)
		}
	}
}

func TestFakeListReplacedParts(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	f.ListReplacedParts = true
	id, sent := multipart(t, f, "k")
	again, err := f.UploadPart(ctx, "k", id, 2, bytes.NewReader([]byte("END")), 3)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := f.ListParts(ctx, "k", id)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uploader.Part{sent[0], sent[1], again}; !slices.Equal(listed, want) {
		t.Fatalf("ListParts = %+v, want part 2 twice, as first and as last sent: %+v", listed, want)
	}
	// The completion takes the part sent last.
	w, err := f.CompleteMultipart(ctx, "k", id, []uploader.Part{sent[0], again})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := f.Get(ctx, "k", w.VersionID, int64(uploader.MinPartSize), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if got, _ := io.ReadAll(body); string(got) != "END" {
		t.Errorf("the completed object ends in %q, want the part sent last, %q", got, "END")
	}
}

func TestFakeRequirePartChecksums(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	f.RequirePartChecksums = true
	id, sent := multipart(t, f, "k")
	bare := slices.Clone(sent)
	bare[1].Checksum = ""
	_, err := f.CompleteMultipart(ctx, "k", id, bare)
	var apiErr *buckettest.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "InvalidRequest" {
		t.Fatalf("CompleteMultipart without part 2's checksum: err = %v, want InvalidRequest", err)
	}
	if got, want := uploader.ReasonOf(err), uploader.ReasonOther; got != want || uploader.Fatal(err) {
		t.Errorf("Reason = %q, Fatal = %t; want %q, not fatal (as package s3 classifies a 400 InvalidRequest)", got, uploader.Fatal(err), want)
	}
	if got := f.Uploads(); !slices.Equal(got, []string{id}) {
		t.Errorf("uploads after the refusal = %q, want %s still there", got, id)
	}
	if _, err := f.CompleteMultipart(ctx, "k", id, sent); err != nil {
		t.Errorf("CompleteMultipart with every checksum: %v", err)
	}
}

// TestFakeShiftedVersionTimes: the option answers the times VersityGW
// does, IsLatest and the order as S3 does. Such a history is one S3
// cannot produce once a delete marker is in it (History.Check refuses the
// one below), and with only overwrites its versions share times, so
// History.At refuses a time before them; History.Latest goes by IsLatest.
// The tests of agent/bucket that run on it (TestRestoreShiftedTimesNow,
// TestRestoreShiftedTimesAt, TestVerifyReplicaShiftedTimes) check that
// restore and verify --replica refuse instead of restoring wrong.
func TestFakeShiftedVersionTimes(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now := t0
	f.Now = func() time.Time { now = now.Add(time.Minute); return now }
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, content := range []string{"v1", "v2"} { // at 1 and 2
		if _, err := f.Put(ctx, "k", strings.NewReader(content), 2, uploader.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Delete(ctx, "k", ""); err != nil { // at 3
		t.Fatal(err)
	}
	if _, err := f.Put(ctx, "k", strings.NewReader("v4"), 2, uploader.PutOptions{}); err != nil { // at 4
		t.Fatal(err)
	}
	type entry struct {
		deleted, latest bool
		modified        time.Time
	}
	history := func() []entry {
		t.Helper()
		var got []entry
		err := f.ListVersions(ctx, "", uploader.ListOptions{}, func(h uploader.History) error {
			for _, v := range h.Versions {
				got = append(got, entry{v.Deleted, v.Latest, v.LastModified})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := history(), []entry{{false, true, at(4)}, {true, false, at(3)}, {false, false, at(2)}, {false, false, at(1)}}; !slices.Equal(got, want) {
		t.Fatalf("ListVersions as AWS answers = %+v, want %+v", got, want)
	}
	f.ShiftedVersionTimes = true
	// v2 was deleted at 3 and the marker hides v2, written at 2; v1 was
	// overwritten at 2.
	if got, want := history(), []entry{{false, true, at(4)}, {true, false, at(2)}, {false, false, at(3)}, {false, false, at(2)}}; !slices.Equal(got, want) {
		t.Fatalf("ListVersions as VersityGW answers = %+v, want %+v", got, want)
	}
}

func TestFakeLoseNext(t *testing.T) {
	ctx := context.Background()
	f := buckettest.NewFake("fake", "")
	lost := buckettest.InternalError()
	f.LoseNext("Put", 1, lost)
	if _, err := f.Put(ctx, "k", strings.NewReader("x"), 1, uploader.PutOptions{}); !errors.Is(err, lost) {
		t.Fatalf("Put whose answer is lost: err = %v, want the injected error", err)
	}
	if _, err := f.Head(ctx, "k", ""); err != nil {
		t.Errorf("Head after a Put whose answer was lost: %v, want the object stored", err)
	}
	if _, err := f.Put(ctx, "k", strings.NewReader("y"), 1, uploader.PutOptions{}); err != nil {
		t.Errorf("the next Put: %v", err)
	}
	if got := f.Calls("Put"); got != 2 {
		t.Errorf("Calls(Put) = %d, want 2", got)
	}

	id, parts := multipart(t, f, "big")
	f.LoseNext("CompleteMultipart", 1, lost)
	if _, err := f.CompleteMultipart(ctx, "big", id, parts); !errors.Is(err, lost) {
		t.Fatalf("CompleteMultipart whose answer is lost: err = %v, want the injected error", err)
	}
	if o, err := f.Head(ctx, "big", ""); err != nil || !o.Composite {
		t.Errorf("Head after a completion whose answer was lost: %+v, %v; want the multipart object", o, err)
	}
	if got := f.Keys(""); !slices.Equal(got, []string{"big", "k"}) {
		t.Errorf("Keys = %q, want big and k", got)
	}
}
