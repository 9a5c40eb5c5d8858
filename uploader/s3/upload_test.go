package s3_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

// Tests of what a client built by NewClient does for an Uploader and a
// bucket check: credentials, endpoints, TLS, the bandwidth limit.

// The MinIO the tests of this package that need no server of their own
// share; set only by TestMain.
var (
	minio    *s3test.Server
	minioErr error
)

func TestMain(m *testing.M) {
	srv, stop, err := s3test.StartMain()
	minio, minioErr = srv, err
	code := m.Run()
	stop()
	os.Exit(code)
}

func server(tb testing.TB) *s3test.Server {
	tb.Helper()
	return s3test.Require(tb, minio, minioErr)
}

// smallConfig makes 5 MiB the multipart threshold, so multipart uploads
// need only a few MiB.
func smallConfig() uploader.Config {
	return uploader.Config{PartSize: uploader.MinPartSize}
}

// use returns an Uploader with cfg over client's buckets, as the agent
// builds one.
func use(client *s3.Client, cfg uploader.Config) *uploader.Uploader {
	return uploader.New(client.Bucket, client, cfg)
}

// checkBucket is what CheckBucket was: Check of the bucket name through
// client.
func checkBucket(client *s3.Client, name string) error {
	return client.Bucket(name).Check(context.Background())
}

// uploadSizes uploads a file of random bytes of each size (key: the size)
// with cfg and checks each object against its file.
func uploadSizes(tb testing.TB, client *s3.Client, cfg uploader.Config, bucket string, sizes ...int) {
	tb.Helper()
	for _, size := range sizes {
		data := randomBytes(size)
		path := writeFile(tb, tb.TempDir(), "f", data)
		key := fmt.Sprint(size)
		res, err := use(client, cfg).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: key, Path: path})
		if err != nil {
			tb.Fatalf("Upload of %d bytes: %v", size, err)
		}
		s3test.CheckObject(tb, client, bucket, key, res, "CRC32C", data)
	}
}

func TestUploadNoSuchBucket(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	_, err := use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: "no-such-bucket-here", Key: "k", Path: path})
	s3test.CheckClass(t, "Upload", err, "no-such-bucket", true)

	err = checkBucket(client, "no-such-bucket-here")
	s3test.CheckClass(t, "CheckBucket", err, "no-such-bucket", true)
	if want := "bucket no-such-bucket-here does not exist"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckBucket: err = %v, want it to say %q", err, want)
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, false)
	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	tests := []struct {
		name        string
		key, secret string
	}{
		{"unknown access key", "nobody", "secret-of-nobody"},
		{"wrong secret", srv.AccessKey, "not-the-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, err := s3.NewClient(context.Background(), srv.Config(),
				s3test.StaticCredentials(tt.key, tt.secret))
			if err != nil {
				t.Fatal(err)
			}
			_, err = use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "k", Path: path})
			s3test.CheckClass(t, "Upload", err, "credentials", true)

			err = checkBucket(client, bucket)
			s3test.CheckClass(t, "CheckBucket", err, "credentials", true)
			if want := "credentials rejected"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CheckBucket: err = %v, want it to say %q", err, want)
			}
		})
	}
}

// TestNoCredentials empties the SDK's credential chain, so it changes the
// environment and cannot run in parallel.
func TestNoCredentials(t *testing.T) {
	srv := server(t)
	isolateAWSEnv(t)

	client, err := s3.NewClient(context.Background(), srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	err = checkBucket(client, "any")
	s3test.CheckClass(t, "CheckBucket", err, "credentials", true)
	if !errors.Is(err, uploader.ErrNoCredentials) {
		t.Errorf("CheckBucket: err = %v, want ErrNoCredentials", err)
	}
	if want := "no credentials: set AWS_PROFILE"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckBucket: err = %v, want it to start with %q", err, want)
	}

	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	_, err = use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
	s3test.CheckClass(t, "Upload", err, "credentials", true)
}

