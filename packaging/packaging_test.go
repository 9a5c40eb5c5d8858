package packaging

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	agentdaemon "github.com/s3ferry/s3ferry/agent/daemon"
)

// Set once in TestMain, read-only after.
var (
	debFile, rpmFile string // built by `make packages` into a temporary DIST
	buildErr         error
)

func TestMain(m *testing.M) {
	dist, err := os.MkdirTemp("", "s3ferry-dist-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The one way packages are built, as a person builds them.
	make := exec.Command("make", "--no-print-directory", "packages", "DIST="+dist)
	make.Dir = ".."
	if out, err := make.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("make packages: %v\n%s", err, out)
	} else {
		debFile, rpmFile, buildErr = onePackageEach(dist)
	}
	code := m.Run()
	os.RemoveAll(dist)
	os.Exit(code)
}

func onePackageEach(dist string) (deb, rpm string, err error) {
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		return "", "", fmt.Errorf("make packages made %v and %v, want one .deb and one .rpm", debs, rpms)
	}
	return debs[0], rpms[0], nil
}

// packages returns the built .deb and .rpm, or fails tb.
func packages(tb testing.TB) (deb, rpm string) {
	tb.Helper()
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return debFile, rpmFile
}

type shippedFile struct {
	path   string
	mode   fs.FileMode
	config bool
	only   string // "deb" or "rpm": only in that format
}

// shipped is what the packages must hold, and nothing else: every file with
// its mode (owner and group are root), the configuration file marked so
// that upgrades keep it, and the licence files only one format has.
var shipped = []shippedFile{
	{"/usr/bin/s3ferry", 0o755, false, ""},
	{"/usr/lib/systemd/system/s3ferry.service", 0o644, false, ""},
	{"/usr/lib/systemd/system/s3ferry-catchup.service", 0o644, false, ""},
	{"/usr/lib/systemd/system/s3ferry-catchup.timer", 0o644, false, ""},
	{"/etc/s3ferry", fs.ModeDir | 0o755, false, ""},
	{"/etc/s3ferry/s3ferry.yml", 0o644, true, ""},
	{"/usr/lib/sysctl.d/60-s3ferry.conf", 0o644, false, ""},
	{"/usr/share/doc/s3ferry", fs.ModeDir | 0o755, false, ""},
	{"/usr/share/doc/s3ferry/README.md", 0o644, false, ""},
	{"/usr/share/doc/s3ferry/iam-policy.json", 0o644, false, ""},
	{"/usr/share/doc/s3ferry/iam-policy-object-lock.json", 0o644, false, ""},
	{"/usr/share/doc/s3ferry/THIRD_PARTY_NOTICES", 0o644, false, ""},
	{"/usr/share/doc/s3ferry/copyright", 0o644, false, "deb"},
	{"/usr/share/licenses/s3ferry/LICENSE", 0o644, false, "rpm"},
	{"/usr/share/man/man1/s3ferry.1.gz", 0o644, false, ""},
	{"/usr/share/bash-completion/completions/s3ferry", 0o644, false, ""},
	{"/usr/share/zsh/vendor-completions/_s3ferry", 0o644, false, ""},
	{"/usr/share/fish/vendor_completions.d/s3ferry.fish", 0o644, false, ""},
	{"/usr/share/s3ferry", fs.ModeDir | 0o755, false, ""},
	{"/usr/share/s3ferry/monitoring", fs.ModeDir | 0o755, false, ""},
	{"/usr/share/s3ferry/monitoring/s3ferry.rules.yml", 0o644, false, ""},
	{"/usr/share/s3ferry/monitoring/s3ferry.json", 0o644, false, ""},
}

// shippedIn returns what the package of format ("deb" or "rpm") holds:
// shipped, and the documentation of docs/ beside the README.
func shippedIn(format string) []shippedFile {
	docs, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	in := []shippedFile{{"/usr/share/doc/s3ferry/docs", fs.ModeDir | 0o755, false, ""}}
	for _, d := range docs {
		in = append(in, shippedFile{"/usr/share/doc/s3ferry/docs/" + filepath.Base(d), 0o644, false, ""})
	}
	for _, f := range shipped {
		if f.only == "" || f.only == format {
			in = append(in, f)
		}
	}
	return in
}

// entry is one path of a package listing.
type entry struct {
	mode, owner string // "-rw-r--r--", "root/root"
	config      bool
}

