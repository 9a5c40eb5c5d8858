package index_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/s3ferry/s3ferry/index"
)

// The numbers in docs/benchmarks.md come from
//
//	go test -run '^$' -bench 'QueueCommit$' -benchtime 1000000x ./index
//	go test -run '^$' -bench 'Get' ./index
//
// each op is one file through the pipeline: Queue, then Commit. Peak RSS is
// the process's, so run one benchmark per process when it matters.

func BenchmarkQueueCommit(b *testing.B) {
	dir := b.TempDir()
	db := openDB(b, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	var i int
	for b.Loop() {
		path := benchPath(i)
		i++
		p, err := db.Queue("src", path)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Commit("src", path, benchRecord(rng), p.Seq); err != nil {
			b.Fatal(err)
		}
	}
	reportSize(b, db, dir)
}

// BenchmarkQueueCommitParallel is the upload pool: 8 goroutines committing
// to one source, so most transactions contend for its counts.
func BenchmarkQueueCommitParallel(b *testing.B) {
	dir := b.TempDir()
	db := openDB(b, dir)
	var next, workers atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(workers.Add(1)), 2))
		for pb.Next() {
			path := benchPath(int(next.Add(1)))
			p, err := db.Queue("src", path)
			if err != nil {
				b.Error(err)
				return
			}
			if err := db.Commit("src", path, benchRecord(rng), p.Seq); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportSize(b, db, dir)
}

// BenchmarkGet is a lookup of one file (the watcher's, or a walk's of a
// changed file), in an index of 200,000 records.
func BenchmarkGet(b *testing.B) {
	const n = 200_000
	db := openDB(b, b.TempDir())
	defer closeDB(b, db)
	rng := loadBench(b, db, n)
	for b.Loop() {
		path := benchPath(rng.IntN(n))
		if _, ok, err := db.Get("src", path); err != nil || !ok {
			b.Fatalf("Get %q: ok %v, %v", path, ok, err)
		}
	}
}

// BenchmarkGetMany is a walk's lookup of a directory's files: 128 of one
// camera's folder at a time, in an index of 200,000 records.
func BenchmarkGetMany(b *testing.B) {
	const n, batch = 200_000, 128
	db := openDB(b, b.TempDir())
	defer closeDB(b, db)
	rng := loadBench(b, db, n)
	paths := make([]string, batch)
	for b.Loop() {
		first := rng.IntN(n - 16*batch)
		for j := range paths {
			paths[j] = benchPath(first + 16*j) // same camera: i%16
		}
		err := db.GetMany("src", paths, func(i int, _ index.Record, ok bool) error {
			if !ok {
				return fmt.Errorf("no record of %q", paths[i])
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/path")
}

// loadBench commits n records and returns the random source it used.
func loadBench(b *testing.B, db *index.DB, n int) *rand.Rand {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if err := db.Commit("src", benchPath(i), benchRecord(rng), 0); err != nil {
			b.Fatal(err)
		}
	}
	return rng
}

// benchPath spreads files over date folders and cameras, 20,000 a day.
func benchPath(i int) string {
	day := i / 20_000
	return fmt.Sprintf("2026/%02d/%02d/cam%02d/rec-%07d.wav", 1+day/28%12, 1+day%28, i%16, i)
}

// benchRecord returns a record with S3-like random ETag and version ID.
func benchRecord(rng *rand.Rand) index.Record {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	vid := make([]byte, 32)
	for j := range vid {
		vid[j] = b64[rng.IntN(len(b64))]
	}
	return index.Record{
		Size:       rng.Int64N(100 << 20),
		MtimeNs:    1_795_000_000_000_000_000 + rng.Int64N(1e15),
		Inode:      rng.Uint64N(1 << 32),
		Hash:       rng.Uint64(),
		ETag:       fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()),
		VersionID:  string(vid),
		Checksum:   "CRC32C:" + string(vid[:6]) + "==",
		UploadedNs: 1_795_000_000_000_000_000 + rng.Int64N(1e15),
	}
}

// reportSize closes db and reports the disk it takes per record and the
// process's memory.
func reportSize(b *testing.B, db *index.DB, dir string) {
	b.Helper()
	status := procStatus(b)
	closeDB(b, db)
	var disk int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		disk += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(disk)/float64(b.N), "disk-B/record")
	b.ReportMetric(float64(status["VmHWM"])/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(status["RssAnon"])/1024, "anon-RSS-MiB")
}

// procStatus returns the kB figures of /proc/self/status by name.
func procStatus(tb testing.TB) map[string]int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	m := make(map[string]int64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if fields := strings.Fields(rest); ok && len(fields) == 2 && fields[1] == "kB" {
			m[name], _ = strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return m
}
