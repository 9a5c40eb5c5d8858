package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/index"
)

// runCompactionMemory is the peak resident memory (VmHWM) `s3ferry run`
// may reach while it compacts the test's index: the binary's pages, the
// Go runtime, two 8 MiB memtables, the tables Badger builds and those it
// reads. At 10M records the target is 128 MiB (docs/benchmarks.md).
// Measured on a quiet machine: 55-58 MiB, and 61-67 MiB with compactions
// beside the start-up walk and a releaser that stops while compactors
// stop; once 68 MiB under a load of 30. The bound leaves room for a loaded
// CI machine, so it catches a compaction whose memory is not bounded (the
// 280 MiB of table pages a frozen releaser let pile up at 10M records),
// not those few MiB.
const runCompactionMemory = 76 << 20

// TestRunCompactsWithinItsMemory drives Badger's compactions under a real
// `s3ferry run`: one-shot runs leave them to the daemon, so the test
// leaves an index as they do, level 0 over its target in many small
// tables (each flush of a small memtable is one), and the daemon's
// start-up compacts them while it walks the tree and uploads.
func TestRunCompactsWithinItsMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 200 {
		writeNow(t, filepath.Join(e.root, "new", fmt.Sprintf("f%03d.wav", i)), strings.Repeat("x", 64<<10))
	}
	idx, err := index.Open(e.index, index.Options{DeferCompactions: true, MemTableSize: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	src := sourceID(t, e)
	// Six flushes: over Badger's 5, short of the 8 at which a one-shot
	// run compacts.
	for i := 0; len(tables(t, e.index)) < 6; i++ {
		if i == 300_000 {
			t.Fatalf("%d records flushed %d tables, want 6", i, len(tables(t, e.index)))
		}
		r := index.Record{Size: int64(i), MtimeNs: int64(i), ETag: "0123456789abcdef0123456789abcdef", VersionID: "0123456789abcdef0123456789abcdef"}
		if err := idx.Commit(src, fmt.Sprintf("old/2024-01-%02d/agent%02d/call-%07d.wav", 1+i%28, i%20, i), r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	before := tables(t, e.index)

	d := e.startDaemon(t)
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		for {
			if kb, ok := vmHWM(d.cmd.Process.Pid); ok {
				hwm = max(hwm, kb<<10)
			}
			select {
			case <-d.done:
				peak <- hwm
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	eventually(t, 60*time.Second, "the daemon to compact the tables it found", func() bool {
		now := tables(t, e.index)
		for name := range before {
			if now[name] {
				return false
			}
		}
		return true
	})
	eventually(t, 60*time.Second, "the new files", func() bool {
		return d.status(t).Sources[0].Pending == 0 && e.hasKeys(t, "new/f000.wav", "new/f199.wav")
	})
	if code := d.stop(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, d.out)
	}
	got := <-peak
	t.Logf("s3ferry run peaked at %d MiB compacting %d tables", got>>20, len(before))
	if got > runCompactionMemory {
		t.Errorf("s3ferry run peaked at %d MiB of resident memory compacting %d tables, want at most %d MiB", got>>20, len(before), runCompactionMemory>>20)
	}
}

// tables returns the names of the index's table files.
func tables(tb testing.TB, dir string) map[string]bool {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[filepath.Base(n)] = true
	}
	return out
}

// vmHWM reads the peak resident memory of process pid, in KiB; false once
// it has exited.
func vmHWM(pid int) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
