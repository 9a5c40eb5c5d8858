package uploader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// appendOnWrite appends to the file at path the first time it is written
// to: a writer that changes the file while HashFile reads it.
type appendOnWrite struct {
	path string
	done bool
}

func (a *appendOnWrite) Write(p []byte) (int, error) {
	if !a.done {
		a.done = true
		f, err := os.OpenFile(a.path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if _, err := f.Write([]byte("more")); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func TestHashFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	content := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: several reads
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *os.File {
		t.Helper()
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	var seen bytes.Buffer
	hash, info, err := HashFile(t.Context(), open(path), &seen)
	if err != nil {
		t.Fatal(err)
	}
	if want := xxhash.Sum64(content); hash != want || info.Size() != int64(len(content)) || !bytes.Equal(seen.Bytes(), content) {
		t.Fatalf("HashFile = %016x, size %d, %d bytes to extra; want %016x, %d, all of them", hash, info.Size(), seen.Len(), want, len(content))
	}

	_, _, err = HashFile(t.Context(), open(path), &appendOnWrite{path: path})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("HashFile of a file appended to while read = %v, want ErrChanged", err)
	}
	if _, _, err := HashFile(t.Context(), open(t.TempDir()), nil); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("HashFile of a directory = %v, want ErrNotRegular", err)
	}
}
