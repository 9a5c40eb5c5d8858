package s3

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
	ms := time.Millisecond
	bounds := []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, maxBackoff, maxBackoff}
	for attempt := 1; attempt < len(bounds); attempt++ {
		hi := bounds[attempt]
		for range 20 {
			d, err := backoff(attempt, serverErr, DefaultRefusedAttempts)
			if err != nil || d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %s, %v; want %s to %s", attempt, d, err, hi/2, hi)
			}
		}
	}
	for attempt, hi := range []time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second} {
		if attempt == 0 {
			continue
		}
		if d, err := backoff(attempt, refused, DefaultRefusedAttempts); err != nil || d < hi/2 || d > hi {
			t.Errorf("backoff(%d, refused) = %s, %v; want %s to %s", attempt, d, err, hi/2, hi)
		}
	}
	var maxErr *retry.MaxAttemptsError
	for _, budget := range []int{1, DefaultRefusedAttempts} {
		if _, err := backoff(budget, refused, budget); !errors.As(err, &maxErr) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("backoff(%d, refused, %d) = %v, want the retries of a refused connection to end", budget, budget, err)
		}
	}
}
