package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/uploader/s3"
)

// ErrNoMinIO means no MinIO binary was found. Start skips the test on it,
// or fails it when CI=true.
var ErrNoMinIO = errors.New("minio not found: run `make test` (it installs the pinned MinIO), put minio on PATH or set S3FERRY_MINIO")

const (
	startTimeout = 60 * time.Second // MinIO usually answers within a second, SeaweedFS within a few
	startTries   = 3                // a free port may be taken before the server binds it
	maxOutput    = 1 << 20          // bytes of the server's output kept for failures
)

// Server is a running S3 server (MinIO unless Options said otherwise) on
// loopback with its own data directory and random root credentials.
// Several can run at once (e.g. a source and a replica); they share
// nothing.
type Server struct {
	Kind      Kind
	Endpoint  string // "http://127.0.0.1:<port>", or https with StartTLS
	AccessKey string
	SecretKey string
	Region    string // "us-east-1"
	CAFile    string // with StartTLS: PEM of the CA that signed the server's certificate
	// Dir is the server's own directory; MinIO keeps its data below
	// Dir/data (see Rot).
	Dir string

	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{} // closed once the process has exited
	caPEM  []byte        // CAFile's content
	admin  *awss3.Client
	// leftovers are files the server makes outside its directory, which
	// stop removes (SeaweedFS's gRPC sockets in /tmp).
	leftovers []string
}

// Start starts a MinIO for tb and stops it when tb ends. It looks for the
// binary in $S3FERRY_MINIO, then minio on PATH, then
// $HOME/.cache/s3ferry/tools/minio-*/minio; without one it skips tb, or
// fails it when the environment has CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartTLS is Start with HTTPS: the server's certificate (for 127.0.0.1)
// is signed by a fresh CA whose PEM is in CAFile, which a client must be
// told to trust (LoadOptions does; so does AWS_CA_BUNDLE=CAFile).
func StartTLS(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{TLS: true})
}

// StartWith is Start for the server opts name: without its binary it
// skips tb, or fails it under CI=true.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	opts = opts.withDefaults()
	bin, err := opts.Kind.Binary()
	if err != nil {
		opts.Kind.skipOrFail(tb, err)
	}
	s, err := start(bin, tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.stop()
		if tb.Failed() {
			tb.Logf("%s output:\n%s", s.Kind, s.out.String())
		}
	})
	return s
}

// StartMain starts a MinIO to share across a test package, from TestMain;
// call stop after m.Run. The error wraps ErrNoMinIO when there is no
// binary; pass it to Require in each test:
//
//	func TestMain(m *testing.M) {
//		srv, stop, err := s3test.StartMain()
//		minio, minioErr = srv, err // package variables, set only here
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
func StartMain() (s *Server, stop func(), err error) {
	return StartMainWith(Options{})
}

// StartMainWith is StartMain for the server opts name.
func StartMainWith(opts Options) (s *Server, stop func(), err error) {
	opts = opts.withDefaults()
	bin, err := opts.Kind.Binary()
	if err != nil {
		return nil, func() {}, err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return nil, func() {}, fmt.Errorf("start %s: %w", opts.Kind, err)
	}
	s, err = start(bin, dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, func() {}, err
	}
	return s, func() {
		s.stop()
		os.RemoveAll(dir)
	}, nil
}

// Require returns s, the server StartMain (or StartMainWith) returned
// with err; when err is not nil it skips tb (or fails it under CI=true)
// for a missing binary, and fails it for any other error.
func Require(tb testing.TB, s *Server, err error) *Server {
	tb.Helper()
	if isNoBinary(err) {
		skipOrFail(tb, err)
	} else if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Output returns the last of the server's output, for a test that fails on a
// shared server to log.
func (s *Server) Output() string {
	return s.out.String()
}

// Binary returns the MinIO binary to run: $S3FERRY_MINIO, else minio on
// PATH, else the newest $HOME/.cache/s3ferry/tools/minio-*/minio.
func Binary() (string, error) {
	return MinIO.Binary()
}

// findTool looks for a pinned tool the way make installs it: the path in
// the environment variable env, else name on PATH, else the newest
// $HOME/.cache/s3ferry/tools/name-*/name. A program on PATH counts only if
// onPath, when set, accepts it. It returns notFound when there is none.
func findTool(name, env string, notFound error, onPath func(path string) bool) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%s: %w", env, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil && (onPath == nil || onPath(p)) {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		found, _ := filepath.Glob(filepath.Join(home, ".cache", "s3ferry", "tools", name+"-*", name))
		sort.Strings(found)
		for i := len(found) - 1; i >= 0; i-- {
			if _, err := exec.LookPath(found[i]); err == nil {
				return found[i], nil
			}
		}
	}
	return "", notFound
}

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%v (CI=true: not skipping)", err)
	} else {
		tb.Skip(err)
	}
}

