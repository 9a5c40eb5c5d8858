package uploader_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
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

// FuzzETagMatcher: an ETag from the bucket is any string; the matcher
// never panics on it, and never calls Mismatch the ETag S3 makes of the
// very bytes (plain, or in parts of any size).
func FuzzETagMatcher(f *testing.F) {
	f.Add("opaque", []byte("content"), uint16(3))
	f.Add(`"d41d8cd98f00b204e9800998ecf8427e"`, []byte{}, uint16(1))
	f.Add("9e107d9d372bb6826bd81d3542a419d6-2", []byte("the quick brown fox"), uint16(10))
	f.Add("9e107d9d372bb6826bd81d3542a419d6-9223372036854775807", []byte("x"), uint16(0))
	f.Add("9E107D9D372BB6826BD81D3542A419D6--1", []byte("xy"), uint16(1))
	f.Fuzz(func(t *testing.T, etag string, data []byte, partSize uint16) {
		for _, size := range []int64{int64(len(data)), 0, -1, 1 << 62, math.MaxInt64} {
			m := uploader.NewETagMatcher(etag, size)
			m.Write(data)
			m.Verdict()
		}
		plain := md5.Sum(data)
		if got := verdictOf(hex.EncodeToString(plain[:]), data); got != uploader.ETagMatch {
			t.Fatalf("the MD5 of %q: verdict %d, want ETagMatch", data, got)
		}
		if partSize == 0 || len(data) == 0 {
			return
		}
		etag = multipartETag(data, int(partSize))
		got := verdictOf(etag, data)
		if got == uploader.ETagMismatch {
			t.Fatalf("%q in parts of %d (%s): ETagMismatch for the bytes that make it", data, partSize, etag)
		}
		// Parts of the file's size split evenly are among the guesses.
		n := (len(data) + int(partSize) - 1) / int(partSize)
		if even := (len(data) + n - 1) / n; even == int(partSize) && got != uploader.ETagMatch {
			t.Fatalf("%q in %d even parts of %d (%s): verdict %d, want ETagMatch", data, n, partSize, etag, got)
		}
	})
}

func verdictOf(etag string, data []byte) uploader.ETagVerdict {
	m := uploader.NewETagMatcher(etag, int64(len(data)))
	m.Write(data)
	return m.Verdict()
}