func TestDebContents(t *testing.T) {
	deb, _ := packages(t)
	need(t, "dpkg-deb")
	got := map[string]entry{}
	for line := range strings.Lines(run(t, "dpkg-deb", "-c", deb)) {
		// drwxr-xr-x root/root 0 2026-11-22 02:37 ./etc/s3ferry/
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		got[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = entry{mode: f[0], owner: f[1]}
	}
	dir := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, dir)
	conffiles, err := os.ReadFile(filepath.Join(dir, "conffiles"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // none: no conffiles
		t.Fatal(err)
	}
	for _, c := range strings.Fields(string(conffiles)) {
		e := got[c]
		e.config = true
		got[c] = e
	}
	checkListing(t, got, "deb")

	// The maintainer scripts are packaging/scripts, as they are.
	for script, src := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
		assertSameFile(t, filepath.Join(dir, script), filepath.Join("scripts", src), 0o755)
	}
	for _, script := range []string{"preinst", "config", "templates"} {
		if _, err := os.Stat(filepath.Join(dir, script)); err == nil {
			t.Errorf("the .deb has a %s; nothing should make one", script)
		}
	}

	fields := map[string]string{"Package": "s3ferry", "Architecture": runtime.GOARCH, "Depends": "passwd", "Section": "admin"}
	for field, want := range fields {
		if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field)); got != want {
			t.Errorf("%s: %s = %q, want %q", filepath.Base(deb), field, got, want)
		}
	}
}

func TestRPMContents(t *testing.T) {
	_, rpm := packages(t)
	needRPM(t)
	got := map[string]entry{}
	out := run(t, "rpm", "-qp", "--qf", `[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}/%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]`, rpm)
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) != 4 {
			t.Fatalf("rpm -qp line %q", line)
		}
		var e entry
		switch e.mode, e.owner = f[1], f[2]; f[3] {
		case "cn": // %config(noreplace): an edited file is kept, the new one saved as .rpmnew
			e.config = true
		case "", "l": // l: %license, checked below
		default:
			t.Errorf("%s: file flags %q, want none, cn or l", f[0], f[3])
		}
		got[f[0]] = e
	}
	checkListing(t, got, "rpm")
	if got, want := run(t, "rpm", "-qp", "--licensefiles", rpm), "/usr/share/licenses/s3ferry/LICENSE\n"; got != want {
		t.Errorf("%%license files %q, want %q", got, want)
	}

	scripts := map[string]string{"POSTIN": "postinstall.sh", "PREUN": "preremove.sh", "POSTUN": "postremove.sh"}
	for tag, src := range scripts {
		want, err := os.ReadFile(filepath.Join("scripts", src))
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, "rpm", "-qp", "--qf", "%{"+tag+"}", rpm); strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("%%%s of %s is not scripts/%s:\n%s", strings.ToLower(tag), filepath.Base(rpm), src, got)
		}
	}
	if got := run(t, "rpm", "-qp", "--qf", "%{PREIN}", rpm); got != "(none)" {
		t.Errorf("%%pre = %q, want none", got)
	}
	if got, want := run(t, "rpm", "-qp", "--requires", rpm), "shadow-utils"; !strings.Contains(got, want) {
		t.Errorf("requires %q, want %s", got, want)
	}
}

// checkListing compares the listing of a package of format ("deb" or
// "rpm") with shipped. A .deb also lists the parent directories (/usr,
// /usr/bin, ...): root's, 0755.
func checkListing(t *testing.T, got map[string]entry, format string) {
	t.Helper()
	want := map[string]entry{}
	for _, f := range shippedIn(format) {
		want[f.path] = entry{mode: f.mode.String(), owner: "root/root", config: f.config}
		for dir := filepath.Dir(f.path); format == "deb" && dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := want[dir]; !ok {
				want[dir] = entry{mode: (fs.ModeDir | 0o755).String(), owner: "root/root"}
			}
		}
	}
	delete(got, "") // a .deb lists ./ itself
	for path, w := range want {
		if g, ok := got[path]; !ok {
			t.Errorf("%s is missing", path)
		} else if g != w {
			t.Errorf("%s: %+v, want %+v", path, g, w)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("%s is in the package but not expected", path)
		}
	}
}

