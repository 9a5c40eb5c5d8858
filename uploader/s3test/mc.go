package s3test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ErrNoMC means no mc (the MinIO client) binary was found. Server.MC skips
// the test on it, or fails it when CI=true.
var ErrNoMC = errors.New("mc not found: run `make test` (it installs the pinned mc), put MinIO's mc on PATH or set S3FERRY_MC")

// Alias is the name a Server has in the paths given to Server.MC:
// "s3test/bucket/prefix/".
const Alias = "s3test"

// mcTimeout bounds one mc command; each does a handful of requests.
const mcTimeout = 2 * time.Minute

// MC returns the mc binary to run: $S3FERRY_MC, else MinIO's mc on PATH
// (not Midnight Commander, which has the same name), else the newest
// $HOME/.cache/s3ferry/tools/mc-*/mc.
func MC() (string, error) {
	return findTool("mc", "S3FERRY_MC", ErrNoMC, isMinIOClient)
}

// isMinIOClient tells MinIO's mc from other programs called mc.
func isMinIOClient(path string) bool {
	out, err := exec.Command(path, "--version").Output()
	return err == nil && bytes.HasPrefix(out, []byte("mc version"))
}

// MC runs mc with args against s, which mc knows as Alias
// ("s3test/bucket/key"), and returns what it printed. mc gets a fresh
// configuration directory and no MC_* variables but the alias. Without an
// mc binary it skips tb (fails it under CI=true); it fails tb when mc fails.
func (s *Server) MC(tb testing.TB, args ...string) string {
	tb.Helper()
	bin, err := MC()
	if err != nil {
		skipOrFail(tb, err)
	}
	dir := tb.TempDir()
	if s.caPEM != nil {
		cas := filepath.Join(dir, "certs", "CAs")
		if err := os.MkdirAll(cas, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cas, "s3test.pem"), s.caPEM, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), mcTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config-dir", dir, "--quiet", "--no-color", "--disable-pager"}, args...)...)
	cmd.Env = append(environWithout("MC_"), "MC_HOST_"+Alias+"="+s.URL(""))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("mc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// URL is s's endpoint with its root credentials in it and path as its path,
// as mc takes a server: http://ACCESS:SECRET@127.0.0.1:PORT/path.
func (s *Server) URL(path string) string {
	scheme, host, _ := strings.Cut(s.Endpoint, "://")
	u := url.URL{Scheme: scheme, Host: host, User: url.UserPassword(s.AccessKey, s.SecretKey)}
	if path != "" {
		u.Path = "/" + strings.TrimPrefix(path, "/")
	}
	return u.String()
}

// Replicate sets up server-side replication of bucket on s to target on
// dst, as `mc replicate add` does: every new object version, delete marker
// and existing object is copied, asynchronously. Both buckets must be
// versioned. A test waits for objects to arrive with a deadline; it never
// knows when they will.
func (s *Server) Replicate(tb testing.TB, bucket string, dst *Server, target string) {
	tb.Helper()
	s.MC(tb, "replicate", "add", Alias+"/"+bucket, "--remote-bucket", dst.URL(target), "--priority", "1")
}
