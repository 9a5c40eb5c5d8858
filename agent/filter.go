package agent

import (
	"fmt"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// DefaultExcludes returns the patterns skipped unless a source turns them
// off: hidden files and directories, and the names editors and copy tools give
// files that are still being written.
func DefaultExcludes() []string {
	return []string{".*", "*.tmp", "*.part", "~*"}
}

// Filter decides which paths below a source root are backed up. Patterns are
// doublestar globs matched against the slash-separated path relative to the
// root ("2026-*/**/*.wav", "**/scratch/**").
type Filter struct {
	include []string
	exclude []string
}

// NewFilter validates the patterns. With no include pattern every path is
// included; an exclude always wins over an include.
func NewFilter(include, exclude []string, defaultExcludes bool) (Filter, error) {
	var f Filter
	for _, p := range include {
		if !doublestar.ValidatePattern(p) {
			return Filter{}, fmt.Errorf("include pattern %q is not a valid glob", p)
		}
		f.include = append(f.include, p)
	}
	if defaultExcludes {
		f.exclude = append(f.exclude, DefaultExcludes()...)
	}
	for _, p := range exclude {
		if !doublestar.ValidatePattern(p) {
			return Filter{}, fmt.Errorf("exclude pattern %q is not a valid glob", p)
		}
		f.exclude = append(f.exclude, p)
	}
	return f, nil
}

// File reports whether the file at rel is backed up: it is not excluded, no
// directory above it is, and it matches an include pattern if any is set.
func (f Filter) File(rel string) bool {
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if f.excluded(dir) {
			return false
		}
	}
	return f.fileInWalk(rel)
}

// fileInWalk is File for a walk, which has already pruned excluded
// directories: only the file's own path is matched.
func (f Filter) fileInWalk(rel string) bool {
	if f.excluded(rel) {
		return false
	}
	if len(f.include) == 0 {
		return true
	}
	for _, p := range f.include {
		if match(p, rel) {
			return true
		}
	}
	return false
}

// Dir reports whether a walk descends into the directory at rel. Only
// excludes prune directories: an include pattern names files, and any
// directory may hold some.
func (f Filter) Dir(rel string) bool {
	return !f.excluded(rel)
}

func (f Filter) excluded(rel string) bool {
	for _, p := range f.exclude {
		if match(p, rel) {
			return true
		}
		// "dir/**" excludes the directory itself too, so walks prune it.
		if base, ok := strings.CutSuffix(p, "/**"); ok && match(base, rel) {
			return true
		}
	}
	return false
}

func match(pattern, rel string) bool {
	ok, _ := doublestar.Match(pattern, rel)
	if ok {
		return true
	}
	// A pattern without a slash matches the base name at any depth, as in
	// .gitignore: "*.wav" means every .wav file.
	if !strings.Contains(pattern, "/") {
		ok, _ = doublestar.Match(pattern, path.Base(rel))
	}
	return ok
}
