package uploader

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

func TestBackoff(t *testing.T) {
	serverErr := errors.New("500")
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	bounds := []time.Duration{time.Second, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, maxBackoff, maxBackoff}
	for attempt := 1; attempt < len(bounds); attempt++ {
		hi := bounds[attempt]
		for range 20 {
			d, err := backoff(attempt, serverErr)
			if err != nil || d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %s, %v; want %s to %s", attempt, d, err, hi/2, hi)
			}
		}
	}
	if _, err := backoff(refusedAttempts-1, refused); err != nil {
		t.Errorf("backoff(%d, refused) = %v, want a retry", refusedAttempts-1, err)
	}
	var maxErr *retry.MaxAttemptsError
	if _, err := backoff(refusedAttempts, refused); !errors.As(err, &maxErr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("backoff(%d, refused) = %v, want the retries of a refused connection to end", refusedAttempts, err)
	}
}
