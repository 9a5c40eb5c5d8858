package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// uploadFunc is an Uploader of a function: a test's step before the real
// uploader's.
type uploadFunc func(ctx context.Context, job uploader.Job) (uploader.Result, error)

func (f uploadFunc) Upload(ctx context.Context, job uploader.Job) (uploader.Result, error) {
	return f(ctx, job)
}

func runSync(tb testing.TB, s *Sync) Stats {
	tb.Helper()
	stats, err := s.Run(context.Background())
	if err != nil {
		tb.Fatalf("sync: %v", err)
	}
	return stats
}

func pendingOf(tb testing.TB, idx index.Store, src *local.Source) []string {
	tb.Helper()
	var got []string
	if err := idx.Pending(src.ID(), func(p string, _ index.Pending) error { got = append(got, p); return nil }); err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestSyncFirstFullThenPartitions(t *testing.T) {
	root, today, old := agenttest.PartitionedTree(t)
	idx := index.NewMemory()
	up, _ := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}

	if got := runSync(t, s); got.Uploaded != 3 || got.Scanned != 3 {
		t.Fatalf("first run: %+v, want 3 scanned and uploaded (a full walk)", got)
	}
	agenttest.WriteFile(t, root, today+"/new.wav", "n")
	agenttest.WriteFile(t, root, old+"/late.wav", "l")
	got := runSync(t, s)
	if got.Uploaded != 1 || got.Unchanged != 1 || got.Scanned != 2 {
		t.Fatalf("second run: %+v, want only today's partition walked: 2 scanned, 1 uploaded", got)
	}
	s.Full = true
	if got := runSync(t, s); got.Uploaded != 1 || got.Scanned != 5 {
		t.Fatalf("full run: %+v, want 5 scanned and the late file uploaded", got)
	}
}

func TestSyncTouchedFileIsNotSentAgain(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "x/a.wav", "same")
	idx := index.NewMemory()
	up, fake := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	runSync(t, s)
	later := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(filepath.Join(root, "x/a.wav"), later, later); err != nil {
		t.Fatal(err)
	}
	got := runSync(t, s)
	if got.Touched != 1 || got.Uploaded != 0 || fake.Calls("Put") != 1 {
		t.Fatalf("after touch: %+v, %d sends; want 1 touched and nothing sent again", got, fake.Calls("Put"))
	}
	if got := runSync(t, s); got.Unchanged != 1 {
		t.Fatalf("after touch was recorded: %+v, want unchanged", got)
	}
}

func TestSyncDefersYoungFiles(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "fresh.wav"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := index.NewMemory()
	up, fake := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up, Options: Options{Settle: time.Hour}}
	if got := runSync(t, s); got.Deferred != 1 || fake.Calls("Put") != 0 {
		t.Fatalf("got %+v with %d sends, want the fresh file deferred", got, fake.Calls("Put"))
	}
}

func TestSyncChangedDuringUploadStaysPending(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "a.wav", "a")
	idx := index.NewMemory()
	up, fake := agenttest.NewUploader()
	// As the file is sent, it grows and settles again: changed while read.
	fake.Fail = func(op, key string) error {
		if op == "Put" {
			agenttest.WriteFile(t, root, "a.wav", "ab")
			later := time.Now().Add(-50 * time.Minute)
			if err := os.Chtimes(filepath.Join(root, "a.wav"), later, later); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	src := agenttest.NewSource(t, root, "")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	if got := runSync(t, s); got.Deferred != 1 || got.Uploaded != 0 {
		t.Fatalf("got %+v, want the changing file deferred", got)
	}
	if _, ok, _ := idx.Get(src.ID(), "a.wav"); ok {
		t.Fatal("a file that changed during its upload was recorded as uploaded")
	}
	if got := pendingOf(t, idx, src); len(got) != 1 {
		t.Fatalf("pending = %q, want a.wav still pending", got)
	}
	// The next run resumes it from the pending set and records it.
	fake.Fail = nil
	if got := runSync(t, s); got.Uploaded != 1 {
		t.Fatalf("second run: %+v, want the file uploaded", got)
	}
	if got := pendingOf(t, idx, src); len(got) != 0 {
		t.Fatalf("pending after upload = %q, want none", got)
	}
}

func TestSyncVanishedFile(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "a.wav", "a")
	idx := index.NewMemory()
	real, _ := agenttest.NewUploader()
	up := uploadFunc(func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		if err := os.Remove(job.Path); err != nil {
			return uploader.Result{}, err
		}
		return real.Upload(ctx, job)
	})
	src := agenttest.NewSource(t, root, "")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	got := runSync(t, s)
	if got.Vanished != 1 || got.Failed != 0 {
		t.Fatalf("got %+v, want 1 vanished and no failure", got)
	}
	if got := pendingOf(t, idx, src); len(got) != 0 {
		t.Fatalf("pending = %q, want the vanished file unqueued", got)
	}
}

