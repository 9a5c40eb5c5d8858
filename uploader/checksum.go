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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial (0xad93d23594c93659) in the
// bit-reversed form hash/crc64 expects. Like S3's, hash/crc64 starts from
// all ones and inverts the result.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// checksum is one of the S3 additional checksum algorithms s3ferry can
// compute itself from a buffer, for a PutObject that S3 verifies.
type checksum struct {
	algorithm types.ChecksumAlgorithm
	newHash   func() hash.Hash
}

// checksumByName returns the algorithm for a Config.Checksum value; the
// empty name is DefaultChecksum.
func checksumByName(name string) (checksum, error) {
	if name == "" {
		name = DefaultChecksum
	}
	switch types.ChecksumAlgorithm(strings.ToUpper(name)) {
	case types.ChecksumAlgorithmCrc32c:
		table := crc32.MakeTable(crc32.Castagnoli)
		return checksum{types.ChecksumAlgorithmCrc32c, func() hash.Hash { return crc32.New(table) }}, nil
	case types.ChecksumAlgorithmCrc32:
		return checksum{types.ChecksumAlgorithmCrc32, func() hash.Hash { return crc32.NewIEEE() }}, nil
	case types.ChecksumAlgorithmCrc64nvme:
		table := crc64.MakeTable(crc64NVMEPoly)
		return checksum{types.ChecksumAlgorithmCrc64nvme, func() hash.Hash { return crc64.New(table) }}, nil
	case types.ChecksumAlgorithmSha1:
		return checksum{types.ChecksumAlgorithmSha1, sha1.New}, nil
	case types.ChecksumAlgorithmSha256:
		return checksum{types.ChecksumAlgorithmSha256, sha256.New}, nil
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

// checksumFields points at the additional-checksum fields of an SDK
// input or output, so one switch serves them all.
type checksumFields struct {
	CRC32, CRC32C, CRC64NVME, SHA1, SHA256 **string
}

// field returns the field for algo; nil for an algorithm s3ferry does not
// use.
func (f checksumFields) field(algo types.ChecksumAlgorithm) **string {
	switch algo {
	case types.ChecksumAlgorithmCrc32c:
		return f.CRC32C
	case types.ChecksumAlgorithmCrc32:
		return f.CRC32
	case types.ChecksumAlgorithmCrc64nvme:
		return f.CRC64NVME
	case types.ChecksumAlgorithmSha1:
		return f.SHA1
	case types.ChecksumAlgorithmSha256:
		return f.SHA256
	}
	return nil
}

// get returns the value of algo's field; "" when it is not set.
func (f checksumFields) get(algo types.ChecksumAlgorithm) string {
	if p := f.field(algo); p != nil {
		return aws.ToString(*p)
	}
	return ""
}

// set sets algo's field to value.
func (f checksumFields) set(algo types.ChecksumAlgorithm, value string) {
	if p := f.field(algo); p != nil {
		*p = aws.String(value)
	}
}

// format returns "ALGO:value" for algo, or "" when the field is not set.
func (f checksumFields) format(algo types.ChecksumAlgorithm) string {
	if v := f.get(algo); v != "" {
		return string(algo) + ":" + v
	}
	return ""
}

// values returns every field that is set, by algorithm name.
func (f checksumFields) values() map[string]string {
	out := map[string]string{}
	for _, algo := range []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
	} {
		if v := f.get(algo); v != "" {
			out[string(algo)] = v
		}
	}
	return out
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
