package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// TestMonitoringUsesServedMetrics: every s3ferry_* metric the alert rules
// and the Grafana dashboard query is one a running daemon serves (a
// histogram as its _bucket series), after an upload failed once and then
// succeeded.
func TestMonitoringUsesServedMetrics(t *testing.T) {
	t.Parallel()
	used := map[string][]string{} // metric → the files that use it
	name := regexp.MustCompile(`\bs3ferry_[a-z0-9_]+`)
	for _, f := range []string{"s3ferry.rules.yml", "s3ferry.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "monitoring", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			if !slices.Contains(used[m], f) {
				used[m] = append(used[m], f)
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("the rules and the dashboard use %d s3ferry metrics; the test reads the wrong files", len(used))
	}

	e := newEnv(t)
	p := s3test.NewFaultProxy(t, e.srv.Endpoint, 6)
	d := e.startDaemon(t, "--endpoint-url", p.URL, "--max-attempts", "1")
	p.Set(s3test.Faults{ServerErrors: 1}) // the first upload fails; its retry goes through
	writeNow(t, filepath.Join(e.root, day(0), "a.wav"), "a")
	eventually(t, 30*time.Second, "an upload to fail", func() bool { return d.status(t).Totals.Failed > 0 })
	p.Set(s3test.Faults{})
	eventually(t, 60*time.Second, "the retried upload in the bucket", func() bool { return e.hasKeys(t, day(0)+"/a.wav") })

	resp, err := d.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		served[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	for m, files := range used {
		if !served[m] {
			t.Errorf("%s uses %s, which the daemon does not serve", strings.Join(files, " and "), m)
		}
	}
}
