package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/agent/admin"
)

// adminRequest sends one request to the daemon's admin endpoint and returns
// the status code and body.
func (d *daemonProc) request(tb testing.TB, method, path string, header map[string]string, host string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, d.admin+path, strings.NewReader("full=1"))
	if err != nil {
		tb.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// A web page in a browser on the host must not start a walk, nor read the
// status through DNS rebinding; s3ferry's own clients still work.
func TestAdminRefusesOtherSites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.startDaemon(t, "--partition-layout", "2006-01-02")
	// A late file in an old partition: only a full walk finds it.
	e.write(t, day(-100)+"/late.wav", "late", time.Hour)
	before := d.status(t).Rescans

	refused := []struct {
		name   string
		method string
		path   string
		header map[string]string
		host   string
		want   int
	}{
		{"cross-site form POST", "POST", "/sync?full=1", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, "", http.StatusForbidden},
		{"POST without S3ferry-Request", "POST", "/sync?full=1", map[string]string{"Content-Type": "text/plain"}, "", http.StatusForbidden},
		{"cross-site POST with the header", "POST", "/sync?full=1", map[string]string{"Origin": "http://evil.example", admin.RequestHeader: "1"}, "", http.StatusForbidden},
		{"DNS rebinding POST", "POST", "/sync?full=1", map[string]string{admin.RequestHeader: "1"}, "evil.example:9180", http.StatusMisdirectedRequest},
		{"DNS rebinding GET /status", "GET", "/status", nil, "evil.example", http.StatusMisdirectedRequest},
	}
	for _, r := range refused {
		code, body := d.request(t, r.method, r.path, r.header, r.host)
		if code != r.want || strings.Contains(body, e.root) || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s: %d %q, want %d with a one-line reason and no path", r.name, code, body, r.want)
		}
	}
	if after := d.status(t).Rescans; !reflect.DeepEqual(after, before) {
		t.Fatalf("rescans %+v after the refused requests, were %+v: a refused request ran a walk", after, before)
	}
	if e.hasKeys(t, day(-100)+"/late.wav") {
		t.Fatal("late.wav uploaded: a refused request ran a full walk")
	}

	// The daemon's own clients send what the endpoint asks for.
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--full", "--json")
	if r.code != 0 || r.stats(t).Uploaded != 1 {
		t.Fatalf("sync via the daemon: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}", "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || !st.Daemon {
		t.Fatalf("status: exit %d, %q (%v)", r.code, r.stdout+r.stderr, err)
	}
}

// writeToken writes a token file with mode and returns its path.
func writeToken(tb testing.TB, token string, mode os.FileMode) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "admin.token")
	if err := os.WriteFile(p, []byte(token+"\n"), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		tb.Fatal(err)
	}
	return p
}

func TestRunAdminOffLoopbackNeedsAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{"wildcard bind", []string{"--admin-listen", "0.0.0.0:0"}, "set admin.token-file"},
		{"empty host", []string{"--admin-listen", ":0"}, "set admin.token-file"},
		{"host name", []string{"--admin-listen", "backup-host.example:0"}, "set admin.token-file"},
		{"world-readable token", []string{"--admin-listen", "0.0.0.0:0", "--admin-token-file", writeToken(t, "abc", 0o644)}, "chmod o-rwx"},
		{"empty token", []string{"--admin-listen", "0.0.0.0:0", "--admin-token-file", writeToken(t, "", 0o600)}, "one token on one line"},
		{"missing token file", []string{"--admin-listen", "0.0.0.0:0", "--admin-token-file", filepath.Join(t.TempDir(), "none")}, "no such file"},
	}
	for _, tt := range tests {
		args := append([]string{"run", "{root}", "{dest}", "--index-dir", "{index}"}, tt.flags...)
		r := e.run(t, args...)
		if r.code != exitConfig || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d (a configuration error systemd does not restart) and one line with %q", tt.name, r.code, r.stderr, exitConfig, tt.want)
		}
	}
}

func TestAdminTokenOffLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const token = "0123456789abcdef-the-token"
	tokenFile := writeToken(t, token, 0o640)
	d := e.startDaemon(t, "--admin-listen", "0.0.0.0:0", "--admin-token-file", tokenFile)

	for _, tt := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer " + token + "0", http.StatusUnauthorized},
		{"Bearer " + token, http.StatusOK},
	} {
		header := map[string]string{}
		if tt.auth != "" {
			header["Authorization"] = tt.auth
		}
		for _, path := range []string{"/metrics", "/healthz"} {
			code, body := d.request(t, "GET", path, header, "")
			if code != tt.want {
				t.Errorf("GET %s with %q: %d, want %d", path, tt.auth, code, tt.want)
			}
			if path == "/metrics" && code == http.StatusOK && !strings.Contains(body, "s3ferry_uploaded_files_total") {
				t.Errorf("/metrics with the token: %q", body)
			}
		}
	}

	// TCP serves no status and no sync, token or not: they are the
	// socket's.
	for _, method := range []string{"GET /status", "POST /sync"} {
		m, path, _ := strings.Cut(method, " ")
		code, body := d.request(t, m, path, map[string]string{"Authorization": "Bearer " + token, admin.RequestHeader: "1"}, "")
		if code != http.StatusNotFound && code != http.StatusMethodNotAllowed || strings.Contains(body, e.root) {
			t.Errorf("%s over TCP with the token: %d %q, want 404 naming no path", method, code, body)
		}
	}

	// The clients go through the socket, whatever the configuration's
	// token file.
	cfg := filepath.Join(t.TempDir(), "s3ferry.yml")
	if err := os.WriteFile(cfg, []byte("admin:\n  token-file: "+tokenFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write(t, "new.wav", "new", time.Hour)
	r := e.run(t, "sync", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg, "--json")
	if r.code != 0 || r.stats(t).Uploaded != 1 {
		t.Fatalf("sync via the daemon with the token: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}", "--config", cfg, "--json")
	var st admin.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || !st.Daemon {
		t.Fatalf("status with the token: exit %d, %q (%v)", r.code, r.stdout+r.stderr, err)
	}
	// Without it too: the socket needs no token (the token is for TCP).
	r = e.run(t, "status", "{root}", "{dest}", "--index-dir", "{index}", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || !st.Daemon {
		t.Fatalf("status without the token: exit %d, %q (%v)", r.code, r.stdout+r.stderr, err)
	}
}