func TestSyncResumesPendingWithoutWalking(t *testing.T) {
	root := t.TempDir()
	old := time.Now().AddDate(0, 0, -30).Format("2006-01-02")
	agenttest.WriteFile(t, root, old+"/a.wav", "a")
	agenttest.WriteFile(t, root, old+"/b.wav", "b")
	idx := index.NewMemory()
	up, _ := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	if err := idx.SetState(src.ID(), index.SourceState{FullWalkNs: 1}); err != nil {
		t.Fatal(err)
	}
	// A crash left a.wav pending, and gone.wav, which was deleted since.
	for _, p := range []string{old + "/a.wav", old + "/gone.wav"} {
		if _, err := idx.Queue(src.ID(), p); err != nil {
			t.Fatal(err)
		}
	}
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	got := runSync(t, s)
	if got.Uploaded != 1 || got.Vanished != 1 {
		t.Fatalf("got %+v, want the pending file uploaded and the deleted one dropped", got)
	}
	if _, ok, _ := idx.Get(src.ID(), old+"/b.wav"); ok {
		t.Fatal("b.wav, outside the look-back and never pending, was uploaded")
	}
}

// TestResumeKeepsPendingOfAnUnreadableRoot: a source root that is gone
// (an unmounted volume) drops none of its pending entries: they are not
// vanished files, and the next run with the root back uploads them.
func TestResumeKeepsPendingOfAnUnreadableRoot(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "d/a.wav", "a")
	idx := index.NewMemory()
	up, _ := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "")
	if _, err := idx.Queue(src.ID(), "d/a.wav"); err != nil {
		t.Fatal(err)
	}
	moved := root + ".unmounted"
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	got, err := s.Run(context.Background())
	if err == nil {
		t.Fatal("sync of a missing root: no error")
	}
	if got.Vanished != 0 {
		t.Fatalf("got %+v: the pending file of a missing root counted as vanished", got)
	}
	if p := pendingOf(t, idx, src); len(p) != 1 {
		t.Fatalf("pending = %q, want d/a.wav kept", p)
	}
	if err := os.Rename(moved, root); err != nil {
		t.Fatal(err)
	}
	if got := runSync(t, s); got.Uploaded != 1 {
		t.Fatalf("with the root back: %+v, want the pending file uploaded", got)
	}
}

func TestSyncStopsOnFatalError(t *testing.T) {
	root := t.TempDir()
	for i := range 50 {
		agenttest.WriteFile(t, root, fmt.Sprintf("d/%02d.wav", i), "x")
	}
	idx := index.NewMemory()
	denied := buckettest.AccessDenied()
	up, fake := agenttest.NewUploader()
	fake.Fail = func(op, key string) error {
		if op == "Put" {
			return denied
		}
		return nil
	}
	src := agenttest.NewSource(t, root, "")
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	stats, err := s.Run(context.Background())
	if !errors.Is(err, denied) {
		t.Fatalf("Run = %v, want the access-denied error", err)
	}
	if stats.Failed != 0 {
		t.Fatalf("failed = %d, want 0: a fatal error stops the run instead of failing every file", stats.Failed)
	}
	if got := pendingOf(t, idx, src); len(got) == 0 {
		t.Fatal("nothing pending after a stopped run: the next run would not resume")
	}
}

// blockingUploader holds every upload until its context ends.
type blockingUploader struct{ started chan string }

