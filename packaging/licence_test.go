package packaging

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Both packages say Apache-2.0 and carry THIRD_PARTY_NOTICES as checked in;
// the .deb has the DEP-5 copyright file, the .rpm the licence as %license.
func TestPackageLicences(t *testing.T) {
	deb, rpm := packages(t)
	need(t, "dpkg-deb")
	if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "License")); got != "Apache-2.0" {
		t.Errorf(".deb License: %q, want Apache-2.0", got)
	}
	root := unpackDeb(t, deb)
	doc := filepath.Join(root, "usr/share/doc/s3ferry")
	assertSameFile(t, filepath.Join(doc, "THIRD_PARTY_NOTICES"), "../THIRD_PARTY_NOTICES", 0o644)
	assertSameFile(t, filepath.Join(doc, "copyright"), "copyright", 0o644)
	checkDEP5(t, filepath.Join(doc, "copyright"))
	checkNotices(t, filepath.Join(root, "usr/bin/s3ferry"), filepath.Join(doc, "THIRD_PARTY_NOTICES"))

	needRPM(t)
	if got := run(t, "rpm", "-qp", "--qf", "%{LICENSE}", rpm); got != "Apache-2.0" {
		t.Errorf(".rpm License: %q, want Apache-2.0", got)
	}
	digests := map[string]string{} // path → sha256
	for line := range strings.Lines(run(t, "rpm", "-qp", "--qf", `[%{FILENAMES} %{FILEDIGESTS}\n]`, rpm)) {
		path, digest, _ := strings.Cut(strings.TrimSpace(line), " ")
		digests[path] = digest
	}
	for path, src := range map[string]string{
		"/usr/share/doc/s3ferry/THIRD_PARTY_NOTICES": "../THIRD_PARTY_NOTICES",
		"/usr/share/licenses/s3ferry/LICENSE":        "../LICENSE",
	} {
		if got, want := digests[path], sha256File(t, src); got != want {
			t.Errorf(".rpm %s: sha256 %q, want %s's %s", path, got, src, want)
		}
	}
}

// checkDEP5 reads a Debian machine-readable copyright file: a header
// paragraph with the format's URL, a Files: * paragraph licensing
// s3ferry under Apache-2.0 that points at THIRD_PARTY_NOTICES, and the
// Apache-2.0 licence paragraph it names.
func checkDEP5(tb testing.TB, path string) {
	tb.Helper()
	data := readFile(tb, path)
	var paras []map[string]string // field → value, continuation lines joined
	for _, p := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		fields := map[string]string{}
		last := ""
		for line := range strings.Lines(p) {
			line = strings.TrimRight(line, "\n")
			if strings.HasPrefix(line, " ") && last != "" {
				fields[last] += "\n" + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				tb.Fatalf("%s: line %q is neither a field nor a continuation", path, line)
			}
			last = k
			fields[k] = strings.TrimSpace(v)
		}
		paras = append(paras, fields)
	}
	if len(paras) != 3 {
		tb.Fatalf("%s: %d paragraphs, want a header, Files: * and License: Apache-2.0", path, len(paras))
	}
	header, files, licence := paras[0], paras[1], paras[2]
	if got, want := header["Format"], "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"; got != want {
		tb.Errorf("%s: Format %q, want %q", path, got, want)
	}
	if header["Upstream-Name"] != "s3ferry" {
		tb.Errorf("%s: Upstream-Name %q, want s3ferry", path, header["Upstream-Name"])
	}
	if files["Files"] != "*" || files["License"] != "Apache-2.0" || files["Copyright"] == "" {
		tb.Errorf("%s: second paragraph %q, want Files: *, a Copyright and License: Apache-2.0", path, files)
	}
	if !strings.Contains(strings.ReplaceAll(files["Comment"], "\n", " "), "/usr/share/doc/s3ferry/THIRD_PARTY_NOTICES") {
		tb.Errorf("%s: Comment %q does not point at THIRD_PARTY_NOTICES", path, files["Comment"])
	}
	if name, _, _ := strings.Cut(licence["License"], "\n"); name != "Apache-2.0" ||
		!strings.Contains(licence["License"], "/usr/share/common-licenses/Apache-2.0") {
		tb.Errorf("%s: last paragraph %q, want the Apache-2.0 licence, pointing at /usr/share/common-licenses", path, licence)
	}
}

// checkNotices: the notices name every module in the binary's build
// information with its version, and no test tool.
func checkNotices(tb testing.TB, binary, notices string) {
	tb.Helper()
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		tb.Fatal(err)
	}
	text := string(readFile(tb, notices))
	if len(info.Deps) < 10 {
		tb.Fatalf("%s has %d modules in its build information, want the dozens s3ferry links", binary, len(info.Deps))
	}
	for _, d := range info.Deps {
		if !strings.Contains(text, "\n"+d.Path+" "+d.Version+"\n") {
			tb.Errorf("%s does not list %s %s, which %s contains", notices, d.Path, d.Version, binary)
		}
	}
	for _, tool := range []string{"github.com/minio/", "github.com/goreleaser/", "honnef.co/go/tools"} {
		if strings.Contains(text, tool) {
			tb.Errorf("%s names %s, a test tool that is not linked into s3ferry", notices, tool)
		}
	}
}

func sha256File(tb testing.TB, path string) string {
	tb.Helper()
	sum := sha256.Sum256(readFile(tb, path))
	return hex.EncodeToString(sum[:])
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
