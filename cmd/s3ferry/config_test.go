package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example configuration shipped in packaging/ must always load.
func TestShippedConfigLoads(t *testing.T) {
	fc, err := loadFile(filepath.Join("..", "..", "packaging", "s3ferry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Sources) != 0 {
		t.Fatalf("the shipped configuration has live sources %+v: a bucket a person did not choose", fc.Sources)
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"settle: 5s\nuplod:\n  workers: 3\n", "line 2: unknown key uplod"},
		{"upload:\n  part-size: huge\n", `line 2: "huge" is not a size`},
		{"settle: soon\n", "line 1"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "c.yml")
		if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadFile(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("loadFile(%q) = %v, want one line containing %q", tt.yaml, err, tt.want)
		}
	}
}

func TestEmptyConfigIsDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFile(p); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestConfigSecondDocumentRefused(t *testing.T) {
	_, err := parseConfig([]byte("settle: 1s\n---\nsetle: 2s\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: a second YAML document") {
		t.Fatalf("parseConfig of two documents: %v, want an error naming line 2 (the ---)", err)
	}
}

func TestConfigRetryAndTimeoutKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	yml := "s3:\n  connect-timeout: 3s\n  max-attempts: 4\nupload:\n  max-attempts: 12\n  stall-timeout: 2s\n"
	if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	fc, err := loadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if fc.S3.ConnectTimeout == nil || time.Duration(*fc.S3.ConnectTimeout) != 3*time.Second || fc.S3.MaxAttempts != 4 ||
		fc.Upload.MaxAttempts != 12 || fc.Upload.StallTimeout == nil || time.Duration(*fc.Upload.StallTimeout) != 2*time.Second {
		t.Errorf("loaded %+v, %+v; want connect-timeout 3s, max-attempts 4 (old key) and 12, stall-timeout 2s", fc.S3, fc.Upload)
	}
}

func TestConfigWorkersAuto(t *testing.T) {
	for _, tt := range []struct {
		yml      string
		want     int
		wantAuto bool
	}{
		{"upload:\n  workers: auto\n", 16, true},
		{"upload:\n  workers: 64\n", 64, false},
	} {
		fc, err := parseConfig([]byte(tt.yml))
		if err != nil {
			t.Fatal(err)
		}
		n, auto, err := parseWorkers(fc.Upload.Workers)
		if err != nil || n != tt.want || auto != tt.wantAuto {
			t.Errorf("%q: %d, %v, %v; want %d, %v", tt.yml, n, auto, err, tt.want, tt.wantAuto)
		}
	}
}
