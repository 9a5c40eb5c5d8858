package packaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// Paths the package's scripts create or remove, beyond its own files.
const (
	stateDir    = "/var/lib/s3ferry"
	confDir     = "/etc/s3ferry"
	confFile    = "/etc/s3ferry/s3ferry.yml"
	envFile     = "/etc/s3ferry/s3ferry.env"
	unitFile    = "/usr/lib/systemd/system/s3ferry.service"
	catchupFile = "/usr/lib/systemd/system/s3ferry-catchup.service"
)

// TestInstallDeb installs the .deb on this machine with dpkg, runs the
// installed binary the way the unit runs it, against MinIO, and removes
// and purges the package, checking each step leaves what docs/packaging.md says.
// It changes the machine, so it runs only with S3FERRY_TEST_INSTALL=1
// (.ci/run sets it), as root, and purges the package even when it fails.
func TestInstallDeb(t *testing.T) {
	if os.Getenv("S3FERRY_TEST_INSTALL") != "1" {
		t.Skip("installs the .deb on this machine: S3FERRY_TEST_INSTALL=1 runs it (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("S3FERRY_TEST_INSTALL=1 needs root: the test runs dpkg -i")
	}
	deb, _ := packages(t)
	need(t, "dpkg")
	if st := dpkgStatus(t); st != "" {
		t.Fatalf("s3ferry is installed here (%s): the test would purge it", st)
	}
	for _, p := range []string{stateDir, confDir} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists: the test would delete it; move it away first", p)
		}
	}
	srv := s3test.Start(t)
	userExisted := exec.Command("getent", "passwd", "s3ferry").Run() == nil
	groupExisted := exec.Command("getent", "group", "s3ferry").Run() == nil
	systemdRuns := exists("/run/systemd/system")
	sysctlsBefore := inotifyLimits(t)
	t.Cleanup(func() {
		if dpkgStatus(t) != "" {
			_ = exec.Command("dpkg", "-P", "s3ferry").Run()
		}
		if !userExisted {
			_ = exec.Command("userdel", "s3ferry").Run()
		}
		if !groupExisted && exec.Command("getent", "group", "s3ferry").Run() == nil {
			_ = exec.Command("groupdel", "s3ferry").Run()
		}
	})

	t.Log("dpkg -i")
	run(t, "dpkg", "-i", deb)
	u := checkInstalled(t, systemdRuns, sysctlsBefore)

	// Configure the installed file for MinIO, as docs/packaging.md tells a person to.
	bucket := srv.NewBucket(t, true)
	tree := t.TempDir() // 0700 root's: the daemon reads it only through its capability
	day := time.Now().Format("2006-01-02")
	partition := filepath.Join(tree, day, "agent07")
	writeFile(t, filepath.Join(partition, "before-start.wav"), "recorded before the service started")
	editConfig(t, map[string]any{
		"sources.0.path":         tree,
		"sources.0.destination":  "s3://" + bucket + "/installed/",
		"settle":                 "1s",
		"s3.endpoint-url":        srv.Endpoint,
		"s3.path-style":          true,
		"s3.region":              srv.Region,
		"daemon.rescan-interval": "2s",
		"admin.listen":           "127.0.0.1:0", // the daemon writes the port it got into /var/lib/s3ferry
	})
	writeFile(t, envFile, fmt.Sprintf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", srv.AccessKey, srv.SecretKey))
	edited, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Log("run the installed binary as the unit does")
	d := startAsUnit(t, u)
	client := srv.Client(t).SDK()
	waitForObject(t, client, bucket, "installed/"+day+"/agent07/before-start.wav", d)
	writeFile(t, filepath.Join(partition, "while-running.wav"), "recorded while the service ran")
	waitForObject(t, client, bucket, "installed/"+day+"/agent07/while-running.wav", d)
	checkAdmin(t, d)

	// The catch-up unit: while the daemon holds the index, sync asks it for
	// the full walk; without it, sync walks itself. A file in a partition
	// long past the look-back (copied in with its old mtime) is found only
	// by a full walk.
	writeOldFile(t, filepath.Join(tree, "2020-01-01", "agent07", "late.wav"), "copied in late")
	if out := catchUp(t, u); !strings.Contains(out, "daemon") {
		t.Errorf("with the daemon running, the catch-up did not go through it:\n%s", out)
	}
	waitForObject(t, client, bucket, "installed/2020-01-01/agent07/late.wav", d)
	d.stop(t)
	writeOldFile(t, filepath.Join(tree, "2020-01-02", "agent07", "later.wav"), "copied in while s3ferry was stopped")
	out := catchUp(t, u)
	if _, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("installed/2020-01-02/agent07/later.wav")}); err != nil {
		t.Errorf("after the catch-up without the daemon: %v\n%s", err, out)
	}
	assertTreeOwned(t, stateDir, u.uid)

	t.Log("the maintainer scripts without systemd")
	runScriptsWithoutSystemd(t, deb, systemdRuns)

	t.Log("dpkg -r")
	if _, err := exec.LookPath("systemctl"); err == nil {
		// Enabled by hand (offline where systemd does not run); removal disables.
		run(t, "systemctl", "--no-reload", "enable", "s3ferry.service", "s3ferry-catchup.timer")
		if links, _ := filepath.Glob("/etc/systemd/system/*.wants/s3ferry*"); len(links) != 2 {
			t.Errorf("systemctl enable made %v", links)
		}
	}
	run(t, "dpkg", "-r", "s3ferry")
	checkRemoved(t, edited)

	t.Log("dpkg -P")
	run(t, "dpkg", "-P", "s3ferry")
	if got := dpkgStatus(t); got != "" {
		t.Errorf("after dpkg -P: status %q, want not installed", got)
	}
	for _, p := range []string{confDir, stateDir} {
		if exists(p) {
			t.Errorf("after dpkg -P: %s is still there", p)
		}
	}
	checkUser(t) // stays, as docs/packaging.md says
}

