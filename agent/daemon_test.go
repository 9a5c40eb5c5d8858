package agent

import (
	"errors"
	"testing"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3ferry/s3ferry/index"
)

func TestWatchOverflowTriggersRescan(t *testing.T) {
	d := &Daemon{Index: index.NewMemory(), Uploader: &fakeUploader{}}
	d.init()
	d.watchError(errors.New("some other error"))
	select {
	case r := <-d.rescans:
		t.Fatalf("a rescan (%s) after a non-overflow error", r.kind)
	default:
	}
	d.watchError(fsnotify.ErrEventOverflow)
	select {
	case r := <-d.rescans:
		if r.kind != rescanPartitions {
			t.Fatalf("rescan kind %s, want partitions", r.kind)
		}
	default:
		t.Fatal("no rescan requested after an overflow")
	}
	if got := testutil.ToFloat64(d.metrics.overflows); got != 1 {
		t.Fatalf("overflow counter = %v, want 1", got)
	}
}
