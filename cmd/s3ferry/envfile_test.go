package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// credentialsFile writes srv's credentials, endpoint and region as an
// environment file of mode 0600, in systemd's syntax with comments and
// quotes, and returns its path.
func (e *testEnv) credentialsFile(tb testing.TB) string {
	tb.Helper()
	content := fmt.Sprintf(`# the service's credentials
; a comment of the other kind

AWS_ACCESS_KEY_ID=%s
AWS_SECRET_ACCESS_KEY = "%s"
AWS_REGION='%s'
AWS_ENDPOINT_URL=%s
`, e.srv.AccessKey, e.srv.SecretKey, e.srv.Region, e.srv.Endpoint)
	if e.srv.CAFile != "" {
		content += "AWS_CA_BUNDLE=" + e.srv.CAFile + "\n"
	}
	p := filepath.Join(tb.TempDir(), "s3ferry.env")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestEnvFileGivesCredentials: --env-file adds a file's variables to the
// environment as systemd's EnvironmentFile= does, so a one-shot command has
// the service's credentials; a variable already set wins, and so does a
// flag over an S3FERRY_* variable of the file. A file others may read, or
// a line that is no assignment, is refused without printing what it holds.
func TestEnvFileGivesCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.write(t, "d/a.wav", "a", time.Hour)
	envFile := e.credentialsFile(t)
	args := []string{"sync", e.root, "s3://" + e.bucket + "/rec/", "--index-dir", e.index, "--settle", "0s", "--path-style", "--json"}

	// No credentials in the environment: the file is the only source.
	if r := runBinary(t, time.Minute, nil, nil, append(args, "--env-file", envFile)...); r.code != 0 || r.stats(t).Uploaded != 1 {
		t.Fatalf("sync --env-file: exit %d, %s\n%s", r.code, r.stdout, r.stderr)
	}
	if keys := e.keys(t); len(keys) != 1 || keys[0] != "d/a.wav" {
		t.Fatalf("bucket holds %q, want d/a.wav", keys)
	}

	// A variable already set wins over the file's.
	e.write(t, "d/b.wav", "b", time.Hour)
	wrong := []string{"AWS_SECRET_ACCESS_KEY=not-the-secret"}
	if r := runBinary(t, time.Minute, wrong, nil, append(args, "--env-file", envFile)...); r.code == 0 {
		t.Errorf("with AWS_SECRET_ACCESS_KEY set wrong in the environment the file's won: exit 0\n%s", r.stderr)
	}

	// S3FERRY_* variables set their flags; a flag given wins.
	withWorkers := filepath.Join(t.TempDir(), "workers.env")
	if err := os.WriteFile(withWorkers, []byte("S3FERRY_WORKERS=7\nS3FERRY_LOOKBACK=3d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, "s3ferry.yml", "sources:\n  - path: /srv/rec\n    destination: s3://bkt/rec/\n")
	r := runBinary(t, time.Minute, nil, nil, "config", "--config", config, "--env-file", withWorkers, "--lookback", "1d")
	if r.code != 0 || !strings.Contains(r.stdout, "workers: \"7\"") || !strings.Contains(r.stdout, "lookback: 1d") {
		t.Errorf("S3FERRY_WORKERS=7 and S3FERRY_LOOKBACK=3d in the file with --lookback 1d: exit %d, want workers 7 and lookback 1d:\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by all", "AWS_SECRET_ACCESS_KEY=" + e.srv.SecretKey + "\n", 0o644, "is readable by every user: chmod o-rwx"},
		{"writable by the group", "AWS_SECRET_ACCESS_KEY=" + e.srv.SecretKey + "\n", 0o660, "is writable by group or others: chmod go-w"},
		{"export", "# creds\nexport AWS_SECRET_ACCESS_KEY=" + e.srv.SecretKey + "\n", 0o600, "line 2: want KEY=VALUE"},
		{"unclosed quote", "AWS_SECRET_ACCESS_KEY=\"" + e.srv.SecretKey + "\n", 0o600, "line 1: AWS_SECRET_ACCESS_KEY: a quote is not closed"},
	} {
		p := filepath.Join(t.TempDir(), "bad.env")
		if err := os.WriteFile(p, []byte(c.content), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		r := runBinary(t, time.Minute, nil, nil, append(args, "--env-file", p)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, e.srv.SecretKey) {
			t.Errorf("%s: exit %d, %q; want %d and %q, without the secret", c.name, r.code, r.stderr, exitUsage, c.want)
		}
	}
}

// TestPackagedEnvFileByDefault: with --config /etc/s3ferry/s3ferry.yml a
// command reads /etc/s3ferry/s3ferry.env itself, as the unit does, so
// `sudo -u s3ferry s3ferry sync --config /etc/s3ferry/s3ferry.yml` has
// the service's credentials. The file is root's, readable by the group
// the command runs with (the package's s3ferry), not by others. The test
// makes its own /etc in a mount namespace, and runs the command as nobody.
func TestPackagedEnvFileByDefault(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"unshare", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (util-linux)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root, to mount its own /etc in a mount namespace")
	}
	e := newEnv(t)
	e.write(t, "d/a.wav", "a", time.Hour)
	home := t.TempDir()
	for _, d := range []string{e.root, e.index, home, filepath.Dir(e.root), filepath.Dir(e.index), filepath.Dir(home)} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	etc := t.TempDir()
	config := fmt.Sprintf("index-dir: %s\ns3:\n  path-style: true\nsources:\n  - path: %s\n    destination: s3://%s/rec/\n", e.index, e.root, e.bucket)
	if err := os.WriteFile(filepath.Join(etc, "s3ferry.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.credentialsFile(t), filepath.Join(etc, "s3ferry.env")); err != nil {
		t.Fatal(err)
	}
	const nobody = "65534"
	script := `set -e
mount -t tmpfs tmpfs /etc
mkdir -m 0755 /etc/s3ferry
cp "$1/s3ferry.yml" /etc/s3ferry/s3ferry.yml
install -m 0640 -o 0 -g ` + nobody + ` "$1/s3ferry.env" /etc/s3ferry/s3ferry.env
shift
exec setpriv --reuid ` + nobody + ` --regid ` + nobody + ` --clear-groups "$@"`
	sync := func(extra ...string) result {
		args := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", etc, binary,
			"sync", "--config", "/etc/s3ferry/s3ferry.yml", "--settle", "0s", "--json"}, extra...)
		cmd := exec.Command("unshare", args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatalf("unshare: %v", err)
		}
		return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	}
	r := sync()
	if r.code != 0 || r.stats(t).Uploaded != 1 {
		t.Fatalf("sync --config /etc/s3ferry/s3ferry.yml as the file's group: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// --env-file "" reads none: then there are no credentials.
	e.write(t, "d/b.wav", "b", time.Hour)
	if r := sync("--env-file="); r.code == 0 || !strings.Contains(r.stderr, "no credentials") {
		t.Errorf("sync --env-file= : exit %d, %q; want no credentials", r.code, r.stderr)
	}
}
