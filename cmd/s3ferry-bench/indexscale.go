package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader/buckettest"
)

// Synthetic records: 20 agents × 500 calls a day, in the partitions
// before the real tree's 365 days.
const (
	syntheticAgents       = 20
	syntheticCallsPerDay  = 500
	syntheticFilesPerDay  = syntheticAgents * syntheticCallsPerDay
	syntheticVersionIDLen = 32 // as S3's
)

// indexScaleRows measures what a large index costs without its files
// (issue 14): -index-scale records of old partitions, with realistic keys
// and record sizes, are written through the index API beside the records
// of the real tree, as if those files had been backed up years ago and
// were still on disk outside the look-back window. Then the no-op and
// incremental syncs, the index's open and close, its size, and `run`
// (start to ready, steady RSS watching the window) are measured again.
func (b *bench) indexScaleRows(ctx context.Context, root, idx string) error {
	tag := fmt.Sprintf("%d indexed: ", b.scale+b.indexScale)
	src := local.Source{Root: root, Bucket: b.bucket, Prefix: "rec/"}
	fmt.Fprintf(os.Stderr, "adding %d synthetic records to the index...\n", b.indexScale)
	start := time.Now()
	if b.prefilled {
		fmt.Fprintf(os.Stderr, "a copy of the settled index kept in %s\n", b.dir)
	} else {
		if err := prefill(ctx, idx, src.ID(), b.scale, b.indexScale); err != nil {
			return err
		}
		b.add(tag+"prefill through the index API, and compactions", fmt.Sprintf("%.1f s (%.0f records/s)", time.Since(start).Seconds(), float64(b.indexScale)/time.Since(start).Seconds()))
		if b.reuse {
			if err := os.CopyFS(filepath.Join(b.dir, settledDir), os.DirFS(idx)); err != nil {
				return fmt.Errorf("keep the settled index: %w", err)
			}
		}
	}

	start = time.Now()
	db, err := index.Open(idx, index.Options{})
	if err != nil {
		return err
	}
	opened := time.Since(start)
	start = time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	b.add(tag+"index open / close", fmt.Sprintf("%.3f s / %.3f s", opened.Seconds(), time.Since(start).Seconds()))
	size, err := dirSize(idx)
	if err != nil {
		return err
	}
	n := b.scale + b.indexScale
	b.add(tag+"index bytes per file (target ≤ 150)", fmt.Sprintf("%.0f (%.1f MiB)", float64(size)/float64(n), float64(size)/(1<<20)))

	if err := b.noop(ctx, root, idx, tag, "≤ 0.15 s"); err != nil {
		return err
	}
	if err := b.incremental(ctx, root, idx, tag); err != nil {
		return err
	}

	start = time.Now()
	d, err := b.startDaemon(ctx, idx, root, "--partition-layout", "2006-01-02", "--settle", "1s")
	if err != nil {
		return err
	}
	ready := time.Since(start)
	time.Sleep(10 * time.Second) // steady: the start-up walk is over
	m, err := readMem(d.cmd.Process.Pid)
	idle := d.idle(time.Minute)
	if err == nil {
		err = idle.err
	}
	if stopErr := d.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return err
	}
	b.add(tag+"run: start to ready (start-up walk of the window done)", fmt.Sprintf("%.1f s (100 ms polling)", ready.Seconds()))
	b.add(tag+"run: peak RSS from start, start-up compactions included (target ≤ 128 MiB)", fmt.Sprintf("%.0f MiB (steady %.0f: anonymous %.0f, file-backed %.0f)", float64(m.hwm)/(1<<20), float64(m.rss)/(1<<20), float64(m.anon)/(1<<20), float64(m.file)/(1<<20)))
	b.add(tag+"run: idle, watching the window", idle.String())
	if !b.inventory {
		return nil
	}
	return b.inventoryRows(ctx, root, idx, src, tag)
}

// settledDir is where -reuse keeps the settled large index in -dir.
const settledDir = "index-settled"

// restoreSettled, when -dir holds a settled large index that -reuse kept,
// replaces idx with a copy of it and removes the files the large-index
// rounds of the last run added to the tree (absent from the copy), and
// says whether it did.
func (b *bench) restoreSettled(root, idx string) (bool, error) {
	if b.indexScale == 0 {
		return false, errors.New("-reuse keeps the large index: it needs -index-scale")
	}
	settled := filepath.Join(b.dir, settledDir)
	if _, err := os.Stat(settled); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	fmt.Fprintf(os.Stderr, "starting from the settled index in %s...\n", settled)
	if err := os.RemoveAll(idx); err != nil {
		return false, err
	}
	if err := os.CopyFS(idx, os.DirFS(settled)); err != nil {
		return false, fmt.Errorf("copy the settled index: %w", err)
	}
	added, err := filepath.Glob(filepath.Join(root, "*", "agent99", fmt.Sprintf("new%d indexed: *", b.scale+b.indexScale)))
	if err != nil {
		return false, err
	}
	for _, p := range added {
		if err := os.Remove(p); err != nil {
			return false, err
		}
	}
	b.prefilled = true
	return true, nil
}

// inventoryRowsPerFile is how many rows of the generated inventory go in
// one data file.
const inventoryRowsPerFile = 250_000