// TestEnv runs a client configured only by the environment Env returns,
// as the built binary is: no endpoint, path style or region in Config.
func TestEnv(t *testing.T) {
	srv := server(t)
	isolateAWSEnv(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	bucket := srv.NewBucket(t, false)

	client, err := s3.NewClient(context.Background(), s3.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBucket(client, bucket); err != nil {
		t.Errorf("CheckBucket: %v", err)
	}
	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	if _, err := use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: bucket, Key: "k", Path: path}); err != nil {
		t.Errorf("Upload: %v", err)
	}
}

// TestCABundle checks that the client still loads and talks to MinIO with
// AWS_CA_BUNDLE set, which the SDK applies only to its own HTTP client type.
func TestCABundle(t *testing.T) {
	srv := server(t)
	t.Setenv("AWS_CA_BUNDLE", writeFile(t, t.TempDir(), "ca.pem", selfSignedCA(t)))
	cfg := srv.Config()
	cfg.BandwidthLimit = 1 << 30 // the limiter wraps the SDK's client too
	client, err := s3.NewClient(context.Background(), cfg, srv.LoadOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	bucket := srv.NewBucket(t, false)
	if err := checkBucket(client, bucket); err != nil {
		t.Errorf("CheckBucket: %v", err)
	}
}

// TestTLSWithCABundle talks HTTPS to a MinIO whose certificate only
// AWS_CA_BUNDLE makes trusted, as a private S3-compatible store is; over
// TLS the SDK sends multipart parts with trailing checksums.
func TestTLSWithCABundle(t *testing.T) {
	srv := s3test.StartTLS(t)
	bucket := srv.NewBucket(t, true)
	cfg := srv.Config()
	cfg.BandwidthLimit = 1 << 30 // the limiter wraps the SDK's client too
	creds := s3test.StaticCredentials(srv.AccessKey, srv.SecretKey)

	t.Run("without", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", "")
		client, err := s3.NewClient(context.Background(), cfg, creds)
		if err != nil {
			t.Fatal(err)
		}
		err = checkBucket(client, bucket)
		s3test.CheckClass(t, "CheckBucket", err, "network", true)
		if want := "cannot verify the certificate of " + srv.Endpoint; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("CheckBucket: err = %v, want it to start with %q", err, want)
		}
	})
	t.Run("with", func(t *testing.T) {
		t.Setenv("AWS_CA_BUNDLE", srv.CAFile)
		client, err := s3.NewClient(context.Background(), cfg, creds)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBucket(client, bucket); err != nil {
			t.Fatalf("CheckBucket: %v", err)
		}
		uploadSizes(t, client, smallConfig(), bucket, 0, 1000, 11<<20)
	})
}

func TestCheckBucket(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	if err := checkBucket(srv.Client(t), bucket); err != nil {
		t.Errorf("CheckBucket of an existing bucket: %v", err)
	}
}

func TestCheckBucketUnreachable(t *testing.T) {
	t.Parallel()
	srv := server(t)
	cfg := srv.Config()
	cfg.EndpointURL = "http://" + closedAddr(t)
	cfg.MaxAttempts = 1
	client, err := s3.NewClient(context.Background(), cfg, srv.LoadOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	err = checkBucket(client, "any")
	s3test.CheckClass(t, "CheckBucket", err, "network", true)
	if want := "cannot reach bucket any: endpoint " + cfg.EndpointURL + " refused the connection: check that the S3 server runs"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckBucket: err = %v, want it to start with %q", err, want)
	}
	if strings.Contains(err.Error(), "StatusCode: 0") {
		t.Errorf("CheckBucket: err = %v, want no SDK response-error text for a connection that never answered", err)
	}

	// An upload says the same.
	path := writeFile(t, t.TempDir(), "f", []byte("data"))
	_, err = use(client, uploader.Config{}).Upload(context.Background(), uploader.Job{Bucket: "any", Key: "k", Path: path})
	s3test.CheckClass(t, "Upload", err, "network", false)
	if want := "upload k: PutObject: endpoint " + cfg.EndpointURL + " refused the connection (1 attempt): check"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Upload: err = %v, want it to start with %q", err, want)
	}
}