func (b blockingUploader) Upload(ctx context.Context, job uploader.Job) (uploader.Result, error) {
	b.started <- job.Key
	<-ctx.Done()
	return uploader.Result{}, ctx.Err()
}

// A walk must not wait for uploads: Consider queues while every worker is
// busy. When the pool stops, each queued file hears that it failed and
// stays pending for the next run.
func TestPipelineQueuesWhileWorkersAreBusy(t *testing.T) {
	root := t.TempDir()
	src := agenttest.NewSource(t, root, "")
	idx := index.NewMemory()
	up := blockingUploader{started: make(chan string, 10)}
	p := NewPipeline(idx, up, Options{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error)
	go func() { ran <- p.Run(ctx) }()

	var mu sync.Mutex
	ended := map[string]Outcome{}
	const n = 5
	for i := range n {
		rel := fmt.Sprintf("f%d.wav", i)
		agenttest.WriteFile(t, root, rel, rel)
		info, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		c := Candidate{Source: src, Path: rel, Info: info, Done: func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			if _, twice := ended[ev.Path]; twice {
				t.Errorf("Done called twice for %s", ev.Path)
			}
			ended[ev.Path] = ev.Outcome
		}}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := p.Consider(cctx, c)
		ccancel()
		if out != Queued || err != nil {
			t.Fatalf("Consider(%s) with the only worker busy = %v, %v; want queued at once", rel, out, err)
		}
	}
	<-up.started // the worker holds the first file
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(ended) != n {
		t.Fatalf("Done called for %v, want all %d files", ended, n)
	}
	for rel, out := range ended {
		if out != Failed {
			t.Errorf("%s ended %v, want failed: the pool stopped before it was sent", rel, out)
		}
	}
	if got := pendingOf(t, idx, src); len(got) != n {
		t.Errorf("pending after the stop = %q, want all %d files, for the next run to resume", got, n)
	}
	if files, bytes, _ := p.InFlight(); files != 0 || bytes != 0 {
		t.Errorf("InFlight after the stop = %d files, %d bytes; want none", files, bytes)
	}
}

// countingStore counts the index reads a walk makes.
type countingStore struct {
	index.Store
	mu           sync.Mutex
	get, getMany int
}

func (c *countingStore) Get(source, path string) (index.Record, bool, error) {
	c.mu.Lock()
	c.get++
	c.mu.Unlock()
	return c.Store.Get(source, path)
}

func (c *countingStore) GetMany(source string, paths []string, fn func(int, index.Record, bool) error) error {
	c.mu.Lock()
	c.getMany++
	c.mu.Unlock()
	return c.Store.GetMany(source, paths, fn)
}

func (c *countingStore) reads() (get, getMany int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	get, getMany = c.get, c.getMany
	c.get, c.getMany = 0, 0
	return get, getMany
}

// A run costs what changed: a walk reads the index once per directory, not
// once per file, and reads a file's record again only when it changed.
func TestSyncReadsIndexOncePerDirectory(t *testing.T) {
	root := t.TempDir()
	today := time.Now().Format("2006-01-02")
	for a := range 3 {
		for i := range 10 {
			agenttest.WriteFile(t, root, fmt.Sprintf("%s/agent%d/call-%02d.wav", today, a, i), fmt.Sprint(a, i))
		}
	}
	idx := &countingStore{Store: index.NewMemory()}
	src := agenttest.NewSource(t, root, "2006-01-02")
	up, _ := agenttest.NewUploader()
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up}
	if got := runSync(t, s); got.Uploaded != 30 {
		t.Fatalf("first run: %+v, want 30 uploaded", got)
	}
	idx.reads()

	if got := runSync(t, s); got.Unchanged != 30 || got.Uploaded != 0 {
		t.Fatalf("second run: %+v, want 30 unchanged", got)
	}
	if get, many := idx.reads(); get != 0 || many != 3 {
		t.Errorf("a walk of 3 directories of unchanged files made %d Gets and %d GetManys; want 0 and 3", get, many)
	}

	agenttest.WriteFile(t, root, today+"/agent1/call-04.wav", "changed")
	if got := runSync(t, s); got.Unchanged != 29 || got.Uploaded != 1 {
		t.Fatalf("third run: %+v, want 29 unchanged and the changed file uploaded", got)
	}
	if get, many := idx.reads(); get != 1 || many != 3 {
		t.Errorf("a walk with one changed file made %d Gets and %d GetManys; want 1 (that file, read again) and 3", get, many)
	}
}

