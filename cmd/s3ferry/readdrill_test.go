package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

// TestRunReadDrill: the daemon with verify.read-sample runs the drill at
// start and every read-interval; its metrics count what it read and when
// it last read everything back; a recorded version gone makes /healthz
// fail and status name the file.
func TestRunReadDrill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.randomFile(t, fmt.Sprintf("d/%d.wav", i), 2000+i)
	}
	gone := e.randomFile(t, "d/gone.wav", 500)
	e.sync(t, 0)
	cfg := filepath.Join(t.TempDir(), "s3ferry.yml")
	if err := os.WriteFile(cfg, []byte("verify:\n  read-sample: all\n  read-interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := e.startDaemon(t, "--config", cfg)
	if v := d.metric(t, "s3ferry_read_check_interval_seconds"); v != 1 {
		t.Errorf("s3ferry_read_check_interval_seconds = %v, want 1", v)
	}
	eventually(t, 30*time.Second, "a clean drill", func() bool {
		return d.metric(t, "s3ferry_read_check_last_success_timestamp_seconds") > 0
	})
	if objects, bytes := d.metric(t, "s3ferry_read_check_objects_total"), d.metric(t, "s3ferry_read_check_bytes_total"); objects < 4 || bytes < 2000+2001+2002+500 {
		t.Errorf("after a clean drill: %v objects, %v bytes read; want the 4 files' at least", objects, bytes)
	}
	if code, body := healthzOf(t, d.get); code != http.StatusOK {
		t.Fatalf("/healthz after a clean drill: %d %s", code, body)
	}

	e.dropVersion(t, "d/gone.wav", gone)
	eventually(t, 30*time.Second, "/healthz to fail", func() bool { code, _ := healthzOf(t, d.get); return code != http.StatusOK })
	if _, body := healthzOf(t, d.get); !strings.Contains(body, "restore drill") || !strings.Contains(body, "gone.wav") {
		t.Errorf("/healthz: %s", body)
	}
	if v := d.metric(t, `s3ferry_read_check_failures_total{kind="missing"}`); v < 1 {
		t.Errorf("missing versions counted %v, want 1 or more", v)
	}
	st := d.status(t)
	if r := st.ReadCheck; r == nil || r.Missing != 1 || len(r.Problems) != 1 || r.Problems[0].Path != "d/gone.wav" || r.Problems[0].Kind != bucket.FindingReadMissing {
		t.Fatalf("status read check %+v: want d/gone.wav gone", st.ReadCheck)
	}
	r := e.run(t, "status", "--index-dir", "{index}")
	if !strings.Contains(r.stdout, "restore drill (all every 1s)") || !strings.Contains(r.stdout, "read-missing") {
		t.Errorf("s3ferry status:\n%s\n%s", r.stdout, r.stderr)
	}
}
