package local

import (
	"testing"
	"time"
)

func TestParseLayoutErrors(t *testing.T) {
	for _, layout := range []string{"*", "*/*", "foo", "2006/*/02", "2006//02", "01-02", "2006/02", "01/2006", "Mon 15"} {
		if _, err := ParseLayout(layout); err == nil {
			t.Errorf("ParseLayout(%q) = nil error, want one", layout)
		}
	}
}

func TestLayoutMatch(t *testing.T) {
	loc := time.UTC
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, loc)
	from := now.Add(-48 * time.Hour) // 2026-11-20 10:30
	tests := []struct {
		layout string
		level  int
		dated  string
		inside bool
		ok     bool
	}{
		{"2006-01-02", 0, "2026-11-22", true, true},
		{"2006-01-02", 0, "2026-11-20", true, true}, // ends 11-21 00:00, after from
		{"2006-01-02", 0, "2026-11-19", false, true},
		{"2006-01-02", 0, "2026-12-01", true, true}, // the future is always walked
		{"2006-01-02", 0, "lost+found", false, false},
		{"2006/01/02", 0, "2026", true, true},
		{"2006/01/02", 0, "2025", false, true},
		{"2006/01/02", 1, "2026/11", true, true},
		{"2006/01/02", 1, "2026/10", false, true},
		{"2006/01/02", 2, "2026/11/21", true, true},
		{"2006/01/02", 2, "2026/11/02", false, true},
		{"2006/01/02/15", 3, "2026/11/20/10", true, true}, // 10:00-11:00 ends after 10:30
		{"2006/01/02/15", 3, "2026/11/20/09", false, true},
		{"*/2006-01-02", 0, "", true, true},
		{"*/2006-01-02", 1, "2026-11-21", true, true},
		{"*/2006-01-02", 1, "2026-11-01", false, true},
	}
	for _, tt := range tests {
		l, err := ParseLayout(tt.layout)
		if err != nil {
			t.Fatalf("ParseLayout(%q): %v", tt.layout, err)
		}
		_, inside, ok := l.Match(tt.level, tt.dated, from, loc)
		if inside != tt.inside || ok != tt.ok {
			t.Errorf("%s level %d %q: got inside=%v ok=%v, want inside=%v ok=%v", tt.layout, tt.level, tt.dated, inside, ok, tt.inside, tt.ok)
		}
	}
}

// FuzzLayout: any layout string is accepted or refused without a panic,
// and an accepted one recognises the names it prints itself: the partition
// that holds an instant is always walked from that instant.
func FuzzLayout(f *testing.F) {
	for _, l := range []string{"2006-01-02", "2006/01/02", "2006/01/02/15", "*/2006-01-02", "*/*/2006/01", "06-01-02", "2006-002", "20060102T15", "Jan 2006", "2006/01/02/15/04/05", "foo", "2006//02", "*", "01-02"} {
		f.Add(l, "2026-11-22", int64(1795000000))
	}
	f.Fuzz(func(t *testing.T, layout, dated string, sec int64) {
		l, err := ParseLayout(layout)
		if err != nil || l.IsZero() {
			return
		}
		// Any directory name at any level: no panic.
		for level := range l.Depth() {
			l.Match(level, dated, time.Unix(sec, 0), time.UTC)
		}
		// Instants from 1970 to 2068, where partition names live (a
		// two-digit year reads back as 1969 to 2068).
		const span = 98 * 365 * 86400
		at := time.Unix((sec%span+span)%span, 0).UTC()
		for level, lv := range l.levels {
			if lv.wildcard {
				continue
			}
			name := at.Format(lv.layout)
			start, inside, ok := l.Match(level, name, at, time.UTC)
			if !ok || !inside || start.After(at) {
				t.Fatalf("layout %q level %d: the name %q it prints for %s matches ok=%v inside=%v start=%s; want the partition holding that instant",
					layout, level, name, at, ok, inside, start)
			}
		}
	})
}