// checkInstalled checks what dpkg -i left: the user, the state directory,
// every file with its mode and owner, nothing enabled, the inotify limits
// untouched where systemd does not run, and the version.
func checkInstalled(t *testing.T, systemdRuns bool, sysctlsBefore []string) account {
	t.Helper()
	if got := dpkgStatus(t); got != "install ok installed" {
		t.Fatalf("after dpkg -i: status %q", got)
	}
	u := checkUser(t)
	assertOwned(t, stateDir, fs.ModeDir|0o750, u.uid, u.gid)
	for _, f := range shippedIn("deb") {
		assertOwned(t, f.path, f.mode, 0, 0)
	}
	assertNoneEnabled(t)
	if !systemdRuns {
		if got := inotifyLimits(t); !slices.Equal(got, sysctlsBefore) {
			t.Errorf("without systemd the install changed the inotify limits from %v to %v", sysctlsBefore, got)
		}
	}
	version := run(t, "/usr/bin/s3ferry", "version")
	m := regexp.MustCompile(`^s3ferry version (\S+) `).FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("s3ferry version printed %q", version)
	}
	if got, want := strings.TrimSpace(run(t, "./version.sh", m[1])), strings.TrimSpace(run(t, "dpkg-query", "-W", "-f=${Version}", "s3ferry")); got != want {
		t.Errorf("the installed s3ferry is %s, the package %s", got, want)
	}
	return u
}

// checkRemoved checks what dpkg -r left: the configuration as edited, the
// credentials file, the index and the user, and nothing else of the
// package; no unit enabled.
func checkRemoved(t *testing.T, edited []byte) {
	t.Helper()
	if got := dpkgStatus(t); got != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", got)
	}
	for _, f := range shippedIn("deb") {
		if !f.config && f.path != confDir && exists(f.path) {
			t.Errorf("after dpkg -r: %s is still there", f.path)
		}
	}
	if got, err := os.ReadFile(confFile); err != nil || string(got) != string(edited) {
		t.Errorf("after dpkg -r: the edited %s is gone or changed (%v)", confFile, err)
	}
	if index, _ := os.ReadDir(stateDir); !exists(envFile) || len(index) == 0 {
		t.Errorf("after dpkg -r: %s or the index in %s is gone; removal keeps them", envFile, stateDir)
	}
	assertNoneEnabled(t)
	checkUser(t)
}

