package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ferry/s3ferry/uploader"
)

// ErrStalled means no byte moved on a request for the stall timeout: the
// connection went silent (a NAT that forgot it, a VPN that flapped, a
// server that accepted the request and never answered). The attempt was
// cancelled; the SDK retries it like any other network error.
var ErrStalled = errors.New("connection stalled")

// watchdogClient is an aws.HTTPClient that cancels an attempt on which no
// byte has moved for timeout. It watches, in turn:
//
//	phase                               progress is                  clock runs
//	connect, send the request body      a read of the request body   always
//	await the answer's headers          (none: the last body byte)   always
//	read the answer's body              a read of the answer's body  only inside Read
//
// so a caller that is slow to consume an answer (a download writing to a
// slow disk) is never taken for a stalled connection. A cancelled attempt
// fails with an error that wraps ErrStalled and is a net.Error with
// Timeout() true, which the SDK's retryer retries with its back-off, and
// classify counts as "network". It is the outermost HTTP client of every
// client NewClient builds, and its counters are the Client's Counters.
type watchdogClient struct {
	next    aws.HTTPClient
	timeout time.Duration
	stalls  atomic.Int64 // attempts cancelled, for Counters.Stalls
	moved   atomic.Int64 // bytes of request and answer bodies read, for Counters.Moved
}

func (c *watchdogClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	w := &watch{client: c, cancel: cancel, start: time.Now()}
	// Armed only once w.timer is set: fire uses it.
	w.timer = time.AfterFunc(math.MaxInt64, w.fire)
	w.timer.Reset(c.timeout)

	w.meter = uploader.MeterOf(req.Context())
	r := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &watchedBody{body: req.Body, w: w}
		if req.GetBody != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &watchedBody{body: b, w: w}, nil
			}
		}
	}
	resp, err := c.next.Do(r)
	if err != nil {
		w.stop()
		if w.fired() {
			return resp, w.stallError("waiting for the answer")
		}
		return resp, err
	}
	w.pause()
	resp.Body = &watchedBody{body: resp.Body, w: w, answer: true}
	return resp, nil
}

// Watch states.
const (
	watching int32 = iota
	stalled
	finished
)

// watch is the watchdog of one attempt. Reads of the bodies record
// progress; the timer checks it and re-arms itself for the time left.
type watch struct {
	client *watchdogClient
	cancel context.CancelFunc
	start  time.Time
	timer  *time.Timer
	meter  uploader.Meter // the request's (uploader.WithMeter), told every byte moved; nil: none

	last   atomic.Int64 // progress: time since start, ns
	state  atomic.Int32 // watching, stalled or finished
	paused atomic.Bool  // reading the answer, between two Reads
}

func (w *watch) touch() { w.last.Store(int64(time.Since(w.start))) }

func (w *watch) fire() {
	if w.state.Load() != watching || w.paused.Load() {
		return // a Read that resumes the watch re-arms the timer
	}
	idle := time.Since(w.start) - time.Duration(w.last.Load())
	if left := w.client.timeout - idle; left > 0 {
		w.timer.Reset(left)
		return
	}
	if w.state.CompareAndSwap(watching, stalled) {
		w.client.stalls.Add(1)
		w.cancel()
	}
}

func (w *watch) fired() bool { return w.state.Load() == stalled }

// resume starts the clock for a Read of the answer's body.
func (w *watch) resume() {
	w.touch()
	w.paused.Store(false)
	if w.state.Load() == watching {
		w.timer.Reset(w.client.timeout)
	}
}

// pause stops the clock between two Reads of the answer's body.
func (w *watch) pause() {
	w.touch()
	w.paused.Store(true)
}

// stop ends the watch and releases the attempt's context.
func (w *watch) stop() {
	w.state.CompareAndSwap(watching, finished)
	w.timer.Stop()
	w.cancel()
}

func (w *watch) stallError(phase string) error {
	return &stallError{timeout: w.client.timeout, phase: phase}
}

// stallError is the error of an attempt the watchdog cancelled. It does
// not wrap the context.Canceled the transport returned: the caller's
// context is fine, and classify must not call this "canceled".
type stallError struct {
	timeout time.Duration
	phase   string
}

func (e *stallError) Error() string {
	return fmt.Sprintf("no byte moved for %s %s: connection stalled, attempt cancelled", e.timeout, e.phase)
}
func (e *stallError) Is(target error) bool { return target == ErrStalled }
func (e *stallError) Timeout() bool        { return true }
func (e *stallError) Temporary() bool      { return true }

// watchedBody records progress on every Read of a request or answer body,
// and tells the request's Meter the bytes it read.
type watchedBody struct {
	body   io.ReadCloser
	w      *watch
	answer bool // the answer's body: the clock runs only inside Read
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.answer {
		b.w.resume()
		defer b.w.pause()
	}
	n, err := b.body.Read(p)
	if n > 0 {
		b.w.touch()
		b.w.client.moved.Add(int64(n))
		if b.w.meter != nil {
			b.w.meter.Moved(int64(n))
		}
	}
	if err != nil && err != io.EOF && b.w.fired() {
		phase := "sending the request"
		if b.answer {
			phase = "reading the answer"
		}
		err = b.w.stallError(phase)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	if b.answer {
		b.w.stop()
	}
	return b.body.Close()
}
