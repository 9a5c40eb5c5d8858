package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool returns the pinned promtool make test builds (S3FERRY_PROMTOOL).
func promtool(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("S3FERRY_PROMTOOL")
	if p == "" {
		skipOrFail(tb, "S3FERRY_PROMTOOL is not set: run make test, which builds the pinned promtool")
	}
	if _, err := os.Stat(p); err != nil {
		skipOrFail(tb, "promtool: "+err.Error()+": run make test, which builds it")
	}
	return p
}

// TestAlertRules: promtool accepts the rules and passes their unit tests,
// and every alert has a summary and a runbook that points at a section of
// docs/monitoring.md that exists.
func TestAlertRules(t *testing.T) {
	tool := promtool(t)
	for _, args := range [][]string{{"check", "rules", "s3ferry.rules.yml"}, {"test", "rules", "s3ferry.rules.test.yml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = "monitoring"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "monitoring/s3ferry.rules.yml", &rules)
	anchors := runbookAnchors(t)
	tested, err := os.ReadFile("monitoring/s3ferry.rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			a := r.Annotations
			if a["summary"] == "" || !strings.HasPrefix(a["runbook"], r.Alert+": ") {
				t.Errorf("%s: want a summary and a runbook line that starts with its name, got %q", r.Alert, a)
			}
			_, anchor, _ := strings.Cut(a["runbook_url"], "/docs/monitoring.md#")
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q points at no section of docs/monitoring.md", r.Alert, a["runbook_url"])
			}
		}
	}
	if n < 9 {
		t.Errorf("%d alerts, want at least the 9 the issue names", n)
	}
	for _, alert := range []string{"S3ferryDown", "S3ferryUnhealthy", "S3ferryQueueGrowing"} {
		if !strings.Contains(string(tested), "alertname: "+alert+"\n") {
			t.Errorf("s3ferry.rules.test.yml does not test %s", alert)
		}
	}
}

// runbookAnchors are the anchors GitHub gives the headings of the runbook,
// docs/monitoring.md.
func runbookAnchors(tb testing.TB) map[string]bool {
	tb.Helper()
	b, err := os.ReadFile("../docs/monitoring.md")
	if err != nil {
		tb.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		if title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			a := drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(title)), "")
			anchors[strings.ReplaceAll(a, " ", "-")] = true
		}
	}
	return anchors
}

// TestDashboard: the Grafana dashboard is valid JSON with a host selector
// and a row repeated per host, and every panel queries Prometheus.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("monitoring", "s3ferry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
				Multi      bool   `json:"multi"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Repeat  string `json:"repeat"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("s3ferry.json is not valid JSON: %v", err)
	}
	hosts := false
	for _, v := range d.Templating.List {
		hosts = hosts || v.Name == "instance" && v.Multi && strings.Contains(v.Definition, "instance")
	}
	if !hosts {
		t.Errorf("no multi-valued instance variable: the dashboard has no host selector")
	}
	if len(d.Panels) == 0 || d.Panels[0].Type != "row" || d.Panels[0].Repeat != "instance" {
		t.Errorf("the first panel is not a row repeated per instance")
	}
	for _, p := range d.Panels[1:] {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: %s does not select the row's host", p.Title, tg.Expr)
			}
		}
	}
}