// The package version, the binary's `s3ferry version` and the file names
// come from one git describe.
func TestPackageVersion(t *testing.T) {
	deb, rpm := packages(t)
	need(t, "dpkg-deb")
	root := unpackDeb(t, deb)
	out := run(t, filepath.Join(root, "usr/bin/s3ferry"), "version")
	m := regexp.MustCompile(`^s3ferry version (\S+) \(commit [0-9a-f]+, go[0-9.]+\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("s3ferry version printed %q", out)
	}
	version := strings.TrimSpace(run(t, "./version.sh", m[1]))
	if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Version")); got != version {
		t.Errorf(".deb version %q, want %q (from s3ferry version %s)", got, version, m[1])
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if got, want := filepath.Base(deb), "s3ferry_"+version+"_"+runtime.GOARCH+".deb"; got != want {
		t.Errorf(".deb is named %s, want %s", got, want)
	}
	if got, want := filepath.Base(rpm), "s3ferry-"+version+"."+rpmArch+".rpm"; got != want {
		t.Errorf(".rpm is named %s, want %s", got, want)
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		if got := run(t, "rpm", "-qp", "--qf", "%{VERSION}", rpm); got != version {
			t.Errorf(".rpm version %q, want %q", got, version)
		}
	}
}

func TestVersionScript(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`) // deb's and rpm's rules, both
	tests := []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.abc1234"},
		{"v1.2.3-rc1-4-gabc1234", "1.2.3~rc1+git4.abc1234"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git4.abc1234.dirty"},
		{"abc1234", "0.0.0~git17.abc1234"},
		{"abc1234-dirty", "0.0.0~git17.abc1234+dirty"},
		{"71412f2", "0.0.0~git17.71412f2"}, // a hash may start with a digit
	}
	for _, tt := range tests {
		got := strings.TrimSpace(run(t, "./version.sh", tt.describe, "17"))
		if got != tt.want || !valid.MatchString(got) {
			t.Errorf("version.sh %s = %q, want %q", tt.describe, got, tt.want)
		}
	}
	// Each sorts after the one before, as dpkg and rpm see it.
	order := []string{"0.0.0~git17.abc1234", "0.0.0~git18.def5678", "1.2.3~rc1", "1.2.3", "1.2.3+git4.abc1234", "1.2.4"}
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if _, err := exec.LookPath("dpkg"); err == nil {
			if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
				t.Errorf("dpkg: %s does not sort before %s", a, b)
			}
		}
		if _, err := exec.LookPath("rpm"); err == nil {
			if got := run(t, "rpm", "--eval", fmt.Sprintf("%%{lua: print(rpm.vercmp(%q, %q))}", a, b)); strings.TrimSpace(got) != "-1" {
				t.Errorf("rpm: %s does not sort before %s (vercmp %s)", a, b, got)
			}
		}
	}
}

func TestUnitsVerify(t *testing.T) {
	deb, _ := packages(t)
	need(t, "dpkg-deb")
	need(t, "systemd-analyze")
	root := unpackDeb(t, deb)
	// verify --root resolves every unit the ours name (network-online.target,
	// multi-user.target, ...) and the ExecStart binary inside root, so root
	// gets the host's units too. Without --root it would want /usr/bin/s3ferry
	// installed on this machine.
	cmd := exec.Command("systemd-analyze", "verify", "--root="+root,
		"s3ferry.service", "s3ferry-catchup.service", "s3ferry-catchup.timer")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out) // warnings count: verify must be silent
	}
}

func TestUnitsSecurity(t *testing.T) {
	need(t, "systemd-analyze")
	for _, unit := range []string{"s3ferry.service", "s3ferry-catchup.service"} {
		path, err := filepath.Abs(unit) // a path, so not a unit of that name installed here
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, "systemd-analyze", "security", "--offline=true", path)
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\w+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s printed no overall level:\n%s", unit, out)
		}
		level, err := strconv.ParseFloat(m[1], 64)
		if err != nil || level > 2.0 {
			t.Errorf("%s: exposure %s %s, want 2.0 or lower:\n%s", unit, m[1], m[2], out)
		} else {
			t.Logf("%s: exposure %s %s", unit, m[1], m[2])
		}
	}
}