func TestSyncCountsResumedFilesOnce(t *testing.T) {
	root, today, _ := agenttest.PartitionedTree(t)
	idx := index.NewMemory()
	up, _ := agenttest.NewUploader()
	src := agenttest.NewSource(t, root, "2006-01-02")
	if err := idx.SetState(src.ID(), index.SourceState{FullWalkNs: 1}); err != nil {
		t.Fatal(err)
	}
	// A crash left today's file pending; the partition walk finds it too.
	if _, err := idx.Queue(src.ID(), today+"/a.wav"); err != nil {
		t.Fatal(err)
	}
	got := runSync(t, &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up})
	if got.Scanned != 1 || got.Uploaded != 1 || got.Unchanged != 0 {
		t.Fatalf("got %+v, want the resumed file scanned once and uploaded once", got)
	}
}

// TestSyncRestartsARefusedMultipartUpload: a multipart upload whose
// completion the bucket refuses on every attempt is resumed once, then
// aborted and dropped from its pending entry with ReasonMultipartRefused,
// logged in one line that says what to do, and the next run sends the file
// as a new upload.
func TestSyncRestartsARefusedMultipartUpload(t *testing.T) {
	root := t.TempDir()
	agenttest.WriteFile(t, root, "big.bin", strings.Repeat("x", 2*int(uploader.MinPartSize)+1))
	idx := index.NewMemory()
	fake := buckettest.NewFake("b", "")
	up := uploader.New(func(string) uploader.Bucket { return fake }, buckettest.Retry{}, uploader.Config{PartSize: uploader.MinPartSize})
	fake.FailNext("CompleteMultipart", 2, buckettest.InvalidRequest("The complete request must include the checksum for each part."))
	src := agenttest.NewSource(t, root, "")
	var logs bytes.Buffer
	var events []Event
	s := &Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up, Options: Options{
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Observe: func(ev Event) { events = append(events, ev) },
	}}
	upload := func() *index.Upload {
		t.Helper()
		p, ok, err := idx.GetPending(src.ID(), "big.bin")
		if err != nil || !ok {
			t.Fatalf("pending entry of big.bin: %v, %t; want one", err, ok)
		}
		return p.Upload
	}

	if got := runSync(t, s); got.Failed != 1 {
		t.Fatalf("first run: %+v, want the refused file failed", got)
	}
	if u := upload(); u == nil || u.Refused != 1 {
		t.Fatalf("after one refusal the pending entry holds %+v, want the upload, refused once", u)
	}
	if got := runSync(t, s); got.Failed != 1 {
		t.Fatalf("second run: %+v, want the refused file failed", got)
	}
	if got := events[len(events)-1].Reason; got != uploader.ReasonMultipartRefused {
		t.Errorf("second refusal's reason %q, want %q", got, uploader.ReasonMultipartRefused)
	}
	if u := upload(); u != nil {
		t.Errorf("after the abort the pending entry holds %+v, want no upload", u)
	}
	if got := fake.Uploads(); len(got) != 0 {
		t.Errorf("uploads %v left after the abort, want none", got)
	}
	lines := strings.Count(logs.String(), "reason="+string(uploader.ReasonMultipartRefused))
	if lines != 1 || !strings.Contains(logs.String(), "upload.checksum: CRC64NVME") {
		t.Errorf("%d log lines with the reason, want 1 saying what to do:\n%s", lines, logs.String())
	}

	sent := fake.Calls("UploadPart")
	if got := runSync(t, s); got.Uploaded != 1 {
		t.Fatalf("third run: %+v, want the file uploaded", got)
	}
	if got := fake.Calls("UploadPart") - sent; got != 3 {
		t.Errorf("third run sent %d parts, want the 3 of a new upload", got)
	}
}
