package uploader_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
)

// multipartETag computes S3's ETag of data uploaded in parts of partSize.
func multipartETag(data []byte, partSize int) string {
	var sums []byte
	n := 0
	for off := 0; off < len(data); off += partSize {
		s := md5.Sum(data[off:min(off+partSize, len(data))])
		sums = append(sums, s[:]...)
		n++
	}
	total := md5.Sum(sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(total[:]), n)
}

func TestETagMatcher(t *testing.T) {
	data := randomBytes(12<<20 + 5)
	plain := md5.Sum(data)
	other := append([]byte{}, data...)
	other[len(other)/2] ^= 1
	tests := []struct {
		name string
		etag string
		data []byte
		want uploader.ETagVerdict
	}{
		{"plain MD5", `"` + hex.EncodeToString(plain[:]) + `"`, data, uploader.ETagMatch},
		{"plain MD5, other bytes", hex.EncodeToString(plain[:]), other, uploader.ETagMismatch},
		{"plain MD5, shorter", hex.EncodeToString(plain[:]), data[:100], uploader.ETagMismatch},
		{"5 MiB parts (rclone)", multipartETag(data, 5<<20), data, uploader.ETagMatch},
		{"8 MiB parts (aws cli)", multipartETag(data, 8<<20), data, uploader.ETagMatch},
		{"7 MiB parts: half the file rounded up to a MiB", multipartETag(data, 7<<20), data, uploader.ETagMatch},
		{"8 MiB parts, other bytes", multipartETag(data, 8<<20), other, uploader.ETagUnknown},
		{"unusual part size", multipartETag(data, 7<<20+12345), data, uploader.ETagUnknown},
		{"not an MD5", "opaque-etag", data, uploader.ETagUnknown},
	}
	for _, tt := range tests {
		m := uploader.NewETagMatcher(tt.etag, int64(len(data)))
		m.Write(tt.data[:len(tt.data)/3])
		m.Write(tt.data[len(tt.data)/3:])
		if got := m.Verdict(); got != tt.want {
			t.Errorf("%s: verdict %d, want %d", tt.name, got, tt.want)
		}
	}
	if uploader.NewETagMatcher("opaque", 10).Known() {
		t.Error("Known() for an ETag of no MD5 form = true, want false")
	}
}
