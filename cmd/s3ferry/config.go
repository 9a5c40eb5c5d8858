package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
	"gopkg.in/yaml.v3"
)

// fileConfig is the YAML configuration file. Unknown keys are an error, so a
// typo never silently turns a setting off.
type fileConfig struct {
	IndexDir  string         `yaml:"index-dir"`
	LogFormat string         `yaml:"log-format"`
	LogLevel  string         `yaml:"log-level"`
	Settle    *duration      `yaml:"settle"`
	S3        s3Config       `yaml:"s3"`
	Upload    uploadConfig   `yaml:"upload"`
	Download  downloadConfig `yaml:"download"`
	Sources   []sourceConfig `yaml:"sources"`
	Admin     adminConfig    `yaml:"admin"`
	Daemon    daemonConfig   `yaml:"daemon"`
	Verify    verifyConfig   `yaml:"verify"`

	Replication replicationConfig `yaml:"replication"`
}

// replicationConfig tunes the tracking of uploads' replication.
type replicationConfig struct {
	CheckRate     float64   `yaml:"check-rate"`
	AlertAfter    *duration `yaml:"alert-after"`
	CheckInterval *duration `yaml:"check-interval"`
	MaxBackoff    *duration `yaml:"max-backoff"`
}

type s3Config struct {
	EndpointURL string `yaml:"endpoint-url"`
	Region      string `yaml:"region"`
	PathStyle   bool   `yaml:"path-style"`
	// AllowUnversioned lets sync upload to a bucket without versioning
	// (--allow-unversioned).
	AllowUnversioned bool   `yaml:"allow-unversioned"`
	Profile          string `yaml:"profile"`
	StorageClass     string `yaml:"storage-class"`
	SSE              string `yaml:"sse"`
	SSEKMSKeyID      string `yaml:"sse-kms-key-id"`

	ConnectTimeout *duration `yaml:"connect-timeout"`
	// MaxAttempts is the old place of upload.max-attempts, still read.
	MaxAttempts int `yaml:"max-attempts,omitempty"`
}

type uploadConfig struct {
	Workers         string   `yaml:"workers"` // a number, or auto
	MaxWorkers      int      `yaml:"max-workers"`
	PartSize        byteSize `yaml:"part-size"`
	PartConcurrency int      `yaml:"part-concurrency"`
	BandwidthLimit  byteSize `yaml:"bwlimit"`
	Checksum        string   `yaml:"checksum"`
	Memory          byteSize `yaml:"memory"`

	MaxAttempts  int       `yaml:"max-attempts"`
	StallTimeout *duration `yaml:"stall-timeout"`
}

// downloadConfig tunes restore and verify --repair.
type downloadConfig struct {
	PartSize        byteSize `yaml:"part-size"`
	PartConcurrency int      `yaml:"part-concurrency"`
	Memory          byteSize `yaml:"memory"`
}

type sourceConfig struct {
	Path            string   `yaml:"path"`
	Destination     string   `yaml:"destination"`
	PartitionLayout string   `yaml:"partition-layout"`
	Lookback        duration `yaml:"lookback"`
	Include         []string `yaml:"include"`
	Exclude         []string `yaml:"exclude"`
	DefaultExcludes *bool    `yaml:"default-excludes"`
	FollowSymlinks  bool     `yaml:"follow-symlinks"`
	LocalRetention  string   `yaml:"local-retention"`
	RequireReplica  *bool    `yaml:"require-replica"`

	PropagateDeletes      bool      `yaml:"propagate-deletes"`
	PropagateDeletesAfter *duration `yaml:"propagate-deletes-after"`

	ObjectLock *objectLockConfig `yaml:"object-lock,omitempty"`
	// Replica is where the bucket's replication copies the destination
	// (see replica.go).
	Replica *replicaConfig `yaml:"replica,omitempty"`

	MaxDelete         int     `yaml:"max-delete"`
	MaxDeleteFraction float64 `yaml:"max-delete-fraction"`
}

// objectLockConfig is a source's object-lock: {mode: COMPLIANCE, retain: 7y}.
type objectLockConfig struct {
	Mode   string `yaml:"mode"`
	Retain string `yaml:"retain"`
}

type adminConfig struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token-file"`
}

type daemonConfig struct {
	RescanInterval     *duration `yaml:"rescan-interval"`
	FullRescanInterval *duration `yaml:"full-rescan-interval"`
	ShutdownTimeout    *duration `yaml:"shutdown-timeout"`
	RetentionInterval  *duration `yaml:"retention-interval"`
	FileFailAfter      *duration `yaml:"file-fail-after"`
}

// verifyConfig is the daemon's restore drill: a read check of a sample of
// the recorded versions every read-interval (verify --read's).
type verifyConfig struct {
	ReadSample   string    `yaml:"read-sample,omitempty"` // 1%, 500 or all; "" or 0: no drill
	ReadInterval *duration `yaml:"read-interval,omitempty"`
	ReadRate     byteSize  `yaml:"read-rate,omitempty"` // also verify --read's default
}

// byteSize is a size written for people: 16MiB, 50MB, 8388608. A rate's
// "/s" suffix is accepted, so bwlimit reads naturally.
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	if t == "" || t == "0" {
		return 0, nil
	}
	v, err := humanize.ParseBytes(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: write it like 16MiB, 50MB or 8388608", s)
	}
	return int64(v), nil
}

// loadFile reads and strictly decodes a configuration file.
func loadFile(path string) (fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileConfig{}, fmt.Errorf("read config: %w", err)
	}
	fc, err := parseConfig(data)
	if err != nil {
		return fileConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileConfig{}, fmt.Errorf("config %s: %w", path, err)
	}
	fc.resolvePaths(filepath.Dir(abs))
	return fc, nil
}

// resolvePaths makes the file's relative paths relative to dir, the
// file's directory, rather than to wherever s3ferry happens to run (the
// unit's working directory is /). Flags stay relative to the current
// directory, as every command's do.
func (fc *fileConfig) resolvePaths(dir string) {
	paths := []*string{&fc.IndexDir, &fc.Admin.TokenFile}
	for i := range fc.Sources {
		paths = append(paths, &fc.Sources[i].Path)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// parseConfig strictly decodes a configuration: an unknown key is an error.
func parseConfig(data []byte) (fileConfig, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		if errors.Is(err, io.EOF) {
			return fileConfig{}, nil // an empty file means all defaults
		}
		return fileConfig{}, errors.New(yamlMessage(err))
	}
	// A second document (after "---") would be ignored, typos and all.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return fc, nil
	case err != nil:
		return fileConfig{}, errors.New(yamlMessage(err))
	default:
		return fileConfig{}, fmt.Errorf("line %d: a second YAML document: put the whole configuration in one, without ---", next.Line)
	}
}

// yamlMessage folds yaml.v3's multi-line errors into one line (escaping
// the line breaks of a quoted value) and says
// "unknown key" where it says "field ... not found in type".
func yamlMessage(err error) string {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for i, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if before, after, ok := strings.Cut(m, ": field "); ok {
			if name, _, ok := strings.Cut(after, " not found"); ok {
				m = before + ": unknown key " + name
			}
		}
		// A quoted multi-line value must not break the message's line.
		msgs[i] = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(m)
	}
	return strings.Join(msgs, "; ")
}

// defaultIndexDir is /var/lib/s3ferry for root, the XDG state directory for
// anyone else.
func defaultIndexDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/s3ferry"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "s3ferry")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "s3ferry")
	}
	return filepath.Join(home, ".local", "state", "s3ferry")
}
