package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/s3ferry/s3ferry/uploader"
)

// maxIdleConnsPerHost keeps a connection per request in flight for many
// workers times PartConcurrency; the SDK's default of 10 would make most
// of them dial anew for every request.
const maxIdleConnsPerHost = 256

// Client is an S3 client built from a Config: the SDK's client with
// s3ferry's retries, timeouts, stall watchdog and bandwidth limit, and the
// counters of what they did. Bucket returns a bucket reached through it;
// it is the uploader.RetryPolicy of the Puts the Uploader retries itself.
type Client struct {
	api       *s3.Client
	cfg       Config // with defaults
	watchdog  *watchdogClient
	throttled atomic.Int64
}

// Counters are what a Client's requests met so far, for metrics and the
// adaptive upload pool.
type Counters struct {
	// Throttled counts every request S3 throttled (503 SlowDown and the
	// like), also those the retries then got through.
	Throttled int64
	// Stalls counts the request attempts the stall watchdog cancelled
	// (Config.StallTimeout): s3ferry_upload_stalls_total.
	Stalls int64
	// Moved counts the bytes of request and answer bodies moved: it grows
	// while transfers make progress, which the daemon's systemd watchdog
	// reads.
	Moved int64
}

// Counters returns c's counters as they are now.
func (c *Client) Counters() Counters {
	return Counters{Throttled: c.throttled.Load(), Stalls: c.watchdog.stalls.Load(), Moved: c.watchdog.moved.Load()}
}

// Retry is the SDK's retry decision for a request the caller retries
// itself (uploader.PutOptions.Once): what its retryer retries, within
// Config.MaxAttempts, after backoff.
func (c *Client) Retry(attempt int, err error) (time.Duration, error) {
	if !c.api.Options().Retryer.IsErrorRetryable(err) {
		return 0, err
	}
	if attempt >= c.cfg.MaxAttempts {
		return 0, &sdkError{err: &retry.MaxAttemptsError{Attempt: attempt, Err: err}}
	}
	wait, berr := backoff(attempt, err, c.cfg.RefusedAttempts)
	if berr != nil {
		// Outside err's own sdkError, so that what describes it counts
		// the attempts.
		return 0, &sdkError{err: berr}
	}
	return wait, nil
}

// SDK returns the SDK's client c wraps, for tests that make a request no
// Bucket method makes.
func (c *Client) SDK() *s3.Client { return c.api }

// NewClient returns an S3 client for cfg. Credentials come only from the
// SDK's default chain (environment, shared profile, SSO, web identity,
// container and instance roles); opts are extra SDK load options, for tests
// (static credentials for a MinIO), never for credentials in production.
//
// The SDK's own environment handling still applies: AWS_REGION,
// AWS_ENDPOINT_URL, AWS_CA_BUNDLE and the shared config files. Nothing is
// sent over the network here; Bucket.Check does that.
func NewClient(ctx context.Context, cfg Config, opts ...func(*config.LoadOptions) error) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg.withDefaults()}
	cfg = c.cfg

	// The HTTP client must be a *BuildableClient while loading: that is
	// the only kind LoadDefaultConfig applies AWS_CA_BUNDLE to.
	// The stall watchdog (wrapped around it below) bounds the wait for an
	// answer's headers; the transport bounds connecting.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * maxIdleConnsPerHost
		tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
		tr.TLSHandshakeTimeout = cfg.ConnectTimeout
	}).WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = cfg.ConnectTimeout
	})
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// The SDK's own log lines (an IMDSv1 fallback, a retry) would land
		// on stderr unstructured; every failure reaches us as an error.
		config.WithLogger(logging.Nop{}),
		config.WithDefaultRegion(defaultRegion),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
					if reason, _ := reasonOf(err); reason == uploader.ReasonThrottled {
						c.throttled.Add(1)
					}
					return backoff(attempt, err, cfg.RefusedAttempts)
				})
				// The default token bucket stops retrying after a burst
				// of errors across the whole client, which a bulk upload
				// of many files reaches at once; each request keeps its
				// own MaxAttempts and backoff.
				o.RateLimiter = ratelimit.None
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(notRetryable)}, o.Retryables...)
				o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(retryChecksumMismatch))
			})
		}),
	}
	if cfg.Region != "" {
		load = append(load, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(cfg.Profile))
	}
	load = append(load, opts...)

	awsCfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", classified(err))
	}
	if awsCfg.Credentials != nil {
		awsCfg.Credentials = markedCredentials{awsCfg.Credentials}
	}
	if cfg.BandwidthLimit > 0 {
		lim := newLimiter(cfg.BandwidthLimit)
		awsCfg.HTTPClient = &limitedClient{next: awsCfg.HTTPClient, lim: lim, burst: lim.Burst()}
	}
	c.watchdog = &watchdogClient{next: awsCfg.HTTPClient, timeout: cfg.StallTimeout}
	awsCfg.HTTPClient = c.watchdog

	c.api = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
		o.UsePathStyle = cfg.PathStyle
		// A multipart object's checksum is a checksum of checksums that
		// the SDK cannot verify on download; it would log that on every
		// such GetObject.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return c, nil
}

