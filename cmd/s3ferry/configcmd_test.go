package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
)

func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestConfigPrintsTheEffectiveConfiguration: `s3ferry config` merges the
// file, an S3FERRY_* variable, a flag and the defaults, and prints a file
// that loads back to the same configuration.
func TestConfigPrintsTheEffectiveConfiguration(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "s3ferry.yml", `index-dir: /srv/index
upload:
  part-size: 32MiB
sources:
  - path: /srv/rec
    destination: s3://bkt/rec/
    partition-layout: 2006-01-02
admin:
  token-file: /etc/s3ferry/admin.token
`)
	r := runBinary(t, time.Minute, []string{"S3FERRY_WORKERS=3"}, nil, "config", "--config", path, "--lookback", "72h")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fc, err := parseConfig([]byte(r.stdout))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, r.stdout)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"index-dir (file)", fc.IndexDir, "/srv/index"},
		{"upload.part-size (file)", int64(fc.Upload.PartSize), int64(32 << 20)},
		{"upload.workers (S3FERRY_WORKERS)", fc.Upload.Workers, "3"}, // a number, or auto
		{"sources[0].lookback (flag)", fc.Sources[0].Lookback, 72 * time.Hour},
		{"settle (default)", *fc.Settle, agent.DefaultSettle},
		{"admin.listen (default)", fc.Admin.Listen, DefaultAdminListen},
		{"admin.token-file (a path, never its content)", fc.Admin.TokenFile, "/etc/s3ferry/admin.token"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// A fixpoint: the printed file, printed again, is the same.
	again := runBinary(t, time.Minute, nil, nil, "config", "--config", writeFile(t, "printed.yml", r.stdout))
	if again.code != 0 || again.stdout != r.stdout {
		t.Errorf("printing the printed configuration: exit %d, %s\nwant the same:\n%s", again.code, again.stdout+again.stderr, r.stdout)
	}
}

// TestConfigCheck: a good file exits 0; a bad one exits 2 naming the line
// or key at fault, as ExecStartPre shows it to systemctl restart.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.yml", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n")
	if r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", good); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("check of a good file: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct{ name, content, want string }{
		{"unknown key", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n    lookbak: 48h\n", "line 4: unknown key lookbak"},
		{"bad value", "settle: soon\n", "line 1"},
		{"bad layout", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n    partition-layout: 01-02\n", "layout"},
		{"no source", "settle: 1s\n", "no source"},
		{"unreadable token file", "admin:\n  token-file: /nonexistent/token\nsources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n", "token-file"},
	} {
		r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", writeFile(t, "bad.yml", c.content))
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line with %q", c.name, r.code, r.stderr, exitUsage, c.want)
		}
	}
	if r := runBinary(t, time.Minute, nil, nil, "config", "check"); r.code != exitUsage || !strings.Contains(r.stderr, "--config FILE") {
		t.Errorf("check without a file: exit %d, %q", r.code, r.stderr)
	}
}

// TestEveryFlagHasAnEnvironmentVariable: each flag of each command reads
// S3FERRY_<NAME>, and help shows it.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				want := "S3FERRY_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
				df, ok := f.(cli.DocGenerationFlag)
				if !ok || len(df.GetEnvVars()) != 1 || df.GetEnvVars()[0] != want {
					t.Errorf("%s%s --%s: environment %v, want [%s]", prefix, cmd.Name, f.Names()[0], df.GetEnvVars(), want)
				}
			}
			walk(prefix+cmd.Name+" ", cmd.Subcommands)
		}
	}
	walk("", app.Commands)

	r := runBinary(t, time.Minute, nil, nil, "sync", "--help")
	if !strings.Contains(r.stdout, "$S3FERRY_LOOKBACK") {
		t.Errorf("sync --help does not show $S3FERRY_LOOKBACK:\n%s", r.stdout)
	}
}

// TestConfigDownload: the download keys are read from the file, a flag
// wins over them, the defaults fill the rest, and a value no download
// could work with is a usage error naming it.
func TestConfigDownload(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "s3ferry.yml", "download:\n  part-size: 32MiB\n  memory: 256MiB\nsources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n")
	r := runBinary(t, time.Minute, nil, nil, "config", "--config", path, "--download-part-concurrency", "3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fc, err := parseConfig([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fc.Download, (downloadConfig{PartSize: 32 << 20, PartConcurrency: 3, Memory: 256 << 20}); got != want {
		t.Errorf("download = %+v, want %+v", got, want)
	}
	r = runBinary(t, time.Minute, nil, nil, "config", "--config", writeFile(t, "empty.yml", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n"))
	if fc, err = parseConfig([]byte(r.stdout)); err != nil || fc.Download != (downloadConfig{PartSize: 8 << 20, PartConcurrency: 8, Memory: 64 << 20}) {
		t.Errorf("default download = %+v (%v), want 8MiB, 8, 64MiB", fc.Download, err)
	}
	for _, bad := range []struct{ flag, value, want string }{
		{"--download-part-size", "100KiB", "download part size"},
		{"--download-part-concurrency", "0", "part-concurrency"},
		{"--download-memory", "1MiB", "download memory"},
	} {
		r := runBinary(t, time.Minute, nil, nil, "config", "--config", path, bad.flag, bad.value)
		if r.code != 2 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("%s %s: exit %d, %q; want 2 naming %q", bad.flag, bad.value, r.code, r.stderr, bad.want)
		}
	}
}
