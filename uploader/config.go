package uploader

import (
	"cmp"
	"fmt"
	"strings"
)

// Config is how the Uploader sends files, as plain values. Where the
// bytes go (the store, its client, storage class and encryption) is the
// Bucket's.
type Config struct {
	PartSize        int64 // files of at least this size go multipart; 0: DefaultPartSize
	PartConcurrency int   // parts in flight per multipart file; 0: DefaultPartConcurrency
	// Checksum is the algorithm of the checksum every write carries:
	// "CRC32C" (default), "CRC32", "SHA1", "SHA256", "CRC64NVME". It
	// must be the Buckets' (package s3: its Config.Checksum).
	Checksum string

	// Memory bounds the bytes all uploads of an Uploader hold in buffers
	// at once (a small file is read whole into one, a large one hashed
	// through one; parts are sent straight from the file): an upload whose
	// buffer does not fit waits. At least PartSize; 0: DefaultMemory, or
	// PartSize when that is larger.
	Memory int64
}

// Defaults for the zero values of Config.
const (
	DefaultPartSize        int64 = 16 << 20 // 16 MiB
	DefaultPartConcurrency       = 4
	DefaultChecksum              = "CRC32C"
	DefaultMemory          int64 = 64 << 20 // 64 MiB

	// MinPartSize is S3's smallest part of a multipart upload (except the
	// last); MaxPartSize its largest.
	MinPartSize int64 = 5 << 20
	MaxPartSize int64 = 5 << 30
)

// Validate reports the first field of c that no upload could work with.
// New calls it; the command can call it earlier to fail at startup.
func (c Config) Validate() error {
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		return fmt.Errorf("%w: part size %d: want 0 (default) or %d to %d bytes", ErrInvalidConfig, c.PartSize, MinPartSize, MaxPartSize)
	}
	if c.Memory < 0 || (c.Memory != 0 && c.Memory < cmp.Or(c.PartSize, DefaultPartSize)) {
		return fmt.Errorf("%w: upload memory %d: want at least the part size (%d bytes), as a file just below it is read whole: raise upload.memory or lower part-size", ErrInvalidConfig, c.Memory, cmp.Or(c.PartSize, DefaultPartSize))
	}
	if c.PartConcurrency < 0 {
		return fmt.Errorf("%w: part concurrency %d: want 0 (default) or more", ErrInvalidConfig, c.PartConcurrency)
	}
	if _, err := checksumByName(c.Checksum); err != nil {
		return err
	}
	return nil
}

// withDefaults returns c with every zero value replaced by its default.
// It expects a valid c.
func (c Config) withDefaults() Config {
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
