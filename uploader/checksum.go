package uploader

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial (0xad93d23594c93659) in the
// bit-reversed form hash/crc64 expects. Like S3's, hash/crc64 starts from
// all ones and inverts the result.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// checksum is one of the S3 additional checksum algorithms s3ferry can
// compute itself from a buffer, for a PutObject that S3 verifies.
type checksum struct {
	algorithm string // as S3 names it: "CRC32C"
	newHash   func() hash.Hash
}

// checksumByName returns the algorithm for a Config.Checksum value; the
// empty name is DefaultChecksum.
func checksumByName(name string) (checksum, error) {
	if name == "" {
		name = DefaultChecksum
	}
	switch name = strings.ToUpper(name); name {
	case "CRC32C":
		table := crc32.MakeTable(crc32.Castagnoli)
		return checksum{name, func() hash.Hash { return crc32.New(table) }}, nil
	case "CRC32":
		return checksum{name, func() hash.Hash { return crc32.NewIEEE() }}, nil
	case "CRC64NVME":
		table := crc64.MakeTable(crc64NVMEPoly)
		return checksum{name, func() hash.Hash { return crc64.New(table) }}, nil
	case "SHA1":
		return checksum{name, sha1.New}, nil
	case "SHA256":
		return checksum{name, sha256.New}, nil
	}
	return checksum{}, fmt.Errorf("%w: checksum %q: want CRC32C, CRC32, CRC64NVME, SHA1 or SHA256", ErrInvalidConfig, name)
}

// sum returns the base64 checksum of b, as S3 expects it in an
// x-amz-checksum-* header.
func (c checksum) sum(b []byte) string {
	h := c.newHash()
	h.Write(b) // a hash.Hash never returns an error
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// SumChecksum returns the base64 checksum of b for an algorithm of
// Config.Checksum, as S3 computes it: what PutOptions.Checksum holds.
func SumChecksum(algorithm string, b []byte) (string, error) {
	c, err := checksumByName(algorithm)
	if err != nil {
		return "", err
	}
	return c.sum(b), nil
}

// CheckChecksum reports an algorithm name Config.Checksum cannot hold,
// as an ErrInvalidConfig error; "" is DefaultChecksum.
func CheckChecksum(algorithm string) error {
	_, err := checksumByName(algorithm)
	return err
}
