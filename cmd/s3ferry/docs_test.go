package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The documentation is README.md and docs/*.md, relative to this package.
const repoRoot = "../.."

// TestReadmeQuickStart follows the README's quick start as a newcomer
// would: every s3ferry command of its shell blocks, in order and as
// written, against MinIO; only the example's tree, bucket and restore
// directory are replaced by the test's, and the index directory is given
// through the environment (S3FERRY_INDEX_DIR), as the test may run as root.
// Each must exit 0, and the restore must bring the partition back.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	today := time.Now().Format("2006-01-02")
	e.write(t, "2026-11-21/agent07/call-1.wav", "old call", 30*24*time.Hour)
	e.write(t, today+"/agent07/call-2.wav", "new call", time.Minute)
	restoreTo := filepath.Join(t.TempDir(), "restore")

	cmds := readmeCommands(t, "Quick start")
	if len(cmds) < 5 {
		t.Fatalf("the quick start has %d s3ferry commands, want doctor, sync, status, restore and verify: %q", len(cmds), cmds)
	}
	r := strings.NewReplacer(
		"/home/archive/RECORDINGS", e.root,
		"s3://call-recording-backup/recordings/", "s3://"+e.bucket+"/rec/",
		"/srv/restore", restoreTo,
	)
	env := append(e.srv.Env(), "S3FERRY_INDEX_DIR="+e.index)
	for _, c := range cmds {
		args := strings.Fields(r.Replace(c))[1:]
		res := runBinary(t, 2*time.Minute, env, nil, args...)
		if res.code != 0 {
			t.Fatalf("README: %s\nexit %d\nstdout: %s\nstderr: %s", c, res.code, res.stdout, res.stderr)
		}
	}
	got, err := os.ReadFile(filepath.Join(restoreTo, "2026-11-21", "agent07", "call-1.wav"))
	if err != nil || string(got) != "old call" {
		t.Errorf("restored file = %q, %v; want the uploaded content", got, err)
	}
}

// readmeCommands returns the s3ferry command lines of the shell blocks in
// the README's section titled section, continuation lines joined and
// comments dropped.
func readmeCommands(tb testing.TB, section string) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	var cmds []string
	in, block, line := false, false, ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "## "):
			in = text == "## "+section
		case in && strings.HasPrefix(text, "```"):
			block = !block && text == "```sh"
		case in && block:
			text, _, _ = strings.Cut(text, "#")
			line += strings.TrimSpace(text)
			if cont, ok := strings.CutSuffix(line, `\`); ok {
				line = cont + " "
				continue
			}
			if strings.HasPrefix(line, "s3ferry ") {
				cmds = append(cmds, line)
			}
			line = ""
		}
	}
	return cmds
}

// TestDocsLinks: every link of README.md and docs/*.md to a file of the
// repository names one that exists and, with #anchor, a heading of it.
func TestDocsLinks(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(repoRoot, "README.md"))
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", filepath.Base(doc), target, err)
				continue
			}
			if anchor != "" && !headingAnchors(t, path)[anchor] {
				t.Errorf("%s: link %s: no heading of %s has that anchor", filepath.Base(doc), target, filepath.Base(path))
			}
		}
	}
}

// headingAnchors are the anchors GitHub gives a markdown file's headings.
func headingAnchors(tb testing.TB, path string) map[string]bool {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	block := false
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "```") {
			block = !block
		}
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if block || !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		a := drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(title)), "")
		anchors[strings.ReplaceAll(a, " ", "-")] = true
	}
	return anchors
}
