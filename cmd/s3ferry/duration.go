package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// duration is a time.Duration as a person writes it, in a flag or in the
// configuration file: Go's units (300ms, 90s, 5m, 48h, 1h30m) and days
// (2d, 90d, 1.5d, 1d12h). Every duration flag and key is one, so what one
// accepts the others do too.
type duration time.Duration

// parseDuration reads a duration: an optional number of days ("d") first,
// then anything time.ParseDuration takes. A bare 0 is zero.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: write it like 90s, 5m, 48h or 2d", s)
	t := strings.TrimSpace(s)
	sign := time.Duration(1)
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		sign, t = -1, rest
	} else {
		t = strings.TrimPrefix(t, "+")
	}
	var days time.Duration
	if n, rest, ok := strings.Cut(t, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || strings.Trim(n, "0123456789.") != "" || f*24 > math.MaxInt64/float64(time.Hour) {
			return 0, bad
		}
		days, t = time.Duration(f*24*float64(time.Hour)), rest
		if t == "" {
			return sign * days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 || t[0] == '-' || t[0] == '+' || days > math.MaxInt64-d {
		return 0, bad
	}
	return sign * (days + d), nil
}

// parseTime reads a point in time for restore and manifest: RFC 3339
// ("2026-11-22T08:00:00+01:00"), a date ("2026-11-22", midnight in loc),
// or a duration before now as parseDuration reads it ("-24h", "-2d").
func parseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		if d > 0 {
			return time.Time{}, fmt.Errorf("time %q is in the future: write it with a minus, like -24h or -2d", s)
		}
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("time %q: write it as RFC 3339 (2026-11-22T08:00:00Z), a date (2026-11-22) or a duration back from now (-24h, -2d)", s)
}

// String writes d as parseDuration reads it, short: whole days as 2d,
// anything else as Go does without its zero units (90m as 1h30m, 5m0s as 5m).
func (d duration) String() string {
	v := time.Duration(d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Set reads a flag's value (cli.Generic).
func (d *duration) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// UnmarshalYAML reads a configuration key's value.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 90s, 5m, 48h or 2d", n.Line)
	}
	if err := d.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalYAML writes d as UnmarshalYAML reads it.
func (d duration) MarshalYAML() (any, error) { return d.String(), nil }

// durationFlag is a flag that takes a duration, with def as its default.
func durationFlag(name, usage string, def time.Duration, category string) *cli.GenericFlag {
	v := duration(def)
	return &cli.GenericFlag{Name: name, Usage: usage, Value: &v, Category: category}
}

// flagDuration is the value of a flag durationFlag made.
func flagDuration(c *cli.Context, name string) time.Duration {
	if d, ok := c.Generic(name).(*duration); ok && d != nil {
		return time.Duration(*d)
	}
	return 0
}

// durationPtr is d for a configuration key, where nil means not set.
func durationPtr(d time.Duration) *duration {
	v := duration(d)
	return &v
}
