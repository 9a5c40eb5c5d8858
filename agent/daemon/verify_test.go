package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// stuckBucket is a bucket whose listings hang until their context ends,
// and then longer than the admin server's graceful shutdown waits for a
// request (2 s: a request that takes a while to give up), and which tells
// whether one is under way.
type stuckBucket struct {
	*buckettest.Fake
	listing chan struct{} // receives when a listing starts

	mu      sync.Mutex
	running int // listings under way
}

func (b *stuckBucket) List(ctx context.Context, prefix string, opts uploader.ListOptions, emit func(uploader.Object) error) error {
	b.mu.Lock()
	b.running++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	select {
	case b.listing <- struct{}{}:
	default:
	}
	<-ctx.Done()
	time.Sleep(3 * time.Second)
	return ctx.Err()
}

func (b *stuckBucket) under() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// postVerify sends POST /verify to the admin socket sock and returns the
// answer's status and body.
func postVerify(ctx context.Context, sock string, req admin.VerifyRequest) (int, string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://s3ferry/verify", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	r.Header.Set(admin.RequestHeader, "1")
	resp, err := client.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// A verify asked on the socket runs one at a time, verifies only the
// daemon's sources, and ends with the daemon: Run returns only once it
// has, so the index its caller then closes is no longer read.
func TestDaemonVerifyEndsBeforeRunReturns(t *testing.T) {
	root, _, _ := agenttest.PartitionedTree(t)
	src := agenttest.NewSource(t, root, "2006-01-02")
	up, fake := agenttest.NewUploader()
	b := &stuckBucket{Fake: fake, listing: make(chan struct{}, 1)}
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := &Daemon{Sources: []*local.Source{src}, Index: index.NewMemory(), Uploader: up, AdminSocket: sock,
		Buckets: func(string) uploader.Bucket { return b }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	asked := admin.VerifyRequest{Sources: []admin.SourceName{{Root: src.Root, Destination: src.Destination()}}}
	client, stopClient := context.WithTimeout(context.Background(), time.Minute)
	defer stopClient()

	if code, body, err := postVerify(client, sock, admin.VerifyRequest{Sources: []admin.SourceName{{Root: "/etc", Destination: src.Destination()}}}); err != nil || code != http.StatusBadRequest {
		t.Errorf("verify of a source the daemon does not back up: %d %q (%v), want 400", code, body, err)
	}
	first := make(chan error, 1)
	go func() {
		_, _, err := postVerify(client, sock, asked)
		first <- err
	}()
	select {
	case <-b.listing:
	case err := <-done:
		t.Fatalf("Run ended before the verify listed: %v", err)
	}
	if code, body, err := postVerify(client, sock, asked); err != nil || code != http.StatusConflict {
		t.Errorf("a second verify while one runs: %d %q (%v), want 409", code, body, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context ending, with a verify under way")
	}
	if n := b.under(); n != 0 {
		t.Fatalf("Run returned with %d listings of the verify still under way", n)
	}
	<-first // the client's request ends too, answered or cut
}