// notRetryable stops the SDK from retrying an error that the same request
// will meet again: a certificate that does not verify, or an https://
// endpoint that answers in plain HTTP, would otherwise cost MaxAttempts
// backoffs (a minute) before the user hears about AWS_CA_BUNDLE or
// http://, and a file that changed while its body was read (uploader.ErrChanged) is no longer the
// file being sent.
func notRetryable(err error) aws.Ternary {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) || plainHTTP(err) || errors.Is(err, uploader.ErrChanged) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// backoff is the wait before retry number attempt (1, 2, ...) of one
// request: half to all of firstBackoff·2^(attempt-1), at most maxBackoff.
// The SDK's own stops jittering at 20 s, so the requests of many workers
// that failed together would retry together.
//
//	retry     1            2          3          4          5         ...  9 and later
//	wait      0.05–0.1s    0.1–0.2s   0.2–0.4s   0.4–0.8s   0.8–1.6s  ...  10–20s
//
// The first retries come fast: a 5xx or a dropped connection is most often
// one request's bad luck, and under 10% of errors a slow first retry made
// a bulk upload 3.5 times slower than a clean one (make bench). With
// DefaultMaxAttempts a request that keeps failing still spends 43 to 86
// seconds waiting before its file counts as failed. A refused connection
// (nothing listens at the endpoint) waits from 0.5–1 s on, for refused
// attempts at most (Config.RefusedAttempts; by default 5, 8 to 15 s):
// enough for a server that restarts, and a wrong or dead endpoint is
// reported in seconds, not minutes.
func backoff(attempt int, err error, refused int) (time.Duration, error) {
	first := firstBackoff
	if errors.Is(err, syscall.ECONNREFUSED) {
		if attempt >= refused {
			return 0, &retry.MaxAttemptsError{Attempt: attempt, Err: err}
		}
		first = time.Second
	}
	d := maxBackoff
	if attempt < 16 {
		d = min(first<<max(attempt-1, 0), maxBackoff)
	}
	return d/2 + rand.N(d/2+1), nil
}

// retryChecksumMismatch retries a request whose bytes S3 found damaged
// (classify's "checksum-mismatch" codes): the SDK rewinds the body and
// reads it again, so bytes damaged on the way are sent again within the
// same budget of attempts, before the file counts as failed.
func retryChecksumMismatch(err error) aws.Ternary {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if reason, _, ok := apiErrorClass(apiErr.ErrorCode()); ok && reason == uploader.ReasonChecksumMismatch {
			return aws.TrueTernary
		}
	}
	return aws.UnknownTernary
}

// markedCredentials makes a failure to find or refresh credentials
// recognisable: it wraps it in uploader.ErrNoCredentials, which the SDK's errors do
// not otherwise tell apart from any other failure before sending.
type markedCredentials struct {
	aws.CredentialsProvider
}

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return creds, &credentialsError{err}
	}
	return creds, err
}

// credentialsError is a failure of the credential chain; it is
// uploader.ErrNoCredentials for errors.Is.
type credentialsError struct {
	cause error
}

func (e *credentialsError) Error() string        { return "no credentials: " + e.cause.Error() }
func (e *credentialsError) Unwrap() error        { return e.cause }
func (e *credentialsError) Is(target error) bool { return target == uploader.ErrNoCredentials }

// ProviderSources passes the wrapped provider's sources on to the SDK's
// user agent.
func (m markedCredentials) ProviderSources() []aws.CredentialSource {
	if s, ok := m.CredentialsProvider.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// IsCredentialsProvider lets the SDK see through the wrapper, as it does for
// anonymous credentials.
func (m markedCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(m.CredentialsProvider, target)
}
