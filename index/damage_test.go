package index_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/s3ferry/s3ferry/index"
)

// TestOpenVerifiesEachTableOnce checks the record of verified tables: Open
// reads a table whole only when it is new or its file changed, so a table
// garbled through the file system is found at the next Open, even with its
// mtime set back; one whose record was forged to match (as if the disk
// itself had changed it after it was verified) is not read at Open, and
// Check, which reads every table, finds it.
func TestOpenVerifiesEachTableOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTables(t, dir, 90_000)
	closeDB(t, openDB(t, dir))
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	record, err := os.ReadFile(filepath.Join(dir, "s3ferry.verified"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(record), "\n"); len(tables) == 0 || lines != len(tables) {
		t.Fatalf("s3ferry.verified lists %d tables, the index has %d:\n%s", lines, len(tables), record)
	}

	victim := tables[0]
	info, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	garbleMiddle(t, victim)
	if err := os.Chtimes(victim, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, err = index.Open(dir, index.Options{})
	if !errors.Is(err, index.ErrDamaged) {
		t.Fatalf("Open of an index with a table garbled after it was verified: %v, want it damaged", err)
	}

	// Forge the record: the garbled table as it is now, as if verified.
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	var id uint64
	if _, err := fmt.Sscanf(filepath.Base(victim), "%d.sst", &id); err != nil {
		t.Fatal(err)
	}
	var forged []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(record)), "\n") {
		if strings.HasPrefix(line, fmt.Sprint(id)+" ") {
			line = fmt.Sprintf("%d %d %d %d %d", id, st.Size, st.Ino, st.Mtim.Nano(), st.Ctim.Nano())
		}
		forged = append(forged, line)
	}
	if err := os.WriteFile(filepath.Join(dir, "s3ferry.verified"), []byte(strings.Join(forged, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatalf("Open read a table its record says is verified and unchanged: %v", err)
	}
	closeDB(t, db)
	problems, err := index.Check(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), filepath.Base(victim)) {
		t.Fatalf("Check of an index with a garbled table: %q, want the table named", problems)
	}
}

// garbleMiddle overwrites the middle third of the file at path.
func garbleMiddle(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < 2*len(b)/3; i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
