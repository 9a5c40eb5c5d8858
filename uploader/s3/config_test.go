package s3

import (
	"errors"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		valid bool
	}{
		{"zero", Config{}, true},
		{"AES256", Config{SSE: "AES256"}, true},
		{"everything", Config{MaxAttempts: 10, BandwidthLimit: 1e6, Checksum: "sha256", SSE: "aws:kms", SSEKMSKeyID: "key", StorageClass: "STANDARD_IA"}, true},
		{"negative attempts", Config{MaxAttempts: -1}, false},
		{"most attempts", Config{MaxAttempts: MaxMaxAttempts}, true},
		{"too many attempts", Config{MaxAttempts: MaxMaxAttempts + 1}, false},
		{"timeouts", Config{ConnectTimeout: time.Second, StallTimeout: 2 * time.Second}, true},
		{"one attempt when refused", Config{RefusedAttempts: 1}, true},
		{"negative refused attempts", Config{RefusedAttempts: -1}, false},
		{"negative connect timeout", Config{ConnectTimeout: -1}, false},
		{"negative stall timeout", Config{StallTimeout: -1}, false},
		{"negative bandwidth", Config{BandwidthLimit: -1}, false},
		{"unknown checksum", Config{Checksum: "MD5"}, false},
		{"unknown sse", Config{SSE: "aws:kms:dsse"}, false},
		{"kms key without kms", Config{SSE: "AES256", SSEKMSKeyID: "key"}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.valid && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		}
		if !tt.valid && !errors.Is(err, uploader.ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want uploader.ErrInvalidConfig", tt.name, err)
		}
	}
}

func TestConfigWithDefaults(t *testing.T) {
	got := Config{Checksum: "sha1"}.withDefaults()
	want := Config{MaxAttempts: DefaultMaxAttempts, RefusedAttempts: DefaultRefusedAttempts, ConnectTimeout: DefaultConnectTimeout, StallTimeout: DefaultStallTimeout, Checksum: "SHA1"}
	if got != want {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
}
