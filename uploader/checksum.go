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
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// setOnPut puts value into in's field for c, so S3 checks the body against
// it instead of the SDK computing its own.
func (c checksum) setOnPut(in *s3.PutObjectInput, value string) {
	in.ChecksumAlgorithm = c.algorithm
	v := aws.String(value)
	switch c.algorithm {
	case types.ChecksumAlgorithmCrc32c:
		in.ChecksumCRC32C = v
	case types.ChecksumAlgorithmCrc32:
		in.ChecksumCRC32 = v
	case types.ChecksumAlgorithmCrc64nvme:
		in.ChecksumCRC64NVME = v
	case types.ChecksumAlgorithmSha1:
		in.ChecksumSHA1 = v
	case types.ChecksumAlgorithmSha256:
		in.ChecksumSHA256 = v
	}
}

// checksumFields are the additional checksums of an S3 response.
type checksumFields struct {
	CRC32, CRC32C, CRC64NVME, SHA1, SHA256 *string
}

// format returns "ALGO:value" for c from the response fields, or "" when
// the store did not return a checksum for c.
func (c checksum) format(f checksumFields) string {
	var v *string
	switch c.algorithm {
	case types.ChecksumAlgorithmCrc32c:
		v = f.CRC32C
	case types.ChecksumAlgorithmCrc32:
		v = f.CRC32
	case types.ChecksumAlgorithmCrc64nvme:
		v = f.CRC64NVME
	case types.ChecksumAlgorithmSha1:
		v = f.SHA1
	case types.ChecksumAlgorithmSha256:
		v = f.SHA256
	}
	if aws.ToString(v) == "" {
		return ""
	}
	return string(c.algorithm) + ":" + *v
}

// HeadChecksum returns, in the form of Result.Checksum ("CRC32C:<base64>"),
// the checksum that a HeadObject with ChecksumMode enabled answered for the
// algorithm of recorded (a Result.Checksum); "" when it answered none.
func HeadChecksum(recorded string, out *s3.HeadObjectOutput) string {
	algo, _, _ := strings.Cut(recorded, ":")
	c, err := checksumByName(algo)
	if err != nil || algo == "" {
		return ""
	}
	return c.format(checksumFields{
		CRC32: out.ChecksumCRC32, CRC32C: out.ChecksumCRC32C, CRC64NVME: out.ChecksumCRC64NVME,
		SHA1: out.ChecksumSHA1, SHA256: out.ChecksumSHA256,
	})
}
