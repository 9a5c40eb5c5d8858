package uploader

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"
)

// The check values of the CRC catalogue (the checksum of "123456789") and
// the standard test vectors of SHA-1 and SHA-256 (of "abc").
func TestChecksumSum(t *testing.T) {
	be32 := func(v uint32) string { return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, v)) }
	be64 := func(v uint64) string { return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, v)) }
	tests := []struct {
		name, input, want string
	}{
		{"", "123456789", be32(0xe3069283)}, // DefaultChecksum is CRC32C
		{"crc32c", "123456789", be32(0xe3069283)},
		{"CRC32", "123456789", be32(0xcbf43926)},
		{"CRC64NVME", "123456789", be64(0xae8b14860a799888)},
		{"SHA1", "abc", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
		{"SHA256", "abc", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
		{"CRC32C", "", "AAAAAA=="},
	}
	for _, tt := range tests {
		c, err := checksumByName(tt.name)
		if err != nil {
			t.Fatalf("checksumByName(%q): %v", tt.name, err)
		}
		if got := c.sum([]byte(tt.input)); got != tt.want {
			t.Errorf("%s(%q) = %s, want %s", tt.name, tt.input, got, tt.want)
		}
	}
}

func TestChecksumByNameUnknown(t *testing.T) {
	for _, name := range []string{"MD5", "XXHASH64", "crc", " CRC32C"} {
		if _, err := checksumByName(name); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("checksumByName(%q): err = %v, want ErrInvalidConfig", name, err)
		}
	}
}