// What the issue asks of the unit besides its exposure level, and that
// the catch-up service runs with the same identity and sandbox.
func TestUnitSettings(t *testing.T) {
	svc := readUnit(t, "s3ferry.service")
	want := []struct{ section, key, value string }{
		{"Unit", "After", "network-online.target"},
		{"Unit", "Wants", "network-online.target"},
		{"Unit", "StartLimitIntervalSec", "10min"},
		{"Unit", "StartLimitBurst", "5"},
		{"Service", "Type", "notify"},
		{"Service", "ExecStart", "/usr/bin/s3ferry run --config /etc/s3ferry/s3ferry.yml"},
		{"Service", "WatchdogSec", "5min"},
		{"Service", "Restart", "on-failure"},
		// 78 (EX_CONFIG) is what `run` exits with on a configuration
		// error; no Go crash exits with it (a panic or fatal error is 2).
		{"Service", "RestartPreventExitStatus", "78"},
		// RestartPreventExitStatus= does not apply to ExecStartPre=: a
		// check there that fails is restarted until the start limit.
		{"Service", "ExecStartPre", ""},
		{"Service", "User", "s3ferry"},
		{"Service", "Group", "s3ferry"},
		{"Service", "StateDirectory", "s3ferry"},
		{"Service", "RuntimeDirectory", "s3ferry"},
		{"Service", "RuntimeDirectoryMode", "0750"},
		{"Service", "ConfigurationDirectory", "s3ferry"},
		{"Service", "AmbientCapabilities", "CAP_DAC_READ_SEARCH"},
		{"Service", "LimitNOFILE", "65536"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, w := range append(want, sandbox...) {
		if got := svc.get(w.section, w.key); got != w.value {
			t.Errorf("s3ferry.service: [%s] %s=%q, want %q", w.section, w.key, got, w.value)
		}
	}
	if got := svc.all("Service", "SystemCallFilter"); !slices.Contains(got, "@system-service") {
		t.Errorf("s3ferry.service: SystemCallFilter=%q, want @system-service among them", got)
	}

	// systemd must not kill s3ferry while it drains uploads on stop.
	stop, err := time.ParseDuration(svc.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	var cfg struct {
		Daemon struct {
			ShutdownTimeout time.Duration `yaml:"shutdown-timeout"`
		} `yaml:"daemon"`
	}
	readYAML(t, "s3ferry.yml", &cfg)
	for _, drain := range []time.Duration{agentdaemon.DefaultShutdownTimeout, cfg.Daemon.ShutdownTimeout} {
		if stop < drain+15*time.Second {
			t.Errorf("TimeoutStopSec=%s leaves less than 15s after a %s drain", stop, drain)
		}
	}

	catchup := readUnit(t, "s3ferry-catchup.service")
	same := []struct{ section, key, value string }{
		{"Service", "User", ""}, {"Service", "Group", ""}, {"Service", "StateDirectory", ""},
		{"Service", "ConfigurationDirectory", ""}, {"Service", "EnvironmentFile", ""},
		{"Service", "AmbientCapabilities", ""}, {"Service", "CapabilityBoundingSet", ""},
		{"Service", "UMask", ""}, {"Service", "LimitNOFILE", ""},
	}
	for _, k := range append(same, sandbox...) {
		if got, want := catchup.all(k.section, k.key), svc.all(k.section, k.key); !slices.Equal(got, want) {
			t.Errorf("s3ferry-catchup.service: %s=%q, s3ferry.service has %q", k.key, got, want)
		}
	}
	if got, want := catchup.get("Service", "ExecStart"), "/usr/bin/s3ferry sync --full --config /etc/s3ferry/s3ferry.yml"; got != want {
		t.Errorf("s3ferry-catchup.service: ExecStart=%q, want %q", got, want)
	}
	timer := readUnit(t, "s3ferry-catchup.timer")
	if timer.get("Timer", "OnCalendar") == "" || timer.get("Install", "WantedBy") != "timers.target" {
		t.Errorf("s3ferry-catchup.timer: want an OnCalendar= and WantedBy=timers.target")
	}
}

// sandbox is the hardening the issue names, with the values both services
// have.
var sandbox = []struct{ section, key, value string }{
	{"Service", "NoNewPrivileges", "yes"},
	{"Service", "ProtectSystem", "strict"},
	{"Service", "ProtectHome", "read-only"},
	{"Service", "PrivateTmp", "yes"},
	{"Service", "PrivateDevices", "yes"},
	{"Service", "ProtectKernelTunables", "yes"},
	{"Service", "ProtectKernelModules", "yes"},
	{"Service", "ProtectKernelLogs", "yes"},
	{"Service", "ProtectControlGroups", "yes"},
	{"Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
	{"Service", "RestrictNamespaces", "yes"},
	{"Service", "LockPersonality", "yes"},
	{"Service", "MemoryDenyWriteExecute", "yes"},
	{"Service", "SystemCallArchitectures", "native"},
	{"Service", "SystemCallFilter", "~@privileged @resources"},
}

// The drop-in raises both inotify limits above the kernel's defaults
// (8192 watches on older kernels, 16384 queued events).
func TestSysctlDropIn(t *testing.T) {
	got := map[string]int{}
	f, err := os.Open("60-s3ferry.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if !ok || err != nil {
			t.Fatalf("line %q is not key = number", line)
		}
		got[strings.TrimSpace(key)] = n
	}
	want := map[string]int{"fs.inotify.max_user_watches": 524288, "fs.inotify.max_queued_events": 65536}
	for key, least := range want {
		if got[key] < least {
			t.Errorf("%s = %d, want at least %d", key, got[key], least)
		}
	}
	if len(got) != len(want) {
		t.Errorf("settings %v, want only %v", got, slices.Sorted(maps.Keys(want)))
	}
}

// unpackDeb extracts deb into a fresh directory laid out like /, over a
// copy of this machine's unit files, for systemd-analyze --root.
func unpackDeb(tb testing.TB, deb string) string {
	tb.Helper()
	root := tb.TempDir()
	units := filepath.Join(root, "usr/lib/systemd/system")
	if err := os.MkdirAll(units, 0o755); err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat("/usr/lib/systemd/system"); err == nil {
		run(tb, "cp", "-a", "/usr/lib/systemd/system/.", units)
	}
	run(tb, "dpkg-deb", "-x", deb, root)
	return root
}

// unit is a systemd unit file: section → key → values in file order.
type unit map[string]map[string][]string

func readUnit(tb testing.TB, path string) unit {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	u := unit{}
	section := ""
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				tb.Fatalf("%s: line %q", path, line)
			}
			u[section][key] = append(u[section][key], value)
		}
	}
	return u
}

