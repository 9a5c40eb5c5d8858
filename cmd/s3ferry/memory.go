package main

import (
	"os"
	"runtime/debug"
)

// memoryHeadroom is what the process needs beside the upload buffers: the
// index's memtables and the tables its compactions build, the walk, the
// queues and the HTTP clients. Measured writing 1M records (docs/benchmarks.md):
// a soft limit of upload.memory + 16 MiB did not slow the index down; 32
// leaves room for the rest.
const memoryHeadroom = 32 << 20

// limitMemory sets the Go runtime's soft memory limit to the upload
// budget plus memoryHeadroom, unless GOMEMLIMIT chose one. Without it the
// heap grows to twice what is live before a collection, and the peaks of
// what is live (a compaction while the upload buffers are full) add up:
// 153 MiB of anonymous memory writing 1M records, 86 with the limit. It is
// soft: a process that needs more gets it, with the collector working
// harder, never an out-of-memory error.
func limitMemory(s settings) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(s.upload.Memory + memoryHeadroom)
}
