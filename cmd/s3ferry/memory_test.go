package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/s3ferry/s3ferry/uploader"
)

func TestLimitMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	t.Setenv("GOMEMLIMIT", "")
	limitMemory(settings{upload: uploader.Config{Memory: 100 << 20}})
	if got, want := debug.SetMemoryLimit(-1), int64(100<<20+memoryHeadroom); got != want {
		t.Errorf("soft memory limit with upload.memory 100 MiB: %d, want %d", got, want)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitMemory(settings{upload: uploader.Config{Memory: 100 << 20}})
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("soft memory limit with GOMEMLIMIT set: %d, want it left alone", got)
	}
}
