package uploader

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		valid bool
	}{
		{"zero", Config{}, true},
		{"everything", Config{PartSize: MinPartSize, PartConcurrency: 8, Checksum: "sha256", Memory: MinPartSize}, true},
		{"largest part", Config{PartSize: MaxPartSize}, true},
		{"part below 5 MiB", Config{PartSize: MinPartSize - 1}, false},
		{"part above 5 GiB", Config{PartSize: MaxPartSize + 1}, false},
		{"negative concurrency", Config{PartConcurrency: -1}, false},
		{"memory of one part", Config{PartSize: MinPartSize, Memory: MinPartSize}, true},
		{"memory below the part size", Config{PartSize: MinPartSize, Memory: MinPartSize - 1}, false},
		{"memory below the default part size", Config{Memory: 8 << 20}, false},
		{"negative memory", Config{Memory: -1}, false},
		{"unknown checksum", Config{Checksum: "MD5"}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.valid && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		}
		if !tt.valid && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}

func TestConfigWithDefaults(t *testing.T) {
	got := Config{Checksum: "sha1"}.withDefaults()
	want := Config{PartSize: DefaultPartSize, PartConcurrency: DefaultPartConcurrency, Checksum: "SHA1", Memory: DefaultMemory}
	if got != want {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
	// A part larger than the default budget raises it: one must fit.
	if got := (Config{PartSize: 128 << 20}).withDefaults().Memory; got != 128<<20 {
		t.Errorf("withDefaults() with a 128 MiB part: Memory = %d, want %d", got, 128<<20)
	}
}
