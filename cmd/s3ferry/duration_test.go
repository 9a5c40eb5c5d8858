package main

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-21T08:30:00Z", time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC)},
		{"2026-11-21T08:30:00.5+01:00", time.Date(2026, 11, 21, 7, 30, 0, 5e8, time.UTC)},
		{"2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{"-24h", now.Add(-24 * time.Hour)},
		{"-90m", now.Add(-90 * time.Minute)},
		{"-2d", now.Add(-48 * time.Hour)},
		{"-1d12h", now.Add(-36 * time.Hour)},
		{"-1.5d", now.Add(-36 * time.Hour)},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, now, time.UTC)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"24h", "2d", "yesterday", "2026-13-01", "-d", "--2d", ""} {
		if _, err := parseTime(bad, now, time.UTC); err == nil {
			t.Errorf("parseTime(%q): nil error, want one", bad)
		}
	}
}
