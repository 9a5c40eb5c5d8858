package local

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// LayoutSurvey is what a source's tree says of its partition layout: the
// folders at the layout's first dated level, and how many of them the
// layout reads as a date.
type LayoutSurvey struct {
	Folders int    // directories at the first dated level (below the "*" levels)
	Matched int    // of them, the ones the layout reads as a date
	Example string // a folder name the layout does not read; "" when it reads them all
	Newest  string // the newest folder the layout reads, relative to the root
}

// SurveyLayout lists the levels of the tree down to the layout's first
// dated one (the root, and the "*" levels' directories below it): a few
// directories, not the partitions, so every walk can afford it. A directory
// that cannot be read is passed over: the walk reports it.
func (s *Source) SurveyLayout(loc *time.Location) LayoutSurvey {
	var sv LayoutSurvey
	if s.Layout.IsZero() {
		return sv
	}
	if loc == nil {
		loc = time.Local
	}
	var newest time.Time
	level := []string{""}
	for depth := 0; depth < s.Layout.Depth() && len(level) > 0; depth++ {
		var next []string
		for _, rel := range level {
			for _, name := range s.subdirs(rel) {
				child := path.Join(rel, name)
				if s.Layout.Wildcard(depth) {
					next = append(next, child)
					continue
				}
				sv.Folders++
				start, _, ok := s.Layout.Match(depth, name, time.Time{}, loc)
				switch {
				case !ok && sv.Example == "":
					sv.Example = name
				case ok:
					sv.Matched++
					if sv.Newest == "" || start.After(newest) {
						newest, sv.Newest = start, child
					}
				}
			}
		}
		if !s.Layout.Wildcard(depth) {
			break
		}
		level = next
	}
	return sv
}

// subdirs lists the names of the directories in rel that the filter
// admits, in name order.
func (s *Source) subdirs(rel string) []string {
	dir, err := s.Tree().OpenDir(rel)
	if err != nil {
		return nil
	}
	defer dir.Close()
	entries, err := dir.ReadDir()
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 && s.FollowSymlinks {
			info, err := dir.Stat(e.Name())
			isDir = err == nil && info.IsDir()
		}
		if isDir && s.Filter.Dir(path.Join(rel, e.Name())) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// CheckLayout says whether src's layout reads its tree: a *LayoutError
// when the tree has folders where the first dated level is and the layout
// reads none of them, which would make every partition walk find nothing.
// A tree with no folders yet, or whose partitions are all older than the
// look-back window, is fine.
func (s *Source) CheckLayout(loc *time.Location) error {
	sv := s.SurveyLayout(loc)
	if sv.Folders == 0 || sv.Matched > 0 {
		return nil
	}
	return &LayoutError{Layout: s.Layout, Root: s.Root, Survey: sv}
}

// LayoutError is a partition layout that reads none of the folders of its
// source's tree.
type LayoutError struct {
	Layout Layout
	Root   string
	Survey LayoutSurvey
}

func (e *LayoutError) Error() string { return e.Problem() + ": " + e.Fix() }

// Problem is what is wrong, without what to do.
func (e *LayoutError) Problem() string {
	return fmt.Sprintf("partition layout %q matches none of the %d folders under %s (e.g. %q)",
		e.Layout, e.Survey.Folders, Printable(e.Root), e.Survey.Example)
}

// Anonymous says it without a path or folder name (for /healthz over TCP).
func (e *LayoutError) Anonymous() string {
	return fmt.Sprintf("partition layout %q matches none of the %d folders of a source: set partition-layout to match them; s3ferry status names the source", e.Layout, e.Survey.Folders)
}

// Fix is what to do.
func (e *LayoutError) Fix() string {
	if l := SuggestLayout(e.Layout, e.Survey.Example); l != "" {
		return "set --partition-layout to match them, e.g. " + l
	}
	return "set --partition-layout to a Go time layout that reads them (2006-01-02 reads 2026-12-06)"
}

// SuggestLayout returns a layout that reads name at the first dated level
// of l, with l's "*" levels kept, or "" when none of the common ones does.
func SuggestLayout(l Layout, name string) string {
	wild := 0
	for wild < l.Depth() && l.Wildcard(wild) {
		wild++
	}
	// The common layouts, most common first.
	for _, s := range []string{"2006-01-02", "2006/01/02", "20060102", "2006/01", "2006-01", "2006/01/02/15", "2006-01-02/15", "200601"} {
		first, _, _ := strings.Cut(s, "/")
		if _, err := time.Parse(first, name); err == nil {
			return strings.Repeat("*/", wild) + s
		}
	}
	return ""
}
