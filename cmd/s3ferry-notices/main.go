// Command s3ferry-notices writes THIRD_PARTY_NOTICES (`make notices`): the
// licence and notice files of every Go module compiled into an s3ferry
// binary, read from the module cache, each licence named. The binary's build
// information (what `go version -m` prints) says which modules and versions
// are in it; `go list -deps` of its main package says which of their
// directories, so a licence file beside a linked package (a vendored
// BSD-licensed helper inside an Apache-licensed module) is found too. A
// licence it does not recognise as compatible with Apache-2.0 is an error,
// so a new dependency's licence is looked at before it ships.
package main

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	out := flag.String("o", "", "write the notices to this file instead of standard output")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: s3ferry-notices [-o FILE] BINARY")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	text, err := notices(flag.Arg(0))
	if err == nil && *out != "" {
		err = os.WriteFile(*out, text, 0o644)
	} else if err == nil {
		_, err = os.Stdout.Write(text)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3ferry-notices:", err)
		os.Exit(1)
	}
}

// module is one module compiled into the binary, with its licence files.
type module struct {
	path, version string
	dir           string   // in the module cache
	files         []string // licence and notice files, relative to dir
}

// notices returns THIRD_PARTY_NOTICES for the binary at path.
func notices(binary string) ([]byte, error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read build information of %s: %w (build it with go build first)", binary, err)
	}
	linked := map[string]*module{}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		linked[d.Path] = &module{path: d.Path, version: d.Version}
	}
	if err := findFiles(info, linked); err != nil {
		return nil, err
	}
	goroot, err := goEnv("GOROOT")
	if err != nil {
		return nil, err
	}
	std := &module{path: "Go standard library and runtime", dir: goroot, files: []string{"LICENSE"}}
	mods := []*module{std}
	for _, p := range slices.Sorted(maps.Keys(linked)) {
		mods = append(mods, linked[p])
	}
	return render(mods)
}

