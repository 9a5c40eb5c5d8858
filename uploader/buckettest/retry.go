package buckettest

import (
	"fmt"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultRetryAttempts is how many attempts Retry makes when its Attempts
// is 0.
const DefaultRetryAttempts = 3

// Retry is the uploader.RetryPolicy of tests over a Fake: it retries at
// once what the SDK would retry after a back-off (a throttled, server or
// network failure, as classified), up to Attempts attempts, and stops on
// anything else with that error.
type Retry struct {
	Attempts int // 0: DefaultRetryAttempts
}

var _ uploader.RetryPolicy = Retry{}

// Retry implements uploader.RetryPolicy.
func (r Retry) Retry(attempt int, err error) (time.Duration, error) {
	switch uploader.ReasonOf(err) {
	case uploader.ReasonThrottled, uploader.ReasonServerError, uploader.ReasonNetwork:
	default:
		return 0, err
	}
	if attempt >= r.withDefaults().Attempts {
		return 0, fmt.Errorf("%d attempts: %w", attempt, err)
	}
	return 0, nil
}

func (r Retry) withDefaults() Retry {
	if r.Attempts == 0 {
		r.Attempts = DefaultRetryAttempts
	}
	return r
}
