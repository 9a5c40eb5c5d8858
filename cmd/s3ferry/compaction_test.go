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
// Measured on a quiet machine with level 0 alone to compact: 55-58 MiB,
// and 61-67 MiB with compactions beside the start-up walk and a releaser
// that stops while compactors stop; once 68 MiB under a load of 30. Since
// a one-shot run compacts an index it doubled, the test's level 0 lies
// over a compacted index half again its size, which the compactions merge
// it with: 61-66 MiB quiet, 60-63 built with -race. The bound leaves room
// for a loaded CI machine, so it catches a compaction whose memory is not
// bounded (the 280 MiB of table pages a frozen releaser let pile up at 10M
// records), not those few MiB.
const runCompactionMemory = 76 << 20

// TestRunCompactsWithinItsMemory drives Badger's compactions under a real
// `s3ferry run`: a one-shot run into an index larger than what it writes
// leaves them to the daemon, so the test leaves an index as such runs do,
// level 0 over its target in many small tables (each flush of a small
// memtable is one) above a compacted index twice their size, and the
// daemon's start-up compacts them while it walks the tree and uploads.
func TestRunCompactsWithinItsMemory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 200 {
		writeNow(t, filepath.Join(e.root, "new", fmt.Sprintf("f%03d.wav", i)), strings.Repeat("x", 64<<10))
	}
	src := sourceID(t, e)
	// commit writes records from from on until n more table files
	// exist (Badger's flushes); it returns the next record.
	commit := func(idx *index.DB, from, n int) int {
		t.Helper()
		want := len(tables(t, e.index)) + n
		i := from
		for ; len(tables(t, e.index)) < want; i++ {
			if i-from == 300_000 {
				t.Fatalf("%d records flushed fewer than %d tables", i-from, n)
			}
			r := index.Record{Size: int64(i), MtimeNs: int64(i), ETag: "0123456789abcdef0123456789abcdef", VersionID: "0123456789abcdef0123456789abcdef"}
			if err := idx.Commit(src, fmt.Sprintf("old/2024-01-%02d/agent%02d/call-%07d.wav", 1+i%28, i%20, i), r, 0); err != nil {
				t.Fatal(err)
			}
		}
		return i
	}
	opts := index.Options{DeferCompactions: true, MemTableSize: 512 << 10}
	// The index before: a one-shot run that filled it from empty, half
	// again what the next one writes, so that one does not double it; its
	// own Close compacts (it did).
	idx, err := index.Open(e.index, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := commit(idx, 0, 9)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	base := tables(t, e.index)
	// The run that leaves its compactions: six flushes, over Badger's 5,
	// short of the 8 at which a one-shot run compacts.
	idx, err = index.Open(e.index, opts)
	if err != nil {
		t.Fatal(err)
	}
	commit(idx, n, 6)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	before := tables(t, e.index)
	for name := range base {
		delete(before, name)
	}
	if len(before) < 6 {
		t.Fatalf("the one-shot run left %d new tables, want its 6 flushes (and its Close's): did it compact?", len(before))
	}

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