// Config returns the client config that reaches s (endpoint, path-style,
// region); credentials come from LoadOptions or Env.
func (s *Server) Config() s3.Config {
	return s3.Config{EndpointURL: s.Endpoint, PathStyle: true, Region: s.Region}
}

// LoadOptions are the SDK load options a client of s needs besides Config:
// its root credentials and, with StartTLS, trust in its CA.
func (s *Server) LoadOptions() []func(*config.LoadOptions) error {
	opts := []func(*config.LoadOptions) error{StaticCredentials(s.AccessKey, s.SecretKey)}
	if s.caPEM != nil {
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(s.caPEM)))
	}
	return opts
}

// Client returns a client for s built by s3.NewClient, as the agent
// builds its own.
func (s *Server) Client(tb testing.TB) *s3.Client {
	tb.Helper()
	c, err := s.NewClient(context.Background(), s.Config())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// NewClient returns a client for s built by s3.NewClient from cfg (s's
// Config with changes), with s's LoadOptions.
func (s *Server) NewClient(ctx context.Context, cfg s3.Config) (*s3.Client, error) {
	return s3.NewClient(ctx, cfg, s.LoadOptions()...)
}

// Env returns the environment that points the SDK of a child process (the
// built s3ferry binary) at s, and with HTTPS makes it trust s's CA
// (AWS_CA_BUNDLE). The SDK has no variable for path-style addressing; it
// uses it by itself for an IP-address endpoint such as s's.
func (s *Server) Env() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
	}
	if s.CAFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+s.CAFile)
	}
	return env
}

// NewBucket creates a bucket with a unique name on s, with versioning
// enabled when versioned, and returns its name.
func (s *Server) NewBucket(tb testing.TB, versioned bool) string {
	tb.Helper()
	name := "s3test-" + randomHex(8)
	if err := s.CreateBucket(context.Background(), name, versioned); err != nil {
		tb.Fatal(err)
	}
	return name
}

// CreateBucket creates the bucket name on s, with versioning enabled when
// versioned: NewBucket for a program that is not a test (the demo, the
// benchmarks).
func (s *Server) CreateBucket(ctx context.Context, name string, versioned bool) error {
	if _, err := s.admin.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if versioned {
		_, err := s.admin.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		})
		if err != nil {
			return fmt.Errorf("enable versioning on bucket %s: %w", name, err)
		}
	}
	return nil
}

// DeleteAll removes every version and delete marker below prefix in
// bucket for good, a thousand at a time (DeleteObjects): the benchmarks
// empty their bucket between rounds so.
func (s *Server) DeleteAll(ctx context.Context, bucket, prefix string) error {
	p := awss3.NewListObjectVersionsPaginator(s.admin, &awss3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			continue
		}
		res, err := s.admin.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("delete below s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(res.Errors) > 0 {
			return fmt.Errorf("delete %s in s3://%s: %s", aws.ToString(res.Errors[0].Key), bucket, aws.ToString(res.Errors[0].Message))
		}
	}
	return nil
}

// start runs the server on dir, retrying with new ports when it exits
// before answering (another process took a port between probe and bind).
func start(bin, dir string, opts Options) (*Server, error) {
	var caPEM []byte
	if opts.TLS {
		var err error
		if caPEM, err = writeCerts(filepath.Join(dir, "certs")); err != nil {
			return nil, fmt.Errorf("start %s: %w", opts.Kind, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o644); err != nil {
			return nil, fmt.Errorf("start %s: %w", opts.Kind, err)
		}
	}
	var err error
	for range startTries {
		var s *Server
		s, err = startOnce(bin, dir, opts.Kind, caPEM)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errExited) {
			return nil, err
		}
	}
	return nil, err
}