func TestUploadBandwidthLimit(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, false)
	cfg := srv.Config()
	cfg.BandwidthLimit = 256 << 20 // limited, but not slow
	client, err := s3.NewClient(context.Background(), cfg, srv.LoadOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	uploadSizes(t, client, smallConfig(), bucket, 0, 300<<10, 6<<20)
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// randomBytes returns n bytes that are the same on every run.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

// isolateAWSEnv empties the SDK's credential chain and settings for the
// rest of the test: no credentials, profile, endpoint or instance role.
func isolateAWSEnv(tb testing.TB) {
	tb.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && k != "AWS_CA_BUNDLE" {
			tb.Setenv(k, "") // restores the value when tb ends
			os.Unsetenv(k)
		}
	}
	missing := filepath.Join(tb.TempDir(), "missing")
	tb.Setenv("AWS_CONFIG_FILE", missing)
	tb.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// selfSignedCA returns the PEM of a CA certificate no server uses.
func selfSignedCA(tb testing.TB) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "s3ferry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// meter counts what a Bucket tells it.
type meter struct{ n atomic.Int64 }

func (m *meter) Moved(n int64) { m.n.Add(n) }

// TestMeterHearsTheBytesSent: the Meter of an upload's context hears its
// body once, as it is sent (not the SDK's checksum pass over plain HTTP),
// and that of a download hears the answer's body.
func TestMeterHearsTheBytesSent(t *testing.T) {
	t.Parallel()
	srv := server(t)
	client := srv.Client(t)
	bucket := srv.NewBucket(t, false)
	const size = 2*uploader.MinPartSize + 12345 // three parts
	path := filepath.Join(t.TempDir(), "f")
	data := make([]byte, size)
	crand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var up meter
	ctx := uploader.WithMeter(context.Background(), &up)
	if _, err := use(client, smallConfig()).Upload(ctx, uploader.Job{Bucket: bucket, Key: "k", Path: path}); err != nil {
		t.Fatal(err)
	}
	if got := up.n.Load(); got < size || got > size+64<<10 {
		t.Errorf("upload of %d bytes: the meter heard %d, want the body once (and a few answers)", size, got)
	}
	var down meter
	body, _, err := client.Bucket(bucket).Get(uploader.WithMeter(context.Background(), &down), "k", "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		t.Fatal(err)
	}
	body.Close()
	if got := down.n.Load(); got != size {
		t.Errorf("download of %d bytes: the meter heard %d", size, got)
	}
}

// TestPing: one attempt, whose error says what it met: the refusal of a
// port nothing listens on, and for a server that takes the connection and
// never answers, that no answer came within the caller's deadline, not a
// bare "context deadline exceeded".
func TestPing(t *testing.T) {
	t.Parallel()
	srv := server(t)
	bucket := srv.NewBucket(t, true)
	client := srv.Client(t)
	if err := client.Ping(context.Background(), bucket); err != nil {
		t.Fatalf("Ping of a bucket that answers: %v", err)
	}

	cfg := srv.Config()
	cfg.EndpointURL = "http://" + closedAddr(t)
	refused, err := s3.NewClient(context.Background(), cfg, srv.LoadOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	err = refused.Ping(context.Background(), bucket)
	if want := "endpoint " + cfg.EndpointURL + " refused the connection"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Ping of a port that refuses = %v, want it to say %q", err, want)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered, until the test ends
		}
	}()
	cfg.EndpointURL = "http://" + silent.Addr().String()
	mute, err := s3.NewClient(context.Background(), cfg, srv.LoadOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = mute.Ping(ctx, bucket)
	if want := "no answer from endpoint " + cfg.EndpointURL + " within"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Ping of a server that never answers = %v, want it to say %q", err, want)
	}
	if got := uploader.ReasonOf(err); got != uploader.ReasonNetwork {
		t.Errorf("ReasonOf(Ping of a server that never answers) = %q, want network", got)
	}
}
