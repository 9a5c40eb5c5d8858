package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// make notices-check, which make check runs, passes on the notices as
// generated and fails, saying what to do, on a stale copy.
func TestNoticesCheck(t *testing.T) {
	dir := t.TempDir()
	notices := filepath.Join(dir, "THIRD_PARTY_NOTICES")
	data, err := os.ReadFile("../../THIRD_PARTY_NOTICES")
	if err != nil {
		t.Fatal(err)
	}
	check := func() (string, error) {
		cmd := exec.Command("make", "--no-print-directory", "notices-check",
			"NOTICES="+notices, "NOTICES_BINARY="+filepath.Join(dir, "s3ferry"))
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if err := os.WriteFile(notices, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := check(); err != nil {
		t.Fatalf("make notices-check on THIRD_PARTY_NOTICES as checked in: %v\n%s(run make notices)", err, out)
	}

	// As if a dependency had been upgraded since: one version differs.
	stale := strings.Replace(string(data), "gopkg.in/yaml.v3 v3.0.1", "gopkg.in/yaml.v3 v3.0.0", 1)
	if stale == string(data) {
		t.Fatal("THIRD_PARTY_NOTICES does not name gopkg.in/yaml.v3 v3.0.1; update this test")
	}
	if err := os.WriteFile(notices, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := check()
	if err == nil {
		t.Fatalf("make notices-check passed on a stale file:\n%s", out)
	}
	if want := notices + " is stale (the modules linked into s3ferry changed): run make notices and commit it"; !strings.Contains(out, want) {
		t.Errorf("make notices-check printed %q, want %q", out, want)
	}
}

func TestLicences(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"Apache-2.0", "Apache License\n   Version 2.0, January 2004\n", []string{"Apache-2.0"}},
		{"MIT", "Permission is hereby granted, free of charge, to any\nperson obtaining a copy of this software", []string{"MIT"}},
		{"BSD-3-Clause", "Redistribution and use in source and binary forms, with or without\nmodification ... Neither the name of Google Inc. nor", []string{"BSD-3-Clause"}},
		{"BSD-2-Clause", "Redistribution and use in source and binary forms, with or without modification, are permitted", []string{"BSD-2-Clause"}},
		{"ISC", "Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee", []string{"ISC"}},
		{"MIT and Apache-2.0", "Permission is hereby granted, free of charge, to any person obtaining a copy\n...\nLicensed under the Apache License, Version 2.0", []string{"Apache-2.0", "MIT"}},
		{"GPL", "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007", nil},
		{"proprietary", "All rights reserved.", nil},
	}
	for _, tt := range tests {
		if got := licences([]byte(tt.text)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: licences = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A module under a licence the generator does not know stops it, naming
// the file, instead of shipping a notice nobody looked at.
func TestUnknownLicence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "COPYING"), []byte("GNU GENERAL PUBLIC LICENSE\nVersion 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := render([]*module{{path: "example.com/gpl", version: "v1.0.0", dir: dir, files: []string{"COPYING"}}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "COPYING")) || !strings.Contains(err.Error(), "compatible with Apache-2.0") {
		t.Errorf("render of a GPL module: %v, want an error naming %s", err, filepath.Join(dir, "COPYING"))
	}
}