// inventoryRows measures `s3ferry verify --inventory` against the large
// index: an S3 Inventory report in AWS's layout with a row for every
// record (what the bucket would hold, had the synthetic files been
// uploaded) is written into the bucket, and verify reads it instead of
// listing.
func (b *bench) inventoryRows(ctx context.Context, root, idx string, src local.Source, tag string) error {
	fmt.Fprintln(os.Stderr, "writing an inventory report of every record...")
	db, err := index.Open(idx, index.Options{})
	if err != nil {
		return err
	}
	var walkErr error
	rows := func(yield func(buckettest.InventoryRow) bool) {
		walkErr = db.Records(src.ID(), "", func(rel string, r index.Record) error {
			if !yield(buckettest.InventoryRow{Key: src.Prefix + rel, VersionID: r.VersionID, IsLatest: true, Size: r.Size, ETag: r.ETag, ReplicationStatus: "COMPLETED"}) {
				return errStop
			}
			return nil
		})
	}
	manifest, err := buckettest.WriteInventory(ctx, b.client.Bucket(b.bucket), b.bucket, "inventory/"+b.bucket+"/daily/", inventoryRowsPerFile, rows)
	if cerr := db.Close(); err == nil {
		err = cmp.Or(walkErr, cerr)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	rep, run, err := b.runVerify(ctx, root, idx, b.srv.Endpoint, "--inventory", "s3://"+b.bucket+"/"+manifest)
	if err != nil {
		return err
	}
	if rep.Problems() != 0 || rep.Listed != rep.Records {
		return fmt.Errorf("verify --inventory found %d problems in %d rows against %d records, want none", rep.Problems(), rep.Listed, rep.Records)
	}
	b.add(tag+"verify --inventory of every record (target ≤ 60 s, ≤ 128 MiB at 10M)", fmt.Sprintf("%.1f s, peak RSS %s (%d rows in %d-row data files)", time.Since(start).Seconds(), run.rss(), rep.Listed, inventoryRowsPerFile))
	return nil
}

// errStop ends a walk of the index early.
var errStop = errors.New("stop")

// prefill commits n synthetic records of source, in the partitions before
// the real tree's 365 days, to the index in dir, and checks that the
// index then holds them beside the real tree's.
func prefill(ctx context.Context, dir, source string, real, n int) error {
	db, err := index.Open(dir, index.Options{})
	if err != nil {
		return err
	}
	if err := fill(db, source, real, n); err != nil {
		db.Close()
		return err
	}
	// An index of this size is built over months and settled: its
	// compactions are not the next run's to do (nor to measure).
	// The 9M-record prefill and its compactions took 208 s in all: fail
	// rather than hang if they have not ended in half an hour.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := db.Settle(ctx); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

func fill(db *index.DB, source string, real, n int) error {
	before, _, err := db.Count(source)
	if err != nil {
		return err
	}
	if before < int64(real) {
		return fmt.Errorf("the index has %d records of the bench's source, want at least %d: the source's ID is not sync's", before, real)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	first := time.Now().AddDate(0, 0, -366)
	var (
		id   [syntheticVersionIDLen * 3 / 4]byte // base64: 32 characters
		etag [16]byte
		crc  [4]byte
	)
	// From the oldest day on, as an index grows: a sync's records come
	// after those before it.
	for i := n - 1; i >= 0; i-- {
		day := first.AddDate(0, 0, -i/syntheticFilesPerDay)
		k := i % syntheticFilesPerDay
		rel := fmt.Sprintf("%s/agent%02d/call-%07d.wav", day.Format("2006-01-02"), k%syntheticAgents, i)
		binary.LittleEndian.PutUint64(id[:], rng.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rng.Uint64())
		binary.LittleEndian.PutUint64(id[16:], rng.Uint64())
		binary.LittleEndian.PutUint64(etag[:], rng.Uint64())
		binary.LittleEndian.PutUint64(etag[8:], rng.Uint64())
		binary.LittleEndian.PutUint32(crc[:], rng.Uint32())
		mtime := day.Add(time.Duration(k) * time.Second).UnixNano()
		rec := index.Record{
			Size: 8<<10 + rng.Int64N(1<<20), MtimeNs: mtime, Inode: uint64(10_000_000 + i), Hash: rng.Uint64(),
			ETag: hex.EncodeToString(etag[:]), VersionID: base64.RawURLEncoding.EncodeToString(id[:]),
			Checksum: "CRC32C:" + base64.StdEncoding.EncodeToString(crc[:]), UploadedNs: mtime + int64(time.Minute),
		}
		if err := db.Commit(source, rel, rec, 0); err != nil {
			return err
		}
		if i%1_000_000 == 0 {
			fmt.Fprintf(os.Stderr, "  %d records\n", n-i)
		}
	}
	after, _, err := db.Count(source)
	if err != nil {
		return err
	}
	if after != before+int64(n) {
		return fmt.Errorf("the index has %d records after the prefill, want %d", after, before+int64(n))
	}
	return nil
}

// mem is what /proc/PID/status says of a process's memory, in bytes.
type mem struct{ rss, hwm, anon, file int64 }

func readMem(pid int) (mem, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	var m mem
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m, nil
}
