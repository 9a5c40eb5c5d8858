package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ferry/s3ferry/uploader"
)

const testStall = 300 * time.Millisecond

// stallServer answers by mode: "read-nothing" never reads the body nor
// answers, "no-answer" reads the body and never answers, "half-body"
// sends headers and half the body then nothing, "slow-ok" answers in full.
// Each handler waits until the test ends.
func stallServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/read-nothing":
		case "/no-answer":
			io.Copy(io.Discard, r.Body)
		case "/half-body":
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Length", "100")
			w.Write(make([]byte, 50))
			w.(http.Flusher).Flush()
		default:
			io.Copy(io.Discard, r.Body)
			w.Write([]byte("answer"))
			return
		}
		<-done
	}))
	tb.Cleanup(func() { close(done); srv.CloseClientConnections(); srv.Close() })
	return srv
}

func watchdog(next aws.HTTPClient) *watchdogClient {
	return &watchdogClient{next: next, timeout: testStall}
}

func TestWatchdogCancelsStalledAttempts(t *testing.T) {
	srv := stallServer(t)
	// A body larger than the socket buffers, so that a server that reads
	// nothing stops the sender.
	body := make([]byte, 64<<20)
	for _, path := range []string{"/read-nothing", "/no-answer", "/half-body"} {
		t.Run(path, func(t *testing.T) {
			c := watchdog(&http.Client{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+path, bytes.NewReader(body))
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("err = %v, want ErrStalled", err)
			}
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				t.Errorf("err = %v, want a net.Error with Timeout() (the SDK retries those)", err)
			}
			if reason, _ := reasonOf(err); reason != uploader.ReasonNetwork {
				t.Errorf("reason = %q, want network", reason)
			}
			if ctx.Err() != nil {
				t.Errorf("the caller's context ended (%v): only the attempt may be cancelled", ctx.Err())
			}
			if got := c.stalls.Load(); got != 1 {
				t.Errorf("stalls = %d, want 1", got)
			}
		})
	}
}

// TestWatchdogSparesSlowConsumers: time the caller spends between reads
// of an answer is not a stall, and a finished request leaves nothing armed.
func TestWatchdogSparesSlowConsumers(t *testing.T) {
	srv := stallServer(t)
	c := watchdog(&http.Client{})
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/ok", bytes.NewReader([]byte("body")))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * testStall) // a consumer busy elsewhere
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != "answer" {
		t.Fatalf("read %q, %v; want the answer", got, err)
	}
	time.Sleep(2 * testStall)
	if n := c.stalls.Load(); n != 0 {
		t.Errorf("stalls = %d, want 0", n)
	}
}

// TestWatchdogCountsBytesMoved: Moved's counter grows by every byte of the
// request body sent and of the answer read, the daemon's sign of progress.
func TestWatchdogCountsBytesMoved(t *testing.T) {
	srv := stallServer(t)
	c := watchdog(&http.Client{})
	body := make([]byte, 1000)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/slow-ok", bytes.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.moved.Load(), int64(len(body)+len(answer)); got != want {
		t.Errorf("moved = %d, want %d (request body and answer)", got, want)
	}
}
