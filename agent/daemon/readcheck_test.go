package daemon

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/agenttest"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// TestReadChecksUpdateMetricsAndHealth runs the daemon's scheduled restore
// drill over a Fake, one file of two a drill: a clean drill counts its
// objects and bytes and sets the last success; one that reads a version
// back corrupt makes /healthz fail and counts the failure, and /healthz
// stays failed while later drills, whose sample may miss the file, read
// it again; once it reads back clean, /healthz is fine.
func TestReadChecksUpdateMetricsAndHealth(t *testing.T) {
	root := t.TempDir()
	src := agenttest.NewSource(t, root, "")
	up, fake := agenttest.NewUploader()
	idx := index.NewMemory()
	content := map[string]string{"a.wav": strings.Repeat("a", 1000), "b.wav": strings.Repeat("b", 2345)}
	for rel, c := range content {
		agenttest.WriteFile(t, root, rel, c)
	}
	sync := &agent.Sync{Sources: []*local.Source{src}, Index: idx, Uploader: up, Options: agent.Options{Settle: agent.NoSettle}}
	if st, err := sync.Run(t.Context()); err != nil || st.Uploaded != 2 {
		t.Fatalf("sync: %+v, %v", st, err)
	}

	d := &Daemon{Sources: []*local.Source{src}, Index: idx, Uploader: up,
		Buckets:    func(string) uploader.Bucket { return fake },
		ReadSample: bucket.ReadSample{Count: 1}, ReadInterval: 20 * time.Millisecond, ReadRate: -1}
	d.init()
	gather := func() string {
		t.Helper()
		mfs, err := d.metrics.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "s3ferry_read_check_") {
				for _, m := range mf.GetMetric() {
					var labels []string
					for _, l := range m.GetLabel() {
						labels = append(labels, l.GetName()+"="+l.GetValue())
					}
					v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
					b.WriteString(mf.GetName() + "{" + strings.Join(labels, ",") + "} " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
				}
			}
		}
		return b.String()
	}
	before := gather()
	for _, k := range admin.ReadFailureKinds() {
		if !strings.Contains(before, "s3ferry_read_check_failures_total{kind="+k+"} 0\n") {
			t.Errorf("before any drill, no failures of kind %s at 0:\n%s", k, before)
		}
	}
	if !strings.Contains(before, "s3ferry_read_check_last_success_timestamp_seconds{} 0\n") || !strings.Contains(before, "s3ferry_read_check_interval_seconds{} 0.02\n") {
		t.Errorf("before any drill:\n%s", before)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.readChecks(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s: health %+v, status %+v\n%s", what, d.Health(), d.reads.snapshot(), gather())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("clean drill", func() bool {
		st := d.reads.snapshot()
		return !st.LastSuccess.IsZero()
	})
	m := gather()
	if !strings.Contains(m, "s3ferry_read_check_bytes_total{} ") || strings.Contains(m, "s3ferry_read_check_bytes_total{} 0\n") ||
		strings.Contains(m, "s3ferry_read_check_last_success_timestamp_seconds{} 0\n") {
		t.Errorf("after a clean drill:\n%s", m)
	}
	if h := d.Health(); !h.OK {
		t.Fatalf("after a clean drill: %+v", h)
	}

	// Rot: b.wav's bytes change, its size, ETag and checksum do not.
	if err := fake.Damage("p/b.wav", "", 100, 1); err != nil {
		t.Fatal(err)
	}
	waitFor("unhealthy /healthz", func() bool { return !d.Health().OK })
	h := d.Health()
	if !strings.Contains(h.Why, "b.wav") || strings.Contains(h.Anonymous, "b.wav") || !strings.Contains(h.Anonymous, "restore drill") {
		t.Errorf("health %+v: want why to name b.wav, anonymous not to", h)
	}
	if st := d.reads.snapshot(); len(st.Problems) != 1 || st.Problems[0].Kind != bucket.FindingReadCorrupt || st.Problems[0].Root != root || st.Problems[0].Path != "b.wav" {
		t.Errorf("status %+v: want b.wav corrupt", st)
	}
	if m := gather(); strings.Contains(m, "s3ferry_read_check_failures_total{kind=corrupt} 0\n") {
		t.Errorf("a corrupt read back not counted:\n%s", m)
	}
	drills := func() int {
		mfs, _ := d.metrics.Gatherer().Gather()
		for _, mf := range mfs {
			if mf.GetName() == "s3ferry_read_check_objects_total" {
				return int(mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
		return 0
	}
	for n := drills(); drills() < n+20; {
		if h := d.Health(); h.OK {
			t.Fatalf("healthy again after %d more versions read, b.wav still rotten: %+v", drills()-n, h)
		}
		time.Sleep(time.Millisecond)
	}

	// The same bit flipped back: the next drill is clean.
	if err := fake.Damage("p/b.wav", "", 100, 1); err != nil {
		t.Fatal(err)
	}
	waitFor("healthy /healthz", func() bool { return d.Health().OK })
}
