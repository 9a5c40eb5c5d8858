package uploader

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Defaults for the zero values of Config.
const (
	DefaultPartSize        int64 = 16 << 20 // 16 MiB
	DefaultPartConcurrency       = 4
	DefaultMaxAttempts           = 12
	DefaultConnectTimeout        = 10 * time.Second
	DefaultStallTimeout          = 60 * time.Second
	DefaultChecksum              = "CRC32C"
	DefaultMemory          int64 = 64 << 20 // 64 MiB

	// MinPartSize is S3's smallest part of a multipart upload (except the
	// last); MaxPartSize its largest.
	MinPartSize int64 = 5 << 20
	MaxPartSize int64 = 5 << 30

	// MaxMaxAttempts bounds Config.MaxAttempts: with the back-off capped at
	// maxBackoff, 30 attempts of a request that never succeeds already wait
	// 4 to 9 minutes between them.
	MaxMaxAttempts = 30

	// refusedAttempts is the retry budget of a refused connection (see
	// backoff), when MaxAttempts is larger.
	refusedAttempts = 5

	// maxBackoff caps the jittered back-off between two attempts of one
	// request (the SDK's default); firstBackoff is the longest wait before
	// the first retry (see backoff).
	maxBackoff   = 20 * time.Second
	firstBackoff = 100 * time.Millisecond

	// defaultRegion is used when neither Config nor the SDK chain names one;
	// MinIO and most S3-compatible stores accept it.
	defaultRegion = "us-east-1"
)

// Validate reports the first field of c that no upload could work with.
// NewClient calls it; the command can call it earlier to fail at startup.
func (c Config) Validate() error {
	if c.MaxAttempts < 0 {
		return fmt.Errorf("%w: max attempts %d: want 0 (default) or more", ErrInvalidConfig, c.MaxAttempts)
	}
	if c.MaxAttempts > MaxMaxAttempts {
		return fmt.Errorf("%w: max attempts %d: want at most %d (each attempt can wait up to the stall timeout)", ErrInvalidConfig, c.MaxAttempts, MaxMaxAttempts)
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("%w: connect timeout %s: want 0 (default) or more", ErrInvalidConfig, c.ConnectTimeout)
	}
	if c.StallTimeout < 0 {
		return fmt.Errorf("%w: stall timeout %s: want 0 (default) or more", ErrInvalidConfig, c.StallTimeout)
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		return fmt.Errorf("%w: part size %d: want 0 (default) or %d to %d bytes", ErrInvalidConfig, c.PartSize, MinPartSize, MaxPartSize)
	}
	if c.Memory < 0 || (c.Memory != 0 && c.Memory < cmp.Or(c.PartSize, DefaultPartSize)) {
		return fmt.Errorf("%w: upload memory %d: want at least the part size (%d bytes), as a file just below it is read whole: raise upload.memory or lower part-size", ErrInvalidConfig, c.Memory, cmp.Or(c.PartSize, DefaultPartSize))
	}
	if c.PartConcurrency < 0 {
		return fmt.Errorf("%w: part concurrency %d: want 0 (default) or more", ErrInvalidConfig, c.PartConcurrency)
	}
	if c.BandwidthLimit < 0 {
		return fmt.Errorf("%w: bandwidth limit %g: want 0 (unlimited) or more bytes per second", ErrInvalidConfig, c.BandwidthLimit)
	}
	if _, err := checksumByName(c.Checksum); err != nil {
		return err
	}
	switch types.ServerSideEncryption(c.SSE) {
	case "", types.ServerSideEncryptionAes256:
		if c.SSEKMSKeyID != "" {
			return fmt.Errorf("%w: sse kms key id is set but sse is %q: set sse to aws:kms", ErrInvalidConfig, c.SSE)
		}
	case types.ServerSideEncryptionAwsKms:
	default:
		return fmt.Errorf("%w: sse %q: want \"\", AES256 or aws:kms", ErrInvalidConfig, c.SSE)
	}
	return nil
}

// withDefaults returns c with every zero value replaced by its default.
// It expects a valid c.
func (c Config) withDefaults() Config {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartConcurrency == 0 {
		c.PartConcurrency = DefaultPartConcurrency
	}
	if c.Memory == 0 {
		c.Memory = max(DefaultMemory, c.PartSize)
	}
	if c.Checksum == "" {
		c.Checksum = DefaultChecksum
	}
	c.Checksum = strings.ToUpper(c.Checksum)
	return c
}
