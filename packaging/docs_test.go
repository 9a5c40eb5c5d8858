package packaging

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// extractDeb unpacks the .deb's files into a temporary directory.
func extractDeb(tb testing.TB) string {
	tb.Helper()
	deb, _ := packages(tb)
	need(tb, "dpkg-deb")
	dir := tb.TempDir()
	run(tb, "dpkg-deb", "-x", deb, dir)
	return dir
}

// TestManPage: the packaged s3ferry.1.gz renders without a warning and has
// every command, its examples and the flags' environment variables.
func TestManPage(t *testing.T) {
	root := extractDeb(t)
	needAPT(t, "groff", "groff-base", "the man page is not rendered")
	f, err := os.Open(filepath.Join(root, "usr/share/man/man1/s3ferry.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww")
	cmd.Stdin = strings.NewReader(string(page))
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff -man -Tutf8 -ww: %v\n%s", err, stderr.String())
	}
	// groff emboldens by overstriking; read the plain text.
	plain := dedupOverstrike(string(out))
	for _, want := range []string{"SYNOPSIS\n       s3ferry sync [options]", "s3ferry index rebuild", "78     run:", "*.tmp, *.part", "S3FERRY(1)", "sync", "run", "status", "config", "check", "Examples:", "S3FERRY_LOOKBACK", "S3FERRY_ADMIN_LISTEN", "EXIT STATUS"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	if strings.Contains(plain, "Usage:") {
		t.Errorf("the man page has a stray Usage: block")
	}
	if strings.Contains(plain, "docs man") {
		t.Errorf("the man page shows the hidden docs command")
	}
}

// dedupOverstrike removes groff's overstrike: "c\bc" is a bold c, "_\bc" an
// underlined one.
func dedupOverstrike(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		if i+2 < len(r) && r[i+1] == '\b' {
			continue
		}
		if r[i] == '\b' {
			continue
		}
		b.WriteRune(r[i])
	}
	return b.String()
}

// TestShellCompletion: the packaged bash completion, sourced by bash
// without bash-completion's helpers, completes `s3ferry sy` to sync and
// `s3ferry conf` to config by asking the packaged binary; zsh's and fish's
// are for s3ferry.
func TestShellCompletion(t *testing.T) {
	root := extractDeb(t)
	complete := func(words ...string) string {
		t.Helper()
		script := `source "$ROOT/usr/share/bash-completion/completions/s3ferry"
COMP_WORDS=(` + strings.Join(words, " ") + `)
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_s3ferry_complete
printf '%s\n' "${COMPREPLY[@]}"
`
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
		cmd.Env = append(os.Environ(), "ROOT="+root, "PATH="+filepath.Join(root, "usr/bin")+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"s3ferry", "sy"}, "sync"},
		{[]string{"s3ferry", "conf"}, "config"},
		{[]string{"s3ferry", "config", "ch"}, "check"},
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("bash completes %q to %q, want %q", c.words, got, c.want)
		}
	}

	zsh, err := os.ReadFile(filepath.Join(root, "usr/share/zsh/vendor-completions/_s3ferry"))
	if err != nil || !strings.HasPrefix(string(zsh), "#compdef s3ferry\n") {
		t.Errorf("zsh completion: %v, want it to start with #compdef s3ferry:\n%.200s", err, zsh)
	}
	fish, err := os.ReadFile(filepath.Join(root, "usr/share/fish/vendor_completions.d/s3ferry.fish"))
	if err != nil || !strings.Contains(string(fish), "-c s3ferry -n '__fish_s3ferry_no_subcommand' -a 'sync'") {
		t.Errorf("fish completion: %v, want it to complete the sync command:\n%.300s", err, fish)
	}
}
