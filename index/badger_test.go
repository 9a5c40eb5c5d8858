package index_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/index/indextest"
)

// helperEnv, when set, makes the test binary a helper process that does
// what the value says (see helper) instead of running tests.
const helperEnv = "S3FERRY_INDEX_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helper(mode, os.Getenv(helperEnv+"_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper opens the index in dir and then, by mode:
//
//	hold   prints "ready" and holds the index until stdin closes
//	write  commits 1000 files, queues 10 more, prints "ready <last Seq>",
//	       and waits to be killed
func helper(mode, dir string) error {
	db, err := index.Open(dir, index.Options{Command: "sync"})
	if err != nil {
		return err
	}
	switch mode {
	case "hold":
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return db.Close()
	case "write":
		var last uint64
		for i := range 1010 {
			path := fmt.Sprintf("2026-11-22/%04d.wav", i)
			p, err := db.Queue("src", path)
			if err != nil {
				return err
			}
			last = p.Seq
			if i < 1000 {
				if err := db.Commit("src", path, testRecord(i), p.Seq); err != nil {
					return err
				}
			}
		}
		fmt.Println("ready", last)
		select {}
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// startHelper starts a helper process on dir and returns it once it has
// printed its first line, with the words after "ready".
func startHelper(tb testing.TB, mode, dir string) (*exec.Cmd, io.WriteCloser, []string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_DIR="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start helper: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		words := strings.Fields(s)
		if len(words) == 0 || words[0] != "ready" {
			cmd.Wait()
			tb.Fatalf("helper %s: printed %q, stderr: %s", mode, s, stderr.String())
		}
		return cmd, stdin, words[1:]
	case <-time.After(time.Minute):
		tb.Fatalf("helper %s: not ready after a minute", mode)
		return nil, nil, nil
	}
}

func openDB(tb testing.TB, dir string) *index.DB {
	tb.Helper()
	db, err := index.Open(dir, index.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return db
}

func closeDB(tb testing.TB, db *index.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

func testRecord(i int) index.Record {
	return index.Record{
		Size:       int64(i),
		MtimeNs:    1_790_000_000_000_000_000 + int64(i),
		Inode:      uint64(i),
		Hash:       uint64(i) * 0x9e3779b97f4a7c15,
		ETag:       fmt.Sprintf("%032x", i),
		VersionID:  fmt.Sprintf("v%d", i),
		Checksum:   "CRC32C:AAAAAA==",
		UploadedNs: 1_790_000_001_000_000_000 + int64(i),
	}
}

func TestDB(t *testing.T) {
	indextest.Run(t, indextest.Factory{
		Open:       func(tb testing.TB, dir string) index.Store { return openDB(tb, dir) },
		Persistent: true,
	})
}

// wantLocked checks that err says dir is held by pid.
func wantLocked(tb testing.TB, err error, dir string, pid int) {
	tb.Helper()
	if !errors.Is(err, index.ErrLocked) {
		tb.Fatalf("Open of a held index: error %v, want one matching ErrLocked", err)
	}
	var locked *index.LockedError
	if !errors.As(err, &locked) {
		tb.Fatalf("Open of a held index: error %T, want a *LockedError", err)
	}
	if locked.Dir != dir || locked.PID != pid {
		tb.Errorf("LockedError{Dir: %q, PID: %d}, want {%q, %d}", locked.Dir, locked.PID, dir, pid)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(pid)) {
		tb.Errorf("error %q does not name PID %d", err, pid)
	}
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	if err := db.Commit("src", "a.wav", testRecord(1), 0); err != nil {
		t.Fatal(err)
	}
	db2, err := index.Open(dir, index.Options{})
	if err == nil {
		db2.Close()
	}
	wantLocked(t, err, dir, os.Getpid())

	// Close releases the lock, and the first Open's writes are there.
	closeDB(t, db)
	db = openDB(t, dir)
	defer closeDB(t, db)
	if _, ok, err := db.Get("src", "a.wav"); err != nil || !ok {
		t.Fatalf("Get after reopen: ok %v, error %v; want the record", ok, err)
	}
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd, stdin, _ := startHelper(t, "hold", dir)
	_, err := index.Open(dir, index.Options{})
	wantLocked(t, err, dir, cmd.Process.Pid)

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	closeDB(t, openDB(t, dir))
}

// TestSurvivesKill kills a process with kill -9 after its writes returned:
// they must all be there, and Seq must keep increasing.
func TestSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	cmd, _, words := startHelper(t, "write", dir)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(words) != 1 {
		t.Fatalf("helper printed %q, want the last Seq", words)
	}
	lastSeq, err := strconv.ParseUint(words[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	db := openDB(t, dir)
	defer closeDB(t, db)
	records, pending, err := db.Count("src")
	if err != nil || records != 1000 || pending != 10 {
		t.Fatalf("Count after kill = %d, %d, %v; want 1000, 10", records, pending, err)
	}
	for i := range 1000 {
		r, ok, err := db.Get("src", fmt.Sprintf("2026-11-22/%04d.wav", i))
		if err != nil || !ok || r != testRecord(i) {
			t.Fatalf("Get #%d after kill = %+v, %v, %v; want %+v", i, r, ok, err, testRecord(i))
		}
	}
	p, err := db.Queue("src", "new.wav")
	if err != nil {
		t.Fatal(err)
	}
	if p.Seq <= lastSeq {
		t.Errorf("Queue after kill: Seq %d, want above %d", p.Seq, lastSeq)
	}
}

func TestOpenCreatesDir(t *testing.T) {
	dir := t.TempDir() + "/a/b"
	closeDB(t, openDB(t, dir))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o750); got&^want != 0 {
		t.Errorf("dir mode %v, want at most %v", got, want)
	}
}

func TestGC(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer closeDB(t, db)
	for i := range 100 {
		if err := db.Commit("src", strconv.Itoa(i), testRecord(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.GC(); err != nil {
		t.Fatalf("GC: %v", err)
	}
}