// dpkgStatus is dpkg's status of s3ferry, "" when dpkg knows nothing of it.
func dpkgStatus(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "s3ferry").Output()
	if err != nil {
		return "" // "no packages found matching s3ferry"
	}
	if st := strings.TrimSpace(string(out)); st != "unknown ok not-installed" {
		return st
	}
	return ""
}

// account is the s3ferry system user.
type account struct {
	uid, gid    int
	home, shell string
}

func checkUser(tb testing.TB) account {
	tb.Helper()
	// s3ferry:x:998:998:s3ferry backup agent:/var/lib/s3ferry:/usr/sbin/nologin
	f := strings.Split(strings.TrimSpace(run(tb, "getent", "passwd", "s3ferry")), ":")
	if len(f) != 7 {
		tb.Fatalf("getent passwd s3ferry: %q", f)
	}
	uid, _ := strconv.Atoi(f[2])
	gid, _ := strconv.Atoi(f[3])
	a := account{uid: uid, gid: gid, home: f[5], shell: f[6]}
	g := strings.Split(strings.TrimSpace(run(tb, "getent", "group", "s3ferry")), ":")
	if len(g) != 4 || g[2] != f[3] {
		tb.Errorf("group s3ferry %q is not the user's primary group %s", g, f[3])
	}
	if uid == 0 || uid >= 1000 || a.home != stateDir || a.shell != "/usr/sbin/nologin" {
		tb.Errorf("user s3ferry: %+v, want a system user (uid below 1000) with home %s and no login shell", a, stateDir)
	}
	return a
}

func assertOwned(tb testing.TB, path string, mode fs.FileMode, uid, gid int) {
	tb.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		tb.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		tb.Errorf("%s: %v %d:%d, want %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// assertTreeOwned checks that the daemon, running as uid, made everything
// under dir.
func assertTreeOwned(tb testing.TB, dir string, uid int) {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != uid {
			tb.Errorf("%s belongs to uid %d, want s3ferry's %d", path, got, uid)
		}
		n++
		return nil
	})
	if err != nil || n < 2 {
		tb.Errorf("index in %s: %d entries, %v", dir, n, err)
	}
}

// assertNoneEnabled checks that no s3ferry unit is enabled: installing
// enables nothing, removing disables everything.
func assertNoneEnabled(tb testing.TB) {
	tb.Helper()
	links, _ := filepath.Glob("/etc/systemd/system/*.wants/s3ferry*")
	if len(links) > 0 {
		tb.Errorf("enabled: %v", links)
	}
}

func inotifyLimits(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, k := range []string{"max_user_watches", "max_queued_events"} {
		b, err := os.ReadFile("/proc/sys/fs/inotify/" + k)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, strings.TrimSpace(string(b)))
	}
	return out
}

