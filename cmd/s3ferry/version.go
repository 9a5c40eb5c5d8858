package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time by the Makefile:
// -ldflags "-X main.version=$(git describe) -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func versionString() string {
	commit := commit
	if info, ok := debug.ReadBuildInfo(); ok && commit == "unknown" {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return fmt.Sprintf("%s (commit %s, %s)", version, commit, runtime.Version())
}
