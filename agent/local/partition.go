package local

import (
	"fmt"
	"strings"
	"time"
)

// Layout describes how date partitions are named below a source root: a Go
// time layout for the partition's path relative to the root ("2006-01-02",
// "2006/01/02", "2006/01/02/15"), optionally preceded by "*/" levels that
// match any directory name ("*/2006-01-02" for site-a/2026-11-22/).
type Layout struct {
	text   string // as given, for messages
	levels []layoutLevel
}

type layoutLevel struct {
	wildcard bool
	// layout is the time layout of the path from the first dated level down
	// to this one, joined with "/"; parsing it gives the partition's start.
	layout string
	// next gives the start of the partition after the one starting at t, at
	// this level's granularity.
	next func(t time.Time) time.Time
}

// ParseLayout validates a partition layout. A layout must contain at least
// one dated level, and every level after the first dated one must be dated.
func ParseLayout(s string) (Layout, error) {
	if s == "" {
		return Layout{}, nil
	}
	parts := strings.Split(strings.Trim(s, "/"), "/")
	var l Layout
	var dated []string
	for i, p := range parts {
		if p == "*" {
			if len(dated) > 0 {
				return Layout{}, fmt.Errorf("partition layout %q: '*' levels must come before the dated ones", s)
			}
			l.levels = append(l.levels, layoutLevel{wildcard: true})
			continue
		}
		if p == "" {
			return Layout{}, fmt.Errorf("partition layout %q: empty level %d", s, i+1)
		}
		dated = append(dated, p)
		joined := strings.Join(dated, "/")
		next, err := granularity(joined)
		if err != nil {
			return Layout{}, fmt.Errorf("partition layout %q: level %q: %w", s, p, err)
		}
		l.levels = append(l.levels, layoutLevel{layout: joined, next: next})
	}
	if len(dated) == 0 {
		return Layout{}, fmt.Errorf("partition layout %q has no date in it: use a Go time layout such as 2006-01-02", s)
	}
	l.text = s
	return l, nil
}

// String is the layout as it was given.
func (l Layout) String() string { return l.text }

// IsZero reports whether no layout is set (the whole tree is one partition).
func (l Layout) IsZero() bool { return len(l.levels) == 0 }

// Depth is the number of directory levels the layout spans.
func (l Layout) Depth() int { return len(l.levels) }

// granularity finds the finest time unit a layout prints, by formatting a
// reference time and the same time one unit later: the finest unit whose step
// changes the text is the partition's width.
//
//	unit    step
//	second  +1s
//	minute  +1m
//	hour    +1h
//	day     +1 day
//	month   +1 month
//	year    +1 year
func granularity(layout string) (func(time.Time) time.Time, error) {
	ref := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	steps := []func(time.Time) time.Time{
		func(t time.Time) time.Time { return t.Add(time.Second) },
		func(t time.Time) time.Time { return t.Add(time.Minute) },
		func(t time.Time) time.Time { return t.Add(time.Hour) },
		func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
		func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
		func(t time.Time) time.Time { return t.AddDate(1, 0, 0) },
	}
	for _, step := range steps {
		if ref.Format(layout) != step(ref).Format(layout) {
			// Check the layout parses back what it prints: a layout with
			// stray letters would otherwise match nothing silently.
			back, err := time.Parse(layout, ref.Format(layout))
			if err != nil {
				return nil, fmt.Errorf("not a usable time layout: %w", err)
			}
			// And that what it reads back is the partition holding ref: a
			// layout without the year (01-02) or with a gap (2006/02) names
			// directories that cannot be placed in time, so no partition
			// walk would ever enter them.
			if back.After(ref) || !step(back).After(ref) {
				return nil, fmt.Errorf("a name such as %q does not say when it starts: give the year (2006) and every unit down to the finest", ref.Format(layout))
			}
			return step, nil
		}
	}
	return nil, fmt.Errorf("no date or time element (such as 2006, 01, 02, 15) in it")
}

// Wildcard says whether level (0-based) is a "*" level, which matches any
// directory name and adds nothing to the dated path.
func (l Layout) Wildcard(level int) bool { return l.levels[level].wildcard }

// Match decides whether a directory at depth level (0-based), whose dated
// path so far is dated ("2026/11" for level 1 of "2006/01/02"), may hold
// partitions that end after from, and gives the start of its span (zero for
// a wildcard level). Partitions dated in the future are inside: a clock or
// time zone off by a day must not hide new files. ok is false when the name
// is not a partition name at all; such directories are only seen by full
// walks.
func (l Layout) Match(level int, dated string, from time.Time, loc *time.Location) (start time.Time, inside, ok bool) {
	lv := l.levels[level]
	if lv.wildcard {
		return time.Time{}, true, true
	}
	start, err := time.ParseInLocation(lv.layout, dated, loc)
	if err != nil {
		return time.Time{}, false, false
	}
	return start, lv.next(start).After(from), true
}

// Ended says whether directory rel lies in (or is) a partition of l whose
// span ended before cutoff.
func (l Layout) Ended(rel string, cutoff time.Time, loc *time.Location) bool {
	comps := strings.Split(rel, "/")
	n := min(len(comps), l.Depth())
	var dated []string
	for i := range n {
		if !l.levels[i].wildcard {
			dated = append(dated, comps[i])
		}
	}
	_, inside, ok := l.Match(n-1, strings.Join(dated, "/"), cutoff, loc)
	return ok && !inside
}