// editConfig sets values in the installed configuration, each at a path of
// mapping keys (a number indexes a sequence), adding missing keys. It edits
// the YAML's node tree, so comments stay and 2006-01-02 stays a string.
func editConfig(tb testing.TB, set map[string]any) {
	tb.Helper()
	data, err := os.ReadFile(confFile)
	if err != nil {
		tb.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		tb.Fatal(err)
	}
	for path, value := range set {
		n := doc.Content[0]
		for _, key := range strings.Split(path, ".") {
			n = child(tb, n, key)
		}
		switch v := value.(type) {
		case string:
			n.SetString(v)
		case bool:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(v)
		default:
			tb.Fatalf("editConfig: %s: %T", path, value)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, confFile, string(out)) // keeps the file's mode
}

// child returns n's value for key, adding it to a mapping that lacks it.
func child(tb testing.TB, n *yaml.Node, key string) *yaml.Node {
	tb.Helper()
	switch n.Kind {
	case yaml.SequenceNode:
		i, err := strconv.Atoi(key)
		if err != nil || i >= len(n.Content) {
			tb.Fatalf("%s: no item %s", confFile, key)
		}
		return n.Content[i]
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
		return v
	default:
		tb.Fatalf("%s: %s is under a scalar", confFile, key)
		return nil
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// writeOldFile writes a file dated a day ago, as cp -p leaves one.
func writeOldFile(tb testing.TB, path, content string) {
	tb.Helper()
	writeFile(tb, path, content)
	old := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		tb.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// daemon is the installed s3ferry running as the unit would run it.
type daemon struct {
	cmd     *exec.Cmd
	log     string // its output
	stopIn  time.Duration
	exited  chan struct{}
	waitErr error
}

// asUnit returns the command a unit's ExecStart= runs, with its User=,
// Group=, AmbientCapabilities=, EnvironmentFile= and the environment
// systemd gives a service: the way systemd (which may not run here) would
// start it. Its output goes to the file it returns.
func asUnit(tb testing.TB, unitPath string, a account) (*exec.Cmd, string, unit) {
	tb.Helper()
	u := readUnit(tb, unitPath)
	get := func(key string) string { return u.get("Service", key) }
	if get("User") != "s3ferry" || get("Group") != "s3ferry" {
		tb.Fatalf("%s runs as %s:%s, the test knows only s3ferry", unitPath, get("User"), get("Group"))
	}
	caps := map[string]uintptr{"CAP_DAC_READ_SEARCH": 2} // linux/capability.h
	var ambient []uintptr
	for _, name := range strings.Fields(get("AmbientCapabilities")) {
		c, ok := caps[name]
		if !ok {
			tb.Fatalf("AmbientCapabilities=%s: the test does not know %s", get("AmbientCapabilities"), name)
		}
		ambient = append(ambient, c)
	}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + a.home, "USER=s3ferry", "LOGNAME=s3ferry", "SHELL=" + a.shell,
		"STATE_DIRECTORY=/var/lib/" + get("StateDirectory"),
		"CONFIGURATION_DIRECTORY=/etc/" + get("ConfigurationDirectory"),
	}
	if f := strings.TrimPrefix(get("EnvironmentFile"), "-"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				env = append(env, line)
			}
		}
	}
	logFile := filepath.Join(tb.TempDir(), "output")
	out, err := os.Create(logFile)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { out.Close() })
	argv := strings.Fields(get("ExecStart"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = "/", env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}},
		AmbientCaps: ambient,
		Pdeathsig:   syscall.SIGKILL, // a test killed by its timeout leaves nothing running
	}
	return cmd, logFile, u
}

// startAsUnit starts s3ferry.service's daemon.
func startAsUnit(tb testing.TB, a account) *daemon {
	tb.Helper()
	cmd, logFile, u := asUnit(tb, unitFile, a)
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil {
		tb.Fatalf("TimeoutStopSec: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", cmd, err)
	}
	d := &daemon{cmd: cmd, log: logFile, stopIn: stop, exited: make(chan struct{})}
	go func() { d.waitErr = cmd.Wait(); close(d.exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.exited
		if tb.Failed() {
			b, _ := os.ReadFile(logFile)
			tb.Logf("s3ferry run output:\n%s", b)
		}
	})
	return d
}

// catchUp runs s3ferry-catchup.service once and wants it to succeed.
func catchUp(tb testing.TB, a account) string {
	tb.Helper()
	cmd, logFile, _ := asUnit(tb, catchupFile, a)
	err := cmd.Run()
	out, _ := os.ReadFile(logFile)
	if err != nil {
		tb.Fatalf("s3ferry-catchup.service: %s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

// stop sends SIGTERM, as systemctl stop does, and wants exit code 0
// within the unit's TimeoutStopSec.
func (d *daemon) stop(tb testing.TB) {
	tb.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-d.exited:
		if d.waitErr != nil {
			tb.Errorf("s3ferry run after SIGTERM: %v, want exit 0", d.waitErr)
		}
	case <-time.After(d.stopIn):
		tb.Fatalf("s3ferry run did not exit within TimeoutStopSec=%s of SIGTERM", d.stopIn)
	}
}

func waitForObject(tb testing.TB, client *s3.Client, bucket, key string, d *daemon) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			return
		}
		select {
		case <-d.exited:
			tb.Fatalf("s3ferry run exited (%v) before %s arrived", d.waitErr, key)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not arrive in 30s: %v", key, err)
		}
	}
}

