package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// make release, for one architecture, into a temporary directory, signed
// with a throwaway gpg key: the files a release holds, SHA256SUMS that
// sha256sum -c accepts (and rejects once a file changes), a signature gpg
// verifies, and a tarball whose binary says the release's version.
func TestRelease(t *testing.T) {
	need(t, "sha256sum")
	need(t, "gpg")
	need(t, "tar")
	gnupg := tempGnuPG(t)
	dir := t.TempDir()
	const version = "v0.0.1-test"
	out := makeRun(t, "release", "VERSION="+version, "RELEASE_ARCHES=amd64", "RELEASE_DIR="+dir,
		"SIGNING_KEY=release-test@example.invalid", "GNUPGHOME="+gnupg)

	name := "s3ferry_0.0.1-test_linux_amd64"
	released := []string{name + ".tar.gz", "s3ferry_0.0.1~test_amd64.deb", "s3ferry-0.0.1~test.x86_64.rpm"}
	want := append([]string{"SHA256SUMS", "SHA256SUMS.asc"}, released...)
	slices.Sort(want)
	if got := readDirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("make release made %q, want %q\n%s", got, want, out)
	}
	sums := inDir(t, dir, nil, "sha256sum", "-c", "SHA256SUMS")
	for _, f := range released {
		if !strings.Contains(sums, f+": OK\n") {
			t.Errorf("sha256sum -c SHA256SUMS did not check %s:\n%s", f, sums)
		}
	}
	inDir(t, dir, []string{"GNUPGHOME=" + gnupg}, "gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS")

	// The tarball: the binary of this version, with the licences beside it.
	x := t.TempDir()
	run(t, "tar", "-C", x, "-xzf", filepath.Join(dir, name+".tar.gz"))
	if got, want := readDirNames(t, filepath.Join(x, name)), []string{"CHANGELOG.md", "LICENSE", "README.md", "THIRD_PARTY_NOTICES", "docs", "s3ferry"}; !slices.Equal(got, want) {
		t.Errorf("%s.tar.gz holds %q, want %q", name, got, want)
	}
	assertSameFile(t, filepath.Join(x, name, "THIRD_PARTY_NOTICES"), "../THIRD_PARTY_NOTICES", 0o644)
	if got := run(t, filepath.Join(x, name, "s3ferry"), "version"); !regexp.MustCompile(`^s3ferry version ` + version + ` \(`).MatchString(got) {
		t.Errorf("released s3ferry version printed %q, want %s", got, version)
	}

	// A changed file fails the check; a second signature check would too.
	if err := os.WriteFile(filepath.Join(dir, name+".tar.gz"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err == nil || !strings.Contains(string(out), name+".tar.gz: FAILED") {
		t.Errorf("sha256sum -c after tampering: %v\n%s", err, out)
	}
}

// Without a key the checksums are written and the signature is skipped,
// saying so.
func TestReleaseSumsUnsigned(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"s3ferry_1_linux_amd64.tar.gz", "s3ferry_1_amd64.deb", "s3ferry-1.x86_64.rpm", "SHA256SUMS.asc"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := makeRun(t, "release-sums", "RELEASE_DIR="+dir, "SIGNING_KEY=")
	if !strings.Contains(out, "SHA256SUMS is not signed: no SIGNING_KEY") {
		t.Errorf("make release-sums without a key printed:\n%s", out)
	}
	if got, want := readDirNames(t, dir), []string{"SHA256SUMS", "s3ferry-1.x86_64.rpm", "s3ferry_1_amd64.deb", "s3ferry_1_linux_amd64.tar.gz"}; !slices.Equal(got, want) {
		t.Errorf("release dir holds %q, want %q (an old signature removed)", got, want)
	}
	inDir(t, dir, nil, "sha256sum", "-c", "--strict", "SHA256SUMS")
}

// tempGnuPG returns a GNUPGHOME with one signing key without a passphrase,
// release-test@example.invalid; its gpg-agent is stopped when tb ends.
func tempGnuPG(tb testing.TB) string {
	tb.Helper()
	home, err := os.MkdirTemp("", "gpg-") // short: the agent's socket path is limited
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		tb.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	tb.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "all")
		kill.Env = append(os.Environ(), env...)
		_ = kill.Run() // nothing to stop if no agent started
		os.RemoveAll(home)
	})
	inDir(tb, home, env, "gpg", "--batch", "--passphrase", "", "--quick-generate-key",
		"release test <release-test@example.invalid>", "ed25519", "sign", "never")
	return home
}

// makeRun runs make in the top of the checkout and returns what it printed.
func makeRun(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inDir runs a command in dir with env added and returns its output, or
// fails tb.
func inDir(tb testing.TB, dir string, env []string, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readDirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
