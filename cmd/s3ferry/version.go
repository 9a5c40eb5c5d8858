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
	info, _ := debug.ReadBuildInfo()
	return describeVersion(version, commit, info)
}

// describeVersion says which s3ferry this is. The Makefile's ldflags win;
// without them (`go install github.com/s3ferry/s3ferry/cmd/s3ferry@v1.2.3`,
// or go build in a checkout) the build information has the module version
// the go command stamped (v1.2.3, or a pseudo-version from the checkout's
// commit) and, in a checkout, the commit.
func describeVersion(version, commit string, info *debug.BuildInfo) string {
	if info != nil {
		if v := info.Main.Version; version == "dev" && v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && commit == "unknown" {
				commit = s.Value
			}
		}
	}
	return fmt.Sprintf("%s (commit %s, %s)", version, commit, runtime.Version())
}
