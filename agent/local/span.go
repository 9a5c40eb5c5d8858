package local

import (
	"strings"
	"time"
)

// Span returns the time span [start, end) of the partition that holds the
// file or directory rel, read in loc; ok is false when rel lies in no
// partition of l (l is zero, rel is shallower than the layout, or its
// directories are not partition names).
func (l Layout) Span(rel string, loc *time.Location) (start, end time.Time, ok bool) {
	comps := strings.Split(rel, "/")
	if l.IsZero() || len(comps) < l.Depth() {
		return time.Time{}, time.Time{}, false
	}
	var dated []string
	for i := range l.Depth() {
		if !l.levels[i].wildcard {
			dated = append(dated, comps[i])
		}
	}
	last := l.levels[l.Depth()-1]
	if last.wildcard {
		return time.Time{}, time.Time{}, false
	}
	start, err := time.ParseInLocation(last.layout, strings.Join(dated, "/"), loc)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	return start, last.next(start), true
}
