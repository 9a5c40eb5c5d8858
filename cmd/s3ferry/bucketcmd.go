package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/uploader"
)

// What the commands about the bucket side (doctor, verify, adopt, restore,
// manifest) share.

// flagJSON and flagListWorkers are flags several of them take.
const (
	flagJSON        = "json"
	flagListWorkers = "list-workers"
)

func jsonFlag(what string) cli.Flag {
	return &cli.BoolFlag{Name: flagJSON, Usage: "print " + what + " as one JSON object"}
}

func listWorkersFlag() cli.Flag {
	return &cli.IntFlag{Name: flagListWorkers, Usage: "bucket listings at once (parts of the key space listed in parallel)", Value: uploader.DefaultListWorkers}
}

// withRoots fails unless every source has its local directory: the index
// knows files by source directory and destination together.
func withRoots(sources []*local.Source) error {
	for _, src := range sources {
		if src.Root == "" {
			return usageError{fmt.Errorf("s3://%s/%s is not a destination of the configuration: give SRC s3://BUCKET/PREFIX/, or --config with a source for it", src.Bucket, src.Prefix)}
		}
	}
	return nil
}

// show prints a command's result: v as one line of JSON with --json,
// else what text writes for a person.
func show(w io.Writer, asJSON bool, v any, text func(io.Writer)) error {
	if !asJSON {
		text(w)
		return nil
	}
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// inside reports whether dir is root or below it; both absolute.
func inside(dir, root string) bool {
	rel, err := filepath.Rel(root, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
