package main

import (
	"io"
	"os"
	"os/exec"
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
		{"sources[0].lookback (flag)", time.Duration(fc.Sources[0].Lookback), 72 * time.Hour},
		{"settle (default)", time.Duration(*fc.Settle), agent.DefaultSettle},
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
	if r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", good); r.code != 0 || !strings.Contains(r.stdout, ": ok (1 source, index ") {
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

// TestEveryDurationTakesDays: every duration, flag or configuration key,
// reads days (2d, 1d12h) as well as Go's units, and `config` prints what
// it read; a bad one is refused naming what to write.
func TestEveryDurationTakesDays(t *testing.T) {
	t.Parallel()
	app := newApp(io.Discard, io.Discard)
	var durations []string
	for _, f := range app.Command("config").Flags {
		if _, ok := f.(*cli.DurationFlag); ok {
			t.Errorf("--%s is a cli.DurationFlag, which reads no days: make it a durationFlag", f.Names()[0])
		}
		if g, ok := f.(*cli.GenericFlag); ok {
			if _, ok := g.Value.(*duration); ok {
				durations = append(durations, f.Names()[0])
			}
		}
	}
	if len(durations) < 10 {
		t.Fatalf("config has %d duration flags: %v", len(durations), durations)
	}
	path := writeFile(t, "s3ferry.yml", `settle: 0.5d
daemon:
  retention-interval: 1d12h
replication:
  alert-after: 2d
sources:
  - path: /srv/rec
    destination: s3://bkt/rec/
    lookback: 2d
    local-retention: 90d
`)
	for _, name := range durations {
		if r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", path, "--"+name, "2d"); r.code != 0 {
			t.Errorf("--%s 2d: exit %d, %s", name, r.code, r.stderr)
		}
	}
	r := runBinary(t, time.Minute, []string{"S3FERRY_RESCAN_INTERVAL=1d"}, nil, "config", "--config", path, "--propagate-deletes-after", "3d")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fc, err := parseConfig([]byte(r.stdout))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, r.stdout)
	}
	for _, c := range []struct {
		what      string
		got, want time.Duration
	}{
		{"settle: 0.5d", time.Duration(*fc.Settle), 12 * time.Hour},
		{"daemon.retention-interval: 1d12h", time.Duration(*fc.Daemon.RetentionInterval), 36 * time.Hour},
		{"replication.alert-after: 2d", time.Duration(*fc.Replication.AlertAfter), 48 * time.Hour},
		{"sources[0].lookback: 2d", time.Duration(fc.Sources[0].Lookback), 48 * time.Hour},
		{"S3FERRY_RESCAN_INTERVAL=1d", time.Duration(*fc.Daemon.RescanInterval), 24 * time.Hour},
		{"--propagate-deletes-after 3d", time.Duration(*fc.Sources[0].PropagateDeletesAfter), 72 * time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s read as %s, want %s", c.what, c.got, c.want)
		}
	}
	for _, bad := range [][]string{{"--lookback", "2x"}, {"--settle", "d"}, {"--rescan-interval", "1d-2h"}} {
		r := runBinary(t, time.Minute, nil, nil, append([]string{"config", "check", "--config", path}, bad...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "write it like 90s, 5m, 48h or 2d") {
			t.Errorf("%v: exit %d, %q; want %d and how to write a duration", bad, r.code, r.stderr, exitUsage)
		}
	}
	if r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", writeFile(t, "bad.yml", "settle: soon\n")); r.code != exitUsage || !strings.Contains(r.stderr, `line 1: "soon" is not a duration`) {
		t.Errorf("settle: soon: exit %d, %q", r.code, r.stderr)
	}
}

// TestConfigPrintsReplicationAndDaemonDefaults: keys left out of the file
// are printed at the values run uses, not as 0 or null.
func TestConfigPrintsReplicationAndDaemonDefaults(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "s3ferry.yml", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n")
	r := runBinary(t, time.Minute, nil, nil, "config", "--config", path, "--replication-max-backoff", "20m")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"check-rate: 20\n", "alert-after: 1h\n", "check-interval: 5s\n", "max-backoff: 20m\n", "retention-interval: 1h\n", "file-fail-after: 5m\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config does not print %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "null") {
		t.Errorf("config prints null:\n%s", r.stdout)
	}
}

