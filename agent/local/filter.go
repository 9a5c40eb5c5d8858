package local

import (
	"fmt"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultExcludes returns the patterns skipped unless a source turns them
// off: hidden files and directories, and the names editors and copy tools give
// files that are still being written.
func DefaultExcludes() []string {
	return []string{".*", "*.tmp", "*.part", "~*"}
}

// Filter decides which paths below a source root are backed up. Patterns are
// doublestar globs matched against the slash-separated path relative to the
// root ("2026-*/**/*.wav", "**/scratch/**"). A pattern without a slash
// matches the base name at any depth, as in .gitignore: "*.wav" means every
// .wav file.
type Filter struct {
	include []pattern
	exclude []pattern
}

// pattern is a glob compiled for the walk, which matches every file against
// every pattern: the shapes most patterns have ("*.tmp", "~*", ".*", a
// plain name) are compared as strings, and only the rest go to doublestar.
type pattern struct {
	glob string
	base bool // no slash: matched against the base name
	kind patternKind
	lit  string // the literal part for kindEqual, kindPrefix, kindSuffix
}

type patternKind int

const (
	kindGlob   patternKind = iota // doublestar.Match
	kindEqual                     // the name is lit
	kindPrefix                    // lit*
	kindSuffix                    // *lit
)

// compile validates glob; what names it in errors.
func compile(glob, what string) (pattern, error) {
	if !doublestar.ValidatePattern(glob) {
		return pattern{}, fmt.Errorf("%s pattern %q is not a valid glob", what, glob)
	}
	p := pattern{glob: glob, base: !strings.Contains(glob, "/")}
	if !p.base {
		return p, nil
	}
	const meta = "*?[{\\"
	switch {
	case !strings.ContainsAny(glob, meta):
		p.kind, p.lit = kindEqual, glob
	case strings.HasPrefix(glob, "*") && !strings.ContainsAny(glob[1:], meta):
		p.kind, p.lit = kindSuffix, glob[1:]
	case strings.HasSuffix(glob, "*") && !strings.ContainsAny(glob[:len(glob)-1], meta):
		p.kind, p.lit = kindPrefix, glob[:len(glob)-1]
	}
	return p, nil
}

// match reports whether the path rel matches.
func (p pattern) match(rel string) bool {
	if p.base {
		// A slash-free glob cannot match a path with one: only the base
		// name can match.
		rel = rel[strings.LastIndexByte(rel, '/')+1:]
	}
	switch p.kind {
	case kindEqual:
		return rel == p.lit
	case kindPrefix:
		return strings.HasPrefix(rel, p.lit)
	case kindSuffix:
		return strings.HasSuffix(rel, p.lit)
	}
	ok, _ := doublestar.Match(p.glob, rel)
	return ok
}

// NewFilter validates the patterns. With no include pattern every path is
// included; an exclude always wins over an include.
func NewFilter(include, exclude []string, defaultExcludes bool) (Filter, error) {
	var f Filter
	for _, g := range include {
		p, err := compile(g, "include")
		if err != nil {
			return Filter{}, err
		}
		f.include = append(f.include, p)
	}
	if defaultExcludes {
		exclude = append(DefaultExcludes(), exclude...)
	}
	for _, g := range exclude {
		p, err := compile(g, "exclude")
		if err != nil {
			return Filter{}, err
		}
		f.exclude = append(f.exclude, p)
		// "dir/**" excludes the directory itself too, so walks prune it.
		if dir, ok := strings.CutSuffix(g, "/**"); ok && dir != "" {
			p, err := compile(dir, "exclude")
			if err != nil {
				return Filter{}, err
			}
			f.exclude = append(f.exclude, p)
		}
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
	return f.FileInWalk(rel)
}

// FileInWalk is File for a walk, which has already pruned excluded
// directories: only the file's own path is matched. The temporary file of
// an s3ferry download (a restore or a repair into the tree, perhaps
// killed) is never backed up, whatever the patterns.
func (f Filter) FileInWalk(rel string) bool {
	if f.excluded(rel) || uploader.IsTempName(path.Base(rel)) {
		return false
	}
	if len(f.include) == 0 {
		return true
	}
	for _, p := range f.include {
		if p.match(rel) {
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
		if p.match(rel) {
			return true
		}
	}
	return false
}
