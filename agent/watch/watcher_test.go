package watch

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/local"
)

func TestOutOfWatchesIsReportedOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w, err := New(nil, time.UTC, log)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 3 {
		w.addFailed(FileKey{Src: &local.Source{Root: "/some"}, Rel: "dir"}, fmt.Errorf("add watch: %w", syscall.ENOSPC))
	}
	if !w.full {
		t.Fatal("Watcher does not record that it ran out of watches")
	}
	if n := strings.Count(logs.String(), "max_user_watches"); n != 1 {
		t.Fatalf("logged %d times, want once with the sysctl to raise:\n%s", n, logs.String())
	}
}