// checkAdmin does what docs/packaging.md tells a person to: s3ferry status, and a
// look at the admin endpoint the daemon announced in its state directory.
func checkAdmin(tb testing.TB, d *daemon) {
	tb.Helper()
	status := run(tb, "/usr/bin/s3ferry", "status", "--config", confFile)
	if want := fmt.Sprintf("daemon pid %d", d.cmd.Process.Pid); !strings.Contains(status, want) {
		tb.Errorf("s3ferry status printed %q, want %q", status, want)
	}
	addr, err := os.ReadFile(filepath.Join(stateDir, "admin.addr"))
	if err != nil {
		tb.Fatal(err)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "s3ferry_"} {
		resp, err := http.Get("http://" + strings.TrimSpace(string(addr)) + path)
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			tb.Errorf("GET %s: %s, want 200 with %q:\n%.500s", path, resp.Status, want, body)
		}
	}
}

// runScriptsWithoutSystemd runs the package's maintainer scripts through
// the steps of an install, an upgrade and a removal, with deb's arguments
// and with rpm's, twice: once with systemctl replaced by a stub that
// records its calls, once with no systemctl at all. Each must succeed;
// where systemd does not run the stub may only have been asked to disable
// units (which edits symlinks and needs no systemd).
func runScriptsWithoutSystemd(tb testing.TB, deb string, systemdRuns bool) {
	tb.Helper()
	scripts := tb.TempDir()
	run(tb, "dpkg-deb", "-e", deb, scripts)
	steps := [][]string{
		{"postinst", "configure", ""}, {"postinst", "configure", "0.0.1"},
		{"prerm", "upgrade", "9.9.9"}, {"postrm", "upgrade", "9.9.9"},
		{"prerm", "remove"}, {"postrm", "remove"},
		{"postinst", "1"}, {"postinst", "2"}, // rpm: %post, %preun, %postun
		{"prerm", "1"}, {"postrm", "1"}, {"prerm", "0"}, {"postrm", "0"},
	}

	stub := tb.TempDir()
	calls := filepath.Join(stub, "calls")
	writeFile(tb, filepath.Join(stub, "systemctl"), "#!/bin/sh\necho \"$*\" >>"+calls+"\n")
	if err := os.Chmod(filepath.Join(stub, "systemctl"), 0o755); err != nil {
		tb.Fatal(err)
	}
	noSystemctl := pathWithout(tb, "systemctl")
	for _, path := range []string{stub + ":" + os.Getenv("PATH"), noSystemctl} {
		for _, step := range steps {
			cmd := exec.Command(filepath.Join(scripts, step[0]), step[1:]...)
			cmd.Env = append(os.Environ(), "PATH="+path)
			if out, err := cmd.CombinedOutput(); err != nil {
				tb.Errorf("%s with PATH=%s: %v\n%s", strings.Join(step, " "), path, err, out)
			}
		}
	}
	if systemdRuns {
		return // then the scripts do talk to systemd, as they should
	}
	b, _ := os.ReadFile(calls)
	disable := "--no-reload disable s3ferry.service s3ferry-catchup.timer s3ferry-catchup.service"
	for line := range strings.Lines(string(b)) {
		if strings.TrimSpace(line) != disable {
			tb.Errorf("without systemd a script ran systemctl %s", line)
		}
	}
	if strings.Count(string(b), disable) != 2 {
		tb.Errorf("systemctl calls %q, want %q once on deb's and once on rpm's removal", b, disable)
	}
}

// pathWithout returns a PATH with every command of this one but tool.
func pathWithout(tb testing.TB, tool string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, p := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if e.Name() == tool || exists(filepath.Join(dir, e.Name())) {
				continue
			}
			if err := os.Symlink(filepath.Join(p, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir
}