// get returns key's last value, the one that counts for most keys.
func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (u unit) all(section, key string) []string { return u[section][key] }

// exampleSources is the shipped configuration's sources: with its
// commented example uncommented, as a person would to use it.
func exampleSources(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile("s3ferry.yml")
	if err != nil {
		tb.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\nsources:\n")
	if !ok {
		tb.Fatal("s3ferry.yml has no sources: key")
	}
	out := "sources:\n"
	for line := range strings.Lines(after) {
		example, ok := strings.CutPrefix(line, "  # ")
		if !ok {
			break
		}
		out += "  " + example
	}
	return out
}

func readYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// assertSameFile checks that got has want's content and the mode perm.
func assertSameFile(tb testing.TB, got, want string, perm fs.FileMode) {
	tb.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		tb.Fatal(err)
	}
	if string(g) != string(w) {
		tb.Errorf("%s differs from %s", got, want)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != perm {
		tb.Errorf("%s: mode %v (%v), want %v", got, fi.Mode(), err, perm)
	}
}

// run runs a command and returns its standard output, or fails tb with
// everything it printed.
func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// need skips tb when a tool is missing, or fails it under CI=true.
func need(tb testing.TB, tool string) {
	tb.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		skipOrFail(tb, fmt.Sprintf("%s is not installed", tool))
	}
}

func skipOrFail(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: not skipping)", why)
	}
	tb.Skip(why)
}

// needRPM makes sure rpm is there to read the .rpm (see needAPT).
func needRPM(tb testing.TB) {
	tb.Helper()
	needAPT(tb, "rpm", "rpm", "the .rpm is not checked")
}

// needAPT makes sure path (a command, or an absolute file) is there: under
// CI=true or S3FERRY_TEST_INSTALL=1, as root, it installs pkg with apt-get;
// otherwise a missing one skips the test (and fails it under CI=true),
// saying what goes unchecked.
func needAPT(tb testing.TB, path, pkg, unchecked string) {
	tb.Helper()
	var err error
	if filepath.IsAbs(path) {
		_, err = os.Stat(path)
	} else {
		_, err = exec.LookPath(path)
	}
	if err == nil {
		return
	}
	_, aptErr := exec.LookPath("apt-get")
	mayInstall := os.Getenv("CI") == "true" || os.Getenv("S3FERRY_TEST_INSTALL") == "1"
	if !mayInstall || os.Geteuid() != 0 || aptErr != nil {
		skipOrFail(tb, fmt.Sprintf("%s is not installed, so %s: apt-get install %s (CI installs it)", path, unchecked, pkg))
	}
	tb.Logf("installing %s with apt-get", pkg)
	tb.Setenv("DEBIAN_FRONTEND", "noninteractive")
	run(tb, "apt-get", "update", "-qq")
	run(tb, "apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg)
}
