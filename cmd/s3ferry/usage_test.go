package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelpCommand: `help`, `help COMMAND` and `help COMMAND SUBCOMMAND`
// print the usage on stdout and exit 0.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "s3ferry [global options] command"},
		{[]string{"help", "sync"}, "s3ferry sync [command options] [SRC s3://BUCKET/PREFIX/]"},
		{[]string{"help", "index", "rebuild"}, "s3ferry index rebuild [command options]"},
		{[]string{"help", "completion"}, "s3ferry completion [command options] bash|zsh|fish"},
	} {
		r := runBinary(t, time.Minute, nil, nil, c.args...)
		if r.code != exitOK || !strings.Contains(r.stdout, c.want) {
			t.Errorf("s3ferry %s: exit %d, want 0 and %q on stdout\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), r.code, c.want, r.stdout, r.stderr)
		}
	}
}

// TestUsageMistakes: an unknown command, a command's flag before the
// command and swapped SRC and DEST exit 2 with one line that says what to
// type instead.
func TestUsageMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"synk"}, `s3ferry: unknown command "synk": did you mean "sync"? (s3ferry help lists the commands)`},
		{[]string{"help", "synk"}, `s3ferry: unknown command "synk": did you mean "sync"? (s3ferry help lists the commands)`},
		{[]string{"fr\x1bob"}, `s3ferry: unknown command "fr\x1bob" (s3ferry help lists the commands)`},
		{[]string{"--config", "F", "status"}, `s3ferry: --config is a flag of status: put it after the command: s3ferry status --config F`},
		{[]string{"--index-dir=/x y", "sync", "-n"}, `s3ferry: --index-dir is a flag of sync: put it after the command: s3ferry sync "--index-dir=/x y" -n`},
		{[]string{"sync", "s3://b/p/", dir, "--index-dir", filepath.Join(dir, "idx")}, `did you swap them? s3ferry sync SOURCE s3://BUCKET/PREFIX/`},
		{[]string{"restore", "s3://b/p/", dir, "--to", filepath.Join(dir, "out")}, `did you swap them? s3ferry restore SOURCE s3://BUCKET/PREFIX/`},
	} {
		r := runBinary(t, time.Minute, nil, nil, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("s3ferry %q: exit %d, want 2 and one line with %q\nstderr: %s", c.args, r.code, c.want, r.stderr)
		}
	}
}

// TestManPageText: the man page's SYNOPSIS lists the commands, its EXIT
// STATUS every code, "*.part" survives roff, and no Markdown is left.
func TestManPageText(t *testing.T) {
	t.Parallel()
	r := runBinary(t, time.Minute, nil, nil, "docs", "man")
	if r.code != exitOK {
		t.Fatalf("docs man: exit %d: %s", r.code, r.stderr)
	}
	synopsis, _, _ := strings.Cut(r.stdout, ".SH DESCRIPTION")
	for _, want := range []string{".SH SYNOPSIS\n.B s3ferry sync\n", ".B s3ferry index rebuild\n", ".B s3ferry completion\n"} {
		if !strings.Contains(synopsis, want) {
			t.Errorf("SYNOPSIS lacks %q:\n%s", want, synopsis)
		}
	}
	_, exit, _ := strings.Cut(r.stdout, ".SH EXIT STATUS\n")
	for _, e := range exitStatuses {
		if !strings.Contains(exit, ".B "+strconv.Itoa(e.code)+"\n") {
			t.Errorf("EXIT STATUS lacks %d:\n%s", e.code, exit)
		}
	}
	for _, bad := range []string{"Usage:", "default:)", "default: )", "\\fI\\&.part", "\n.part", "**sync**"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("the man page has %q", bad)
		}
	}
	if !strings.Contains(r.stdout, "*.tmp, *.part") {
		t.Errorf("the man page lost *.part")
	}
}

// TestCompletionBash: `completion bash`, sourced by a bash without the
// bash-completion package, registers a function that completes "sy" to
// sync and offers commands, not help; bash adds the space (no -o nospace).
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	complete := func(words ...string) string {
		t.Helper()
		script := `source <("$S3FERRY" completion bash) || exit 1
complete -p s3ferry
s3ferry() { "$S3FERRY" "$@"; }
COMP_WORDS=(` + strings.Join(words, " ") + `)
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_s3ferry_complete
printf '%s\n' "${COMPREPLY[@]}"
`
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script)
		cmd.Env = []string{"S3FERRY=" + binary, "PATH=" + filepath.Dir(binary) + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	got := complete("s3ferry", "sy")
	if want := "complete -o bashdefault -o default -F _s3ferry_complete s3ferry\nsync"; got != want {
		t.Errorf("s3ferry sy<Tab>: got\n%s\nwant\n%s", got, want)
	}
	got = complete("s3ferry", `""`)
	if !strings.Contains(got, "\nsync\n") || !strings.Contains(got, "\ncompletion") || strings.Contains(got, "help") {
		t.Errorf("s3ferry <Tab>: got\n%s\nwant the commands and no help", got)
	}
	if got := complete("s3ferry", "index", "reb"); !strings.HasSuffix(got, "\nrebuild") {
		t.Errorf("s3ferry index reb<Tab>: got\n%s", got)
	}
}
