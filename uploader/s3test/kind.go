package s3test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Kind is an S3 server s3test can start. Each is a pinned binary that
// `make test-compat` builds into the tools directory and exports in an
// environment variable, as `make test` does MinIO's.
type Kind string

const (
	MinIO     Kind = "MinIO"     // the default, and the lenient one
	SeaweedFS Kind = "SeaweedFS" // weed server: master, volume, filer and S3 gateway in one process
	VersityGW Kind = "VersityGW" // versitygw posix: S3 over a directory, versions in another
)

// Kinds lists every Kind, MinIO first.
func Kinds() []Kind { return []Kind{MinIO, SeaweedFS, VersityGW} }

// ErrNoSeaweedFS and ErrNoVersityGW are ErrNoMinIO for the other kinds.
var (
	ErrNoSeaweedFS = errors.New("weed (SeaweedFS) not found: run `make test-compat` (it builds the pinned SeaweedFS), put weed on PATH or set S3FERRY_WEED")
	ErrNoVersityGW = errors.New("versitygw not found: run `make test-compat` (it builds the pinned VersityGW), put versitygw on PATH or set S3FERRY_VERSITYGW")
)

// isNoBinary reports whether err says a server's binary is missing.
func isNoBinary(err error) bool {
	return errors.Is(err, ErrNoMinIO) || errors.Is(err, ErrNoSeaweedFS) || errors.Is(err, ErrNoVersityGW)
}

// Binary returns the binary of k, found as Binary finds MinIO's: the
// variable (S3FERRY_MINIO, S3FERRY_WEED, S3FERRY_VERSITYGW), else the
// program on PATH, else the newest in $HOME/.cache/s3ferry/tools.
func (k Kind) Binary() (string, error) {
	switch k {
	case MinIO, "":
		return findTool("minio", "S3FERRY_MINIO", ErrNoMinIO, nil)
	case SeaweedFS:
		return findTool("weed", "S3FERRY_WEED", ErrNoSeaweedFS, nil)
	case VersityGW:
		return findTool("versitygw", "S3FERRY_VERSITYGW", ErrNoVersityGW, nil)
	}
	return "", fmt.Errorf("s3test: unknown server kind %q", k)
}

// skipOrFail is skipOrFail for a missing binary of k, but a missing
// SeaweedFS skips under CI=true too: make test does not build it (it takes
// long), make test-compat does and sets S3FERRY_WEED, and a binary that
// variable names but is not there fails as ever.
func (k Kind) skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if k == SeaweedFS && errors.Is(err, ErrNoSeaweedFS) {
		tb.Skip(err)
		return
	}
	skipOrFail(tb, err)
}

// Options say which server to start and how.
type Options struct {
	Kind Kind // MinIO when empty
	TLS  bool // HTTPS with a certificate from a fresh CA (Server.CAFile)
}

func (o Options) withDefaults() Options {
	if o.Kind == "" {
		o.Kind = MinIO
	}
	return o
}

// launch is what differs between kinds: the ports a server needs, and
// its command line. ports[0] is the S3 port; certs holds public.crt and
// private.key when the server talks HTTPS.
type launch struct {
	ports   int
	command func(s *Server, bin, dir, certs string, ports []int) (*exec.Cmd, error)
}

func launchOf(k Kind) launch {
	switch k {
	case SeaweedFS:
		return launch{ports: 9, command: seaweedCommand}
	case VersityGW:
		return launch{ports: 1, command: versityCommand}
	}
	return launch{ports: 2, command: minioCommand}
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func minioCommand(s *Server, bin, dir, certs string, ports []int) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "server",
		"--address", loopback(ports[0]),
		"--console-address", loopback(ports[1]),
		"--certs-dir", certs,
		filepath.Join(dir, "data"))
	cmd.Env = append(environWithout("MINIO_"),
		"HOME="+dir, // nothing of MinIO's in the real home
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off")
	return cmd, nil
}

// seaweedCommand runs `weed server` with the S3 gateway, every one of its
// servers (and their gRPC ports, which default to port+10000) on a free
// loopback port, and the credentials in an S3 identity file.
func seaweedCommand(s *Server, bin, dir, certs string, ports []int) (*exec.Cmd, error) {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials"`
		Actions     []string     `json:"actions"`
	}
	conf, err := json.Marshal(map[string][]identity{"identities": {{
		Name:        "s3test",
		Credentials: []credential{{s.AccessKey, s.SecretKey}},
		Actions:     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}})
	if err != nil {
		return nil, err
	}
	confFile := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"server",
		"-dir=" + data,
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(1), "-master.port.grpc=" + p(2),
		"-volume.port=" + p(3), "-volume.port.grpc=" + p(4),
		"-filer.port=" + p(5), "-filer.port.grpc=" + p(6),
		"-s3", "-s3.port=" + p(0), "-s3.port.grpc=" + p(7),
		"-s3.config=" + confFile,
		"-metricsPort=" + p(8),
		// Small volumes: the default (30 GB each) reserves disk a test never needs.
		"-master.volumeSizeLimitMB=64", "-volume.max=0",
	}
	if s.caPEM != nil {
		args = append(args,
			"-s3.cert.file="+filepath.Join(certs, "public.crt"),
			"-s3.key.file="+filepath.Join(certs, "private.key"))
	}
	// weed serves each gRPC port on a socket in /tmp too, which it
	// leaves behind when killed.
	for i, name := range map[int]string{2: "master", 4: "volume", 6: "filer", 7: "s3"} {
		s.leftovers = append(s.leftovers, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", name, ports[i]))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(environWithout("WEED_"), "HOME="+dir)
	return cmd, nil
}

// versityCommand runs `versitygw posix` over dir/root, with versions kept
// in dir/versions (without a versioning directory the gateway refuses
// PutBucketVersioning).
func versityCommand(s *Server, bin, dir, certs string, ports []int) (*exec.Cmd, error) {
	root, versions := filepath.Join(dir, "root"), filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	args := []string{
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region,
		"--port", loopback(ports[0]),
		"--quiet",
	}
	if s.caPEM != nil {
		args = append(args, "--cert", filepath.Join(certs, "public.crt"), "--key", filepath.Join(certs, "private.key"))
	}
	args = append(args, "posix", "--versioning-dir", versions, root)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(environWithout("VGW_"), "HOME="+dir)
	return cmd, nil
}

// EachKind runs fn in a parallel subtest of t for every kind of server,
// over HTTP and over HTTPS ("MinIO/http", "MinIO/https", ...), each with a
// server of its own that stops when the subtest ends. A kind without its
// binary skips its subtests as StartWith does.
func EachKind(t *testing.T, fn func(t *testing.T, s *Server)) {
	for _, kind := range Kinds() {
		for _, scheme := range []string{"http", "https"} {
			t.Run(string(kind)+"/"+scheme, func(t *testing.T) {
				t.Parallel()
				fn(t, StartWith(t, Options{Kind: kind, TLS: scheme == "https"}))
			})
		}
	}
}