// findFiles fills in each linked module's directory and licence files from
// `go list -deps` of the binary's main package, for the platform it was
// built for.
func findFiles(info *buildinfo.BuildInfo, linked map[string]*module) error {
	env := os.Environ()
	for _, s := range info.Settings {
		if s.Key == "GOOS" || s.Key == "GOARCH" || s.Key == "CGO_ENABLED" {
			env = append(env, s.Key+"="+s.Value)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{with .Module}}{{.Path}}{{"\t"}}{{.Version}}{{"\t"}}{{.Dir}}{{"\t"}}{{$.Dir}}{{end}}`, info.Path)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s: %w: %s(run it from the top of the s3ferry checkout)", info.Path, err, stderr.String())
	}
	found := map[string]map[string]bool{} // module → licence files
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) != 4 {
			return fmt.Errorf("go list -deps: unexpected line %q", line)
		}
		path, version, modDir, pkgDir := f[0], f[1], f[2], f[3]
		if path == info.Main.Path {
			continue
		}
		m, ok := linked[path]
		if !ok {
			return fmt.Errorf("module %s is in the source tree's dependencies but not in the binary: rebuild the binary from this checkout", path)
		}
		if m.version != version {
			return fmt.Errorf("module %s: the binary has %s, go.mod %s: rebuild the binary from this checkout", path, m.version, version)
		}
		m.dir = modDir
		if found[path] == nil {
			found[path] = map[string]bool{}
		}
		// The package's directory and each one above it, up to the module's.
		for dir := pkgDir; ; dir = filepath.Dir(dir) {
			names, err := licenceFiles(dir)
			if err != nil {
				return err
			}
			for _, n := range names {
				rel, err := filepath.Rel(modDir, filepath.Join(dir, n))
				if err != nil {
					return fmt.Errorf("licence file of %s: %w", path, err)
				}
				found[path][filepath.ToSlash(rel)] = true
			}
			if dir == modDir || len(dir) <= len(modDir) {
				break
			}
		}
	}
	for path, m := range linked {
		if m.dir == "" {
			return fmt.Errorf("module %s is in the binary but go list -deps does not name it: rebuild the binary from this checkout", path)
		}
		if len(found[path]) == 0 {
			return fmt.Errorf("module %s %s has no LICENSE, COPYING or NOTICE file in %s: find its licence before shipping it", path, m.version, m.dir)
		}
		m.files = slices.SortedFunc(maps.Keys(found[path]), byDepth)
	}
	return nil
}

// byDepth puts a module's top-level files before those of its subdirectories.
func byDepth(a, b string) int {
	if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
		return da - db
	}
	return strings.Compare(a, b)
}

// licenceFiles returns the names of the licence and notice files in dir.
func licenceFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("look for licence files: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := strings.ToUpper(e.Name())
		if !e.Type().IsRegular() || strings.HasSuffix(name, ".GO") {
			continue
		}
		for _, prefix := range []string{"LICENSE", "LICENCE", "COPYING", "NOTICE"} {
			if strings.HasPrefix(name, prefix) {
				names = append(names, e.Name())
				break
			}
		}
	}
	return names, nil
}

// isNotice tells a NOTICE file (attributions Apache-2.0 asks to pass on)
// from a licence.
func isNotice(name string) bool {
	return strings.HasPrefix(strings.ToUpper(filepath.Base(name)), "NOTICE")
}

// licences recognises the licences in one licence file's text. Every one
// here is compatible with distributing s3ferry under Apache-2.0; a file that
// matches none of them is an error for a person to look at.
//
//	licence       recognised by (whitespace collapsed)
//	Apache-2.0    "Apache License" and "Version 2.0"
//	MIT           "Permission is hereby granted, free of charge, to any person obtaining a copy"
//	BSD-3-Clause  "Redistribution and use in source and binary forms" and a clause on the names of contributors
//	BSD-2-Clause  "Redistribution and use in source and binary forms", no such clause
//	ISC           "Permission to use, copy, modify, and/or distribute this software for any purpose"
func licences(text []byte) []string {
	t := strings.Join(strings.Fields(string(text)), " ")
	var ids []string
	if strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0") {
		ids = append(ids, "Apache-2.0")
	}
	if strings.Contains(t, "Permission is hereby granted, free of charge, to any person obtaining a copy") {
		ids = append(ids, "MIT")
	}
	if strings.Contains(t, "Redistribution and use in source and binary forms") {
		if strings.Contains(t, "Neither the name") || strings.Contains(t, "names of its contributors") {
			ids = append(ids, "BSD-3-Clause")
		} else {
			ids = append(ids, "BSD-2-Clause")
		}
	}
	if strings.Contains(t, "Permission to use, copy, modify, and/or distribute this software for any purpose") {
		ids = append(ids, "ISC")
	}
	return ids
}

const rule = "================================================================================\n"

// render writes the summary table, then every module's files; a file
// identical to one already written is named, not repeated.
func render(mods []*module) ([]byte, error) {
	type file struct {
		name string
		ids  []string
		text []byte
	}
	files := make([][]file, len(mods))
	for i, m := range mods {
		for _, name := range m.files {
			text, err := os.ReadFile(filepath.Join(m.dir, filepath.FromSlash(name)))
			if err != nil {
				return nil, fmt.Errorf("licence of %s: %w", m.path, err)
			}
			f := file{name: name, text: text}
			if !isNotice(name) {
				if f.ids = licences(text); len(f.ids) == 0 {
					return nil, fmt.Errorf("%s: %s is no licence s3ferry-notices knows (Apache-2.0, MIT, BSD, ISC): check that it is compatible with Apache-2.0 and teach cmd/s3ferry-notices to recognise it",
						m.path, filepath.Join(m.dir, name))
				}
			}
			files[i] = append(files[i], f)
		}
	}

	var b bytes.Buffer
	b.WriteString(`Third-party notices for s3ferry

s3ferry is licensed under the Apache License, Version 2.0 (see LICENSE). Its
binary also contains the Go modules below, each under its own licence; every
one of these licences is compatible with Apache-2.0. The text of each licence
and notice file follows the list.

This file is generated by ` + "`make notices`" + ` (cmd/s3ferry-notices) from the
modules compiled into s3ferry; do not edit it by hand.

`)
	width := 0
	for _, m := range mods {
		width = max(width, len(label(m)))
	}
	for i, m := range mods {
		var ids []string
		for _, f := range files[i] {
			for _, id := range f.ids {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, label(m), strings.Join(ids, ", "))
	}

	seen := map[[32]byte]string{} // text → where it was written
	for i, m := range mods {
		fmt.Fprintf(&b, "\n%s%s\n", rule, label(m))
		for _, f := range files[i] {
			what := f.name
			if len(f.ids) > 0 {
				what += " (" + strings.Join(f.ids, ", ") + ")"
			}
			sum := sha256.Sum256(f.text)
			if where, ok := seen[sum]; ok {
				fmt.Fprintf(&b, "\n-- %s: the same text as %s above --\n", what, where)
				continue
			}
			seen[sum] = f.name + " of " + m.path
			fmt.Fprintf(&b, "\n-- %s --\n\n%s", what, f.text)
			if !bytes.HasSuffix(f.text, []byte("\n")) {
				b.WriteByte('\n')
			}
		}
	}
	return b.Bytes(), nil
}

func label(m *module) string {
	if m.version == "" {
		return m.path
	}
	return m.path + " " + m.version
}

func goEnv(key string) (string, error) {
	out, err := exec.Command("go", "env", key).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}
