package s3

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

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
