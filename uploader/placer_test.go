package uploader_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/beneath"
)

// TestDownloadPlacerBatch: downloads handed to a Placer appear under their
// names only once their batch is placed, and a batch short of Files is
// placed once its first file has waited Wait, without Close.
func TestDownloadPlacerBatch(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	ctx := context.Background()
	data, res := uploadForRanges(t, up, "b", "k", 8<<10)
	to := t.TempDir()
	p := uploader.NewPlacer(uploader.PlacerOptions{Files: 3, Wait: 50 * time.Millisecond})
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	placed := make(chan error, 3)
	download := func(rel string) {
		t.Helper()
		_, err := uploader.Download(ctx, fake, uploader.DownloadJob{
			Key: "k", VersionID: res.VersionID, Root: beneath.New(to, beneath.Options{}), Rel: rel,
			Placer: p, Placed: func(_ uploader.DownloadResult, err error) { placed <- err },
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// One file alone: placed once it has waited, though the batch is not
	// full and the Placer not closed. The bound is generous: it says
	// "not held forever", not how fast.
	download("a/one")
	select {
	case err := <-placed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone finished file was not placed within 10s of a 50ms wait")
	}
	checkWhole(t, to, "a/one", data)

	// A file placed over by another (no Overwrite) is left alone.
	if err := os.WriteFile(filepath.Join(to, "a", "two"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := uploader.Download(ctx, fake, uploader.DownloadJob{
		Key: "k", VersionID: res.VersionID, Root: beneath.New(to, beneath.Options{}), Rel: "a/two",
		Placer: p, Placed: func(_ uploader.DownloadResult, err error) { placed <- err },
	})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("download over an existing file: %v, want fs.ErrExist", err)
	}
	p.Close()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(to, "a", "two")); string(b) != "mine" {
		t.Errorf("a/two holds %q, want it left alone", b)
	}
}

// TestDownloadPlacerHoldsUntilPlaced: a finished file waits in its private
// temporary name until its batch is placed; Close places it.
func TestDownloadPlacerHoldsUntilPlaced(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	ctx := context.Background()
	data, res := uploadForRanges(t, up, "b", "k", 8<<10)
	to := t.TempDir()
	p := uploader.NewPlacer(uploader.PlacerOptions{Files: 100, Wait: time.Hour})
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	placed := make(chan error, 1)
	if _, err := uploader.Download(ctx, fake, uploader.DownloadJob{
		Key: "k", VersionID: res.VersionID, Root: beneath.New(to, beneath.Options{}), Rel: "k",
		Placer: p, Placed: func(_ uploader.DownloadResult, err error) { placed <- err },
	}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".s3ferry-") {
		t.Fatalf("before its batch is placed the directory holds %v, want one temporary file", entries)
	}
	p.Close()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := <-placed; err != nil {
		t.Fatal(err)
	}
	checkWhole(t, to, "k", data)
}

// TestDownloadPlacerCancelled: a batch not placed when ctx ends is
// discarded: its temporary files are removed, nothing appears, and Placed
// is told ctx's error.
func TestDownloadPlacerCancelled(t *testing.T) {
	t.Parallel()
	up, fake := onFake(uploader.Config{})
	_, res := uploadForRanges(t, up, "b", "k", 8<<10)
	to := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	p := uploader.NewPlacer(uploader.PlacerOptions{Files: 100, Wait: time.Hour})
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	placed := make(chan error, 1)
	if _, err := uploader.Download(ctx, fake, uploader.DownloadJob{
		Key: "k", VersionID: res.VersionID, Root: beneath.New(to, beneath.Options{}), Rel: "k",
		Placer: p, Placed: func(_ uploader.DownloadResult, err error) { placed <- err },
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	p.Close()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := <-placed; !errors.Is(err, context.Canceled) {
		t.Errorf("placed: %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(to); len(entries) != 0 {
		t.Errorf("after a cancelled batch the directory holds %v, want nothing", entries)
	}
}
