package s3

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/uploader"
)

// Config is everything the S3 client and its Buckets need, as plain
// values: where the store is and how to talk to it, and what every write
// carries.
type Config struct {
	Region      string // empty: from the SDK chain (AWS_REGION, profile); still empty: us-east-1
	EndpointURL string // empty: AWS_ENDPOINT_URL or AWS's own endpoints
	PathStyle   bool   // path-style addressing (MinIO, Ceph)
	Profile     string // shared config profile; empty: the SDK default
	MaxAttempts int    // per request, SDK retryer with jittered back-off; 0: DefaultMaxAttempts
	// RefusedAttempts is the attempts of a request whose connection is
	// refused (nothing listens at the endpoint), at most MaxAttempts; 0:
	// DefaultRefusedAttempts. The daemon, which holds its uploads and
	// probes the endpoint itself while it is down, asks for 1.
	RefusedAttempts int

	// ConnectTimeout bounds a TCP connect and, separately, a TLS handshake;
	// 0: DefaultConnectTimeout. StallTimeout bounds the time without a byte
	// moving on a request in flight: its body being sent, its answer's
	// headers awaited, its answer's body being read. An attempt that
	// stalls is cancelled and retried; 0: DefaultStallTimeout.
	ConnectTimeout time.Duration
	StallTimeout   time.Duration

	BandwidthLimit float64 // bytes per second over all requests' bodies; 0: unlimited

	StorageClass string // empty: the bucket's default
	SSE          string // "", "AES256" or "aws:kms"
	SSEKMSKeyID  string // with SSE "aws:kms"
	// Checksum is the algorithm of the checksum every write carries, as
	// uploader.Config.Checksum (which must be the same); "":
	// uploader.DefaultChecksum.
	Checksum string
}

// Defaults for the zero values of Config.
const (
	DefaultMaxAttempts    = 12
	DefaultConnectTimeout = 10 * time.Second
	DefaultStallTimeout   = 60 * time.Second

	// MaxMaxAttempts bounds Config.MaxAttempts: with the back-off capped at
	// maxBackoff, 30 attempts of a request that never succeeds already wait
	// 4 to 9 minutes between them.
	MaxMaxAttempts = 30

	// DefaultRefusedAttempts is the retry budget of a refused connection
	// (see backoff), when MaxAttempts is larger.
	DefaultRefusedAttempts = 5

	// maxBackoff caps the jittered back-off between two attempts of one
	// request (the SDK's default); firstBackoff is the longest wait before
	// the first retry (see backoff).
	maxBackoff   = 20 * time.Second
	firstBackoff = 100 * time.Millisecond

	// defaultRegion is used when neither Config nor the SDK chain names one;
	// MinIO and most S3-compatible stores accept it.
	defaultRegion = "us-east-1"
)

// Validate reports the first field of c that no client could work with,
// as an uploader.ErrInvalidConfig error. NewClient calls it; the command
// can call it earlier to fail at startup.
func (c Config) Validate() error {
	if c.MaxAttempts < 0 {
		return fmt.Errorf("%w: max attempts %d: want 0 (default) or more", uploader.ErrInvalidConfig, c.MaxAttempts)
	}
	if c.MaxAttempts > MaxMaxAttempts {
		return fmt.Errorf("%w: max attempts %d: want at most %d (each attempt can wait up to the stall timeout)", uploader.ErrInvalidConfig, c.MaxAttempts, MaxMaxAttempts)
	}
	if c.RefusedAttempts < 0 {
		return fmt.Errorf("%w: refused attempts %d: want 0 (default) or more", uploader.ErrInvalidConfig, c.RefusedAttempts)
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("%w: connect timeout %s: want 0 (default) or more", uploader.ErrInvalidConfig, c.ConnectTimeout)
	}
	if c.StallTimeout < 0 {
		return fmt.Errorf("%w: stall timeout %s: want 0 (default) or more", uploader.ErrInvalidConfig, c.StallTimeout)
	}
	if c.BandwidthLimit < 0 {
		return fmt.Errorf("%w: bandwidth limit %g: want 0 (unlimited) or more bytes per second", uploader.ErrInvalidConfig, c.BandwidthLimit)
	}
	if err := uploader.CheckChecksum(c.Checksum); err != nil {
		return err
	}
	switch types.ServerSideEncryption(c.SSE) {
	case "", types.ServerSideEncryptionAes256:
		if c.SSEKMSKeyID != "" {
			return fmt.Errorf("%w: sse kms key id is set but sse is %q: set sse to aws:kms", uploader.ErrInvalidConfig, c.SSE)
		}
	case types.ServerSideEncryptionAwsKms:
	default:
		return fmt.Errorf("%w: sse %q: want \"\", AES256 or aws:kms", uploader.ErrInvalidConfig, c.SSE)
	}
	return nil
}

// withDefaults returns c with every zero value replaced by its default.
// It expects a valid c.
func (c Config) withDefaults() Config {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RefusedAttempts == 0 {
		c.RefusedAttempts = DefaultRefusedAttempts
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Checksum == "" {
		c.Checksum = uploader.DefaultChecksum
	}
	c.Checksum = strings.ToUpper(c.Checksum)
	return c
}
