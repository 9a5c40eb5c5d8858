package uploader_test

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestUploadMemoryBudget: many uploads at once, of files whose buffers
// together are far above the memory budget, all complete, and the buffers
// they held at once never exceeded the budget.
func TestUploadMemoryBudget(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, false)
	cfg := smallConfig(srv) // 5 MiB parts
	cfg.Memory = 6 << 20
	up := use(client, cfg)

	// Buffers of 5 MiB (below the part size), 1 MiB (a multipart file's
	// hash pass and a 600 KiB file) and 64 KiB: 4×5 + 14×1 + 30×64 KiB, over
	// 5 times the budget if all were held at once.
	var sizes []int
	for range 4 {
		sizes = append(sizes, 4<<20+512<<10, 6<<20)
	}
	for range 10 {
		sizes = append(sizes, 600<<10)
	}
	for range 30 {
		sizes = append(sizes, 10<<10)
	}
	dir := t.TempDir()
	data := make([][]byte, len(sizes))
	results := make([]uploader.Result, len(sizes))
	var g errgroup.Group // every upload at once: the budget alone bounds them
	for i, size := range sizes {
		data[i] = randomBytes(size)
		path := writeFile(t, dir, fmt.Sprint(i), data[i])
		g.Go(func() error {
			var err error
			results[i], err = up.Upload(context.Background(), uploader.Job{Bucket: bucket, Key: fmt.Sprint(i), Path: path})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range sizes {
		s3test.CheckObject(t, client, bucket, fmt.Sprint(i), results[i], "CRC32C", data[i])
	}
	peak := uploader.MemoryPeak(up)
	if peak > cfg.Memory {
		t.Errorf("buffers held at once: %d bytes, above the budget of %d", peak, cfg.Memory)
	}
	if peak < uploader.MinPartSize {
		t.Errorf("buffers held at once: %d bytes, want at least one part-size buffer (%d): the count misses buffers", peak, uploader.MinPartSize)
	}
}