// TestConfigRelativePathsFollowTheFile: relative paths in a configuration
// file are relative to the file's directory, wherever s3ferry runs (the
// unit runs it in /); a flag's stay relative to the current directory.
func TestConfigRelativePathsFollowTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "secrets", "admin.token")
	if err := os.MkdirAll(filepath.Dir(token), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("a-token-of-at-least-sixteen-bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s3ferry.yml")
	if err := os.WriteFile(path, []byte("index-dir: state/index\nadmin:\n  token-file: secrets/admin.token\nsources:\n  - path: rec\n    destination: s3://bkt/rec/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	inElsewhere := func(cmd *exec.Cmd) { cmd.Dir = elsewhere }
	r := runBinary(t, time.Minute, nil, inElsewhere, "config", "--config", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fc, err := parseConfig([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"index-dir", fc.IndexDir, filepath.Join(dir, "state/index")},
		{"admin.token-file", fc.Admin.TokenFile, token},
		{"sources[0].path", fc.Sources[0].Path, filepath.Join(dir, "rec")},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}
	if r := runBinary(t, time.Minute, nil, inElsewhere, "config", "check", "--config", path); r.code != 0 || !strings.Contains(r.stdout, filepath.Join(dir, "state/index")) {
		t.Errorf("config check from another directory: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A flag is the user's, typed where they stand.
	r = runBinary(t, time.Minute, nil, inElsewhere, "config", "--config", path, "--index-dir", "here")
	if fc, err := parseConfig([]byte(r.stdout)); err != nil || fc.IndexDir != "here" && fc.IndexDir != filepath.Join(elsewhere, "here") {
		t.Errorf("--index-dir here: %v, %q", err, r.stdout)
	}
}

// TestNoSourcesStopsRunAndSync: the shipped configuration names no source
// until a person adds one. run and sync then exit 78 (EX_CONFIG: the
// unit's RestartPreventExitStatus keeps systemd from restarting run) and
// config check exits 2, each with one line naming the file to edit.
func TestNoSourcesStopsRunAndSync(t *testing.T) {
	t.Parallel()
	shipped, err := filepath.Abs(filepath.Join("..", "..", "packaging", "s3ferry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	index := t.TempDir()
	want := "no sources: edit " + shipped + " and add one under sources:"
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--config", shipped, "--index-dir", index}, exitConfig},
		{[]string{"sync", "--config", shipped, "--index-dir", index}, exitConfig},
		{[]string{"config", "check", "--config", shipped}, exitUsage},
	} {
		r := runBinary(t, time.Minute, nil, nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line with %q", strings.Join(c.args[:2], " "), r.code, r.stderr, c.code, want)
		}
	}
	if entries, _ := os.ReadDir(index); len(entries) != 0 {
		t.Errorf("run without sources made %d entries in the index directory", len(entries))
	}
	// Without a file and without arguments it is a usage error, as before.
	if r := runBinary(t, time.Minute, nil, nil, "sync", "--index-dir", index); r.code != exitUsage || !strings.Contains(r.stderr, "no source: give SRC") {
		t.Errorf("sync without anything: exit %d, %q", r.code, r.stderr)
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

// TestConfigReplica: a source's replica is read from the file, the
// replica flags win over it, `config` prints it back, and a replica's
// endpoint, profile or region without a destination, or a bad
// destination, is refused in one line.
func TestConfigReplica(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "s3ferry.yml", `sources:
  - path: /srv/rec
    destination: s3://bkt/rec/
    replica: {destination: "s3://replica/rec/", region: eu-central-1, profile: reader}
`)
	r := runBinary(t, time.Minute, nil, nil, "config", "--config", path, "--replica-endpoint-url", "https://s3.example.net")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fc, err := parseConfig([]byte(r.stdout))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, r.stdout)
	}
	want := replicaConfig{Destination: "s3://replica/rec/", EndpointURL: "https://s3.example.net", Profile: "reader", Region: "eu-central-1"}
	if got := fc.Sources[0].Replica; got == nil || *got != want {
		t.Errorf("printed replica = %+v, want %+v", got, want)
	}
	for _, bad := range []string{
		"replica: {region: eu-central-1}",
		"replica: {destination: \"replica/rec\"}",
	} {
		p := writeFile(t, "bad.yml", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n    "+bad+"\n")
		r := runBinary(t, time.Minute, nil, nil, "config", "check", "--config", p)
		if r.code != exitUsage || !strings.Contains(r.stderr, "replica") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line about the replica", bad, r.code, r.stderr, exitUsage)
		}
	}
}