var errExited = errors.New("server exited")

// startOnce runs the server of kind on dir, with HTTPS when caPEM is set
// (writeCerts put the server's certificate into dir/certs).
func startOnce(bin, dir string, kind Kind, caPEM []byte) (*Server, error) {
	l := launchOf(kind)
	ports, err := freePorts(l.ports)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	scheme := "http"
	if caPEM != nil {
		scheme = "https"
	}
	s := &Server{
		Kind:      kind,
		Endpoint:  scheme + "://" + loopback(ports[0]),
		AccessKey: "s3test-" + randomHex(6),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
		Dir:       dir,
		out:       &tailBuffer{max: maxOutput},
		exited:    make(chan struct{}),
	}
	if caPEM != nil {
		s.CAFile = filepath.Join(dir, "ca.pem")
		s.caPEM = caPEM
	}
	if s.cmd, err = l.command(s, bin, dir, filepath.Join(dir, "certs"), ports); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.SysProcAttr = sysProcAttr()

	started := make(chan error, 1)
	go func() {
		// On Linux the server gets SIGKILL when the thread that started
		// it exits (sysProcAttr), so that a test binary killed by a
		// timeout leaves no server behind. Keep this goroutine on its
		// thread until the server has exited, so the Go scheduler never
		// retires that thread under a running server.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.cmd.Wait() // the exit status of a killed server says nothing
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s %s: %w", kind, bin, err)
	}

	admin, err := s.NewClient(context.Background(), s.Config())
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	s.admin = admin.SDK()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("start %s %s: %w\n--- %s output ---\n%s", kind, bin, err, kind, s.out.String())
	}
	return s, nil
}

// waitReady polls the server until it answers: MinIO's liveness endpoint
// until it answers 200; the others, which have none on the S3 port, until
// they write and delete an object (SeaweedFS's gateway lists buckets
// before its volume server has joined, and cannot store anything then).
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	if s.caPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.caPEM)
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		defer client.CloseIdleConnections()
	}
	ready := func() bool {
		resp, err := client.Get(s.Endpoint + "/minio/health/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if s.Kind != MinIO {
		ready = s.storesObjects
	}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("%w before answering", errExited)
		default:
		}
		if ready() {
			return nil
		}
		select {
		case <-s.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer from %s within %s", s.Endpoint, startTimeout)
}

// readyBucket is the bucket storesObjects writes into, and removes.
const readyBucket = "s3test-ready"

// storesObjects reports whether s stores and deletes an object in
// readyBucket, one attempt of each request, and leaves no bucket behind.
func (s *Server) storesObjects() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	once := func(o *awss3.Options) { o.Retryer = aws.NopRetryer{} }
	bucket, key := aws.String(readyBucket), aws.String("ready")
	if _, err := s.admin.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: bucket}, once); err != nil {
		if _, err := s.admin.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bucket}, once); err != nil {
			return false
		}
	}
	if _, err := s.admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("ready")}, once); err != nil {
		return false
	}
	if _, err := s.admin.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bucket, Key: key}, once); err != nil {
		return false
	}
	_, err := s.admin.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bucket}, once)
	return err == nil
}

// stop kills the server, and every process it started, and waits for it
// to exit.
func (s *Server) stop() {
	select {
	case <-s.exited:
	default:
		killGroup(s.cmd.Process) // an error means it has already exited
		<-s.exited
	}
	for _, f := range s.leftovers {
		os.Remove(f)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// environWithout returns the environment without variables whose names
// start with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never returns an error
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it; the server writes to it
// from the process's copying goroutines while a test may read it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StaticCredentials is the SDK load option for fixed credentials, for
// s3.NewClient; tests use it with wrong ones too.
func StaticCredentials(accessKey, secretKey string) func(*config.LoadOptions) error {
	return config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""))
}
