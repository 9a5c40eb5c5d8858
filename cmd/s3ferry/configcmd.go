package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/s3ferry/s3ferry/agent/bucket"
)

func newConfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "config",
		Usage:     "print the effective configuration: the file, flags, S3FERRY_* variables and defaults merged",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Prints, as a configuration file, what s3ferry run would use: the --config
file's keys, overridden by flags and S3FERRY_* environment variables, with every
key it leaves out at its default. No secret is ever in it: credentials come from
the AWS SDK's chain, and of the admin token only the file's path is shown.
'config check' validates a configuration the same way run does and exits 0, or
2 with the key or line at fault: the unit's ExecStartPre runs it, so a bad edit
fails 'systemctl restart s3ferry' with that line.

Examples:
 1. What the service runs with:
    s3ferry config --config /etc/s3ferry/s3ferry.yml
 2. Check an edited file before restarting the service:
    s3ferry config check --config /etc/s3ferry/s3ferry.yml && sudo systemctl restart s3ferry
 3. What a flag or an environment variable changes:
    S3FERRY_WORKERS=32 s3ferry config --config /etc/s3ferry/s3ferry.yml --lookback 72h`,
		Flags: append(configFlags(), daemonFlags()...),
		Action: func(c *cli.Context) error {
			s, err := loadSettings(c)
			if err != nil {
				return usageError{err}
			}
			return printConfig(c.App.Writer, effectiveConfig(s))
		},
		Subcommands: []*cli.Command{newConfigCheckCommand()},
	}
}

func newConfigCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate a configuration file as s3ferry run would: exit 0 when it is good, 2 with the line at fault",
		Description: `Reads the --config file strictly (an unknown key, a wrong type or a bad value is
an error naming its line or key), merges flags and S3FERRY_* variables as run
does, and checks the admin token file. Nothing is contacted: the bucket and
credentials are checked by 's3ferry doctor'.

Examples:
 1. s3ferry config check --config /etc/s3ferry/s3ferry.yml
 2. In a deployment script:
    s3ferry config check --config new.yml && install -m 0644 new.yml /etc/s3ferry/s3ferry.yml`,
		Flags: append(configFlags(), daemonFlags()...),
		Action: func(c *cli.Context) error {
			path := c.Path(flagConfig)
			if path == "" {
				return usageError{fmt.Errorf("config check needs the file: s3ferry config check --config FILE")}
			}
			s, err := loadSettings(c)
			if err != nil {
				return usageError{err}
			}
			if _, err := daemonAdminToken(s); err != nil {
				return usageError{fmt.Errorf("config %s: %w", path, err)}
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s: ok (%d sources, index %s)\n", path, len(s.sources), s.indexDir)
			return err
		},
	}
}

// effectiveConfig is s written back as a configuration file.
func effectiveConfig(s settings) fileConfig {
	d := func(v time.Duration) *time.Duration { return &v }
	admin := s.admin
	if admin == "" {
		admin = "off"
	}
	return fileConfig{
		IndexDir:  s.indexDir,
		LogFormat: s.logFormat,
		LogLevel:  s.logLevel,
		Settle:    d(s.settle),
		S3: s3Config{
			EndpointURL:    s.s3.EndpointURL,
			Region:         s.s3.Region,
			PathStyle:      s.s3.PathStyle,
			Profile:        s.s3.Profile,
			StorageClass:   s.s3.StorageClass,
			SSE:            s.s3.SSE,
			SSEKMSKeyID:    s.s3.SSEKMSKeyID,
			ConnectTimeout: d(s.s3.ConnectTimeout),
		},
		Upload: uploadConfig{
			Workers:         workersString(s),
			MaxWorkers:      s.maxWorkers,
			Memory:          byteSize(s.upload.Memory),
			PartSize:        byteSize(s.upload.PartSize),
			PartConcurrency: s.upload.PartConcurrency,
			BandwidthLimit:  byteSize(s.s3.BandwidthLimit),
			Checksum:        s.upload.Checksum,
			MaxAttempts:     s.s3.MaxAttempts,
			StallTimeout:    d(s.s3.StallTimeout),
		},
		Sources: s.sourceConfigs,
		Admin:   adminConfig{Listen: admin, TokenFile: s.adminTokenFile},
		Daemon: daemonConfig{
			RescanInterval:     d(s.daemon.rescanInterval),
			FullRescanInterval: d(s.daemon.fullRescanInterval),
			ShutdownTimeout:    d(s.daemon.shutdownTimeout),
			RetentionInterval:  d(s.daemon.retentionInterval),
			FileFailAfter:      d(s.daemon.fileFailAfter),
		},
		Verify: verifyConfig{ReadSample: readSampleString(s.read.sample), ReadInterval: d(s.read.interval), ReadRate: byteSize(s.read.rate)},
	}
}

// readSampleString is sample as verify.read-sample reads it; "0": none.
func readSampleString(sample bucket.ReadSample) string {
	if sample.IsZero() {
		return "0"
	}
	return sample.String()
}

// printConfig writes fc as YAML that loadFile reads back to the same
// settings.
func printConfig(w io.Writer, fc fileConfig) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(fc); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return enc.Close()
}

// MarshalYAML writes a size as loadFile reads it: 16MiB, 1500000.
func (b byteSize) MarshalYAML() (any, error) {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.size == 0 {
			return fmt.Sprintf("%d%s", int64(b)/u.size, u.suffix), nil
		}
	}
	return int64(b), nil
}

// workersString is how the configuration file says s's number of uploads.
func workersString(s settings) string {
	if s.autoWorkers {
		return "auto"
	}
	return strconv.Itoa(s.workers)
}
