package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/daemon"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3"
)

// settings is the configuration of one command after the file and the flags
// are merged (flags win) and validated: plain values the domain takes.
type settings struct {
	indexDir  string
	logFormat string
	logLevel  string
	settle    time.Duration
	workers   int // files uploaded at once; with autoWorkers, at first
	// autoWorkers adapts the number of uploads at once, up to maxWorkers.
	autoWorkers bool
	maxWorkers  int
	s3          s3.Config       // the client, and what every write carries
	upload      uploader.Config // how files are sent
	download    downloadSettings
	sources     []*local.Source
	admin       string // admin endpoint address; "" is off
	// adminTokenFile holds the admin endpoint's bearer token; "": none.
	adminTokenFile string
	// adminSocket is the admin socket `run` serves, recorded in the
	// index's lock file (index.Options.Admin); "" for every other command.
	adminSocket string
	// command is the command these settings are for ("sync", "index
	// rebuild"), recorded in the index's lock file (index.Options.Command)
	// so that a command refused the index can say who holds it.
	command     string
	daemon      daemonSettings
	read        readSettings
	replication replication.Options
	// sourceConfigs are the sources as they take effect (file and flags
	// merged), for `s3ferry config`.
	sourceConfigs []sourceConfig
	// allowUnversioned lets sync upload to a bucket without versioning
	// (s3.allow-unversioned; sync's --allow-unversioned also does).
	allowUnversioned bool
}

// downloadSettings are how restore and verify --repair fetch files.
type downloadSettings struct {
	parts  uploader.DownloadConfig
	memory int64 // what the downloads in flight hold at most
}

// daemonSettings are the knobs only `run` uses.
type daemonSettings struct {
	rescanInterval     time.Duration
	fullRescanInterval time.Duration // 0: never
	shutdownTimeout    time.Duration
	retentionInterval  time.Duration
	fileFailAfter      time.Duration
}

// readSettings are the restore drill's knobs (verify.*): the daemon's
// sample and interval, and the rate verify --read takes too.
type readSettings struct {
	sample   bucket.ReadSample // zero: the daemon runs no drill
	interval time.Duration
	rate     int64 // bytes per second
}

// loadRead reads the verify section of the configuration.
func loadRead(fc verifyConfig) (readSettings, error) {
	r := readSettings{interval: daemon.DefaultReadInterval, rate: int64(fc.ReadRate)}
	if fc.ReadInterval != nil {
		r.interval = time.Duration(*fc.ReadInterval)
	}
	if r.rate == 0 {
		r.rate = bucket.DefaultReadRate
	}
	if fc.ReadSample != "" {
		s, err := bucket.ParseReadSample(fc.ReadSample)
		if err != nil {
			return readSettings{}, fmt.Errorf("verify.read-sample: %w", err)
		}
		r.sample = s
	}
	if r.interval <= 0 {
		return readSettings{}, fmt.Errorf("verify.read-interval must be positive, got %s", r.interval)
	}
	return r, nil
}

// agentSettle is the agent's Options.Settle for settle as configured,
// where 0 means none (the agent's 0 means its default).
func agentSettle(settle time.Duration) time.Duration {
	if settle == 0 {
		return agent.NoSettle
	}
	return settle
}

// Flag names shared by every command that reads the configuration.
const (
	flagConfig                = "config"
	flagIndexDir              = "index-dir"
	flagEndpointURL           = "endpoint-url"
	flagRegion                = "region"
	flagPathStyle             = "path-style"
	flagProfile               = "profile"
	flagStorageClass          = "storage-class"
	flagSSE                   = "sse"
	flagSSEKMSKeyID           = "sse-kms-key-id"
	flagWorkers               = "workers"
	flagMaxWorkers            = "max-workers"
	flagPartSize              = "part-size"
	flagPartConcurrency       = "part-concurrency"
	flagBandwidthLimit        = "bwlimit"
	flagChecksum              = "checksum"
	flagUploadMemory          = "upload-memory"
	flagMaxAttempts           = "max-attempts"
	flagDownloadPartSize      = "download-part-size"
	flagDownloadParts         = "download-part-concurrency"
	flagDownloadMemory        = "download-memory"
	flagStallTimeout          = "stall-timeout"
	flagConnectTimeout        = "connect-timeout"
	flagLayout                = "partition-layout"
	flagLookback              = "lookback"
	flagInclude               = "include"
	flagExclude               = "exclude"
	flagNoDefaultExcl         = "no-default-excludes"
	flagFollowSymlinks        = "follow-symlinks"
	flagLocalRetention        = "local-retention"
	flagNoRequireReplica      = "no-require-replica"
	flagPropagateDeletes      = "propagate-deletes"
	flagPropagateDeletesAfter = "propagate-deletes-after"
	flagObjectLockMode        = "object-lock-mode"
	flagObjectLockRetain      = "object-lock-retain"
	flagMaxDelete             = "max-delete"
	flagMaxDeleteFraction     = "max-delete-fraction"
	flagSettle                = "settle"
	flagLogFormat             = "log-format"
	flagLogLevel              = "log-level"
)

// configFlags are the flags of every command that takes sources: the same
// settings as the configuration file.
func configFlags() []cli.Flag {
	// Before the category s3 hides the package.
	connectTimeout, maxAttempts, stallTimeout := s3.DefaultConnectTimeout, s3.DefaultMaxAttempts, s3.DefaultStallTimeout
	const maxMaxAttempts = s3.MaxMaxAttempts
	const (
		cfg  = "Configuration"
		s3   = "S3"
		up   = "Upload"
		srcs = "Source (with SRC DEST, or applied to every source of the file)"
		down = "Download (restore, verify --repair)"
	)
	return append([]cli.Flag{
		&cli.PathFlag{Name: flagConfig, Aliases: []string{"c"}, Usage: "YAML configuration `FILE` (sources, S3, upload settings)", EnvVars: []string{"S3FERRY_CONFIG"}, Category: cfg},
		&cli.PathFlag{Name: flagEnvFile, Usage: "add the KEY=VALUE lines of `FILE` to the environment, as systemd's EnvironmentFile= does (credentials: AWS_ACCESS_KEY_ID=...); variables already set win. Default: " + packagedEnvFile + " with --config " + packagedConfig + ", when it may be read", Category: cfg},
		&cli.PathFlag{Name: flagIndexDir, Usage: "index `DIR` (default: /var/lib/s3ferry as root, else $XDG_STATE_HOME/s3ferry)", Category: cfg},
		&cli.StringFlag{Name: flagLogFormat, Usage: "log format: text or json", Value: "text", Category: cfg},
		&cli.StringFlag{Name: flagLogLevel, Usage: "log level: debug, info, warn, error", Value: "info", Category: cfg},

		&cli.StringFlag{Name: flagEndpointURL, Usage: "S3 endpoint `URL` for MinIO, Ceph, Wasabi (also AWS_ENDPOINT_URL)", Category: s3},
		&cli.StringFlag{Name: flagRegion, Usage: "bucket `REGION` (default: from AWS_REGION or the profile)", Category: s3},
		&cli.BoolFlag{Name: flagPathStyle, Usage: "path-style addressing (http://host/bucket/key), for most S3-compatible stores", Category: s3},
		&cli.StringFlag{Name: flagProfile, Usage: "shared config `PROFILE` for credentials (also AWS_PROFILE)", Category: s3},
		&cli.StringFlag{Name: flagStorageClass, Usage: "storage `CLASS` of new objects (STANDARD_IA, INTELLIGENT_TIERING, ...)", Category: s3},
		&cli.StringFlag{Name: flagSSE, Usage: "server-side encryption: AES256 or aws:kms", Category: s3},
		&cli.StringFlag{Name: flagSSEKMSKeyID, Usage: "KMS key `ID` or ARN for --sse aws:kms", Category: s3},
		durationFlag(flagConnectTimeout, "give up a TCP connect or TLS handshake to the endpoint after this long (retried)", connectTimeout, s3),

		&cli.StringFlag{Name: flagWorkers, Usage: fmt.Sprintf("files uploaded at once, or auto: start at %d and adapt to the link (more while the rate grows, fewer when throttled)", agent.DefaultWorkers), Value: "auto", Category: up},
		&cli.IntFlag{Name: flagMaxWorkers, Usage: "with --workers auto, the most files uploaded at once", Value: agent.DefaultMaxWorkers, Category: up},
		&cli.StringFlag{Name: flagPartSize, Usage: "files of at least this `SIZE` go multipart", Value: "16MiB", Category: up},
		&cli.IntFlag{Name: flagPartConcurrency, Usage: "parts in flight per multipart file", Value: uploader.DefaultPartConcurrency, Category: up},
		&cli.StringFlag{Name: flagBandwidthLimit, Usage: "upload `RATE` over all workers, e.g. 50MiB/s (0: unlimited)", Category: up},
		&cli.StringFlag{Name: flagUploadMemory, Usage: "buffers of all uploads at once hold at most this `SIZE` (at least --part-size); an upload that does not fit waits", Value: "64MiB", Category: up},
		&cli.StringFlag{Name: flagChecksum, Usage: "object checksum: CRC32C, CRC32, SHA1, SHA256, CRC64NVME", Value: "CRC32C", Category: up},
		&cli.IntFlag{Name: flagMaxAttempts, Usage: fmt.Sprintf("attempts per S3 request on network errors, 5xx and throttling, with jittered back-off (at most %d)", maxMaxAttempts), Value: maxAttempts, Category: up},
		durationFlag(flagStallTimeout, "cancel and retry a request on which no byte moved for this long", stallTimeout, up),
		durationFlag(flagSettle, "a file changed less than this long ago is left for later", agent.DefaultSettle, up),

		&cli.StringFlag{Name: flagDownloadPartSize, Usage: "files larger than this `SIZE` are fetched in ranged parts of it, in parallel", Value: "8MiB", Category: down},
		&cli.IntFlag{Name: flagDownloadParts, Usage: "ranged parts in flight per file (1: one GET per file)", Value: uploader.DefaultDownloadPartConcurrency, Category: down},
		&cli.StringFlag{Name: flagDownloadMemory, Usage: "what the downloads in flight hold at most (buffers of each GET stream); a download that does not fit waits", Value: "64MiB", Category: down},

		&cli.StringFlag{Name: flagLayout, Usage: "Go time `LAYOUT` of the date folders, e.g. 2006-01-02, 2006/01/02, */2006-01-02", Category: srcs},
		durationFlag(flagLookback, "walk the partitions of this last `DURATION`", local.DefaultLookback, srcs),
		&cli.StringSliceFlag{Name: flagInclude, Usage: "back up only paths matching `GLOB` (** works; repeatable)", Category: srcs},
		&cli.StringSliceFlag{Name: flagExclude, Usage: "skip paths matching `GLOB` (repeatable)", Category: srcs},
		&cli.BoolFlag{Name: flagNoDefaultExcl, Usage: "also back up dotfiles and *.tmp, *.part, ~* files", Category: srcs},
		&cli.BoolFlag{Name: flagFollowSymlinks, Usage: "follow symbolic links (default: skip them)", Category: srcs},
		&cli.StringFlag{Name: flagLocalRetention, Usage: "delete local files older than `AGE` (90d, 2160h) once they are safely in the bucket (docs/replication.md); default: keep all", Category: srcs},
		&cli.BoolFlag{Name: flagPropagateDeletes, Usage: "turn a file deleted locally into a delete marker on its key (its versions stay), after --propagate-deletes-after", Category: srcs},
		durationFlag(flagPropagateDeletesAfter, "grace period before a local delete is mirrored", retention.DefaultPropagateDeletesAfter, srcs),
		&cli.BoolFlag{Name: flagNoRequireReplica, Usage: "with --local-retention, do not wait for a replication rule's copy to be COMPLETED", Category: srcs},
		&cli.IntFlag{Name: flagMaxDelete, Usage: "stop a retention or propagation pass that would delete more than `N` files before it deletes any, until s3ferry retention confirm (-1: no limit)", Value: retention.DefaultMaxDelete, Category: srcs},
		&cli.Float64Flag{Name: flagMaxDeleteFraction, Usage: "the same for more than this `FRACTION` of a source's files (sources of 1000 files or more; -1: no limit)", Value: retention.DefaultMaxDeleteFraction, Category: srcs},
		&cli.StringFlag{Name: flagObjectLockMode, Usage: "lock every uploaded version with Object Lock `MODE` GOVERNANCE or COMPLIANCE (the bucket must have Object Lock; docs/compliance.md)", Category: srcs},
		&cli.StringFlag{Name: flagObjectLockRetain, Usage: "with --object-lock-mode, lock each version this `LONG` after its upload: days or years (30d, 7y)", Category: srcs},
	}, replicaFlags(srcs)...)
}

// loadCommand reads a command's settings (a lone destination is allowed
// when destOnly, for the bucket-side commands) and builds its logger.
// Errors are usage errors.
func loadCommand(c *cli.Context, destOnly bool) (settings, *slog.Logger, error) {
	load := loadSettings
	if destOnly {
		load = loadDestSettings
	}
	s, err := load(c)
	if err != nil {
		return settings{}, nil, usageError{err}
	}
	log, err := newLogger(c.App.ErrWriter, s.logFormat, s.logLevel)
	if err != nil {
		return settings{}, nil, usageError{err}
	}
	if c.IsSet(flagListWorkers) && c.Int(flagListWorkers) < 1 {
		return settings{}, nil, usageError{fmt.Errorf("--%s must be at least 1, got %d", flagListWorkers, c.Int(flagListWorkers))}
	}
	return s, log, nil
}

// loadSettings merges defaults, the configuration file and the flags, and
// validates the result. Errors are usage errors: nothing has been done yet.
func loadSettings(c *cli.Context) (settings, error) { return loadSettingsWith(c, false) }

// loadDestSettings is loadSettings for the commands about the bucket side
// of a source, which also take a lone s3://BUCKET/PREFIX/: the source of the
// configuration file with that destination, or else one without a local
// directory (Root is "").
func loadDestSettings(c *cli.Context) (settings, error) { return loadSettingsWith(c, true) }

func loadSettingsWith(c *cli.Context, destOnly bool) (settings, error) {
	var fc fileConfig
	var err error
	if err := loadEnvFile(c); err != nil {
		return settings{}, err
	}
	if p := c.Path(flagConfig); p != "" {
		if fc, err = loadFile(p); err != nil {
			return settings{}, err
		}
	}
	s := settings{
		command:        commandName(c),
		indexDir:       pick(c, flagIndexDir, fc.IndexDir, defaultIndexDir()),
		logFormat:      pick(c, flagLogFormat, fc.LogFormat, "text"),
		logLevel:       pick(c, flagLogLevel, fc.LogLevel, "info"),
		settle:         pickDuration(c, flagSettle, fc.Settle, agent.DefaultSettle),
		maxWorkers:     pickInt(c, flagMaxWorkers, fc.Upload.MaxWorkers, agent.DefaultMaxWorkers),
		admin:          pick(c, flagAdminListen, fc.Admin.Listen, DefaultAdminListen),
		adminTokenFile: pick(c, flagAdminTokenFile, fc.Admin.TokenFile, ""),
		daemon: daemonSettings{
			rescanInterval:     pickDuration(c, flagRescanInterval, fc.Daemon.RescanInterval, daemon.DefaultRescanInterval),
			fullRescanInterval: pickDuration(c, flagFullRescanInterval, fc.Daemon.FullRescanInterval, daemon.DefaultFullRescanInterval),
			shutdownTimeout:    pickDuration(c, flagShutdownTimeout, fc.Daemon.ShutdownTimeout, daemon.DefaultShutdownTimeout),
			retentionInterval:  pickDuration(c, flagRetentionInterval, fc.Daemon.RetentionInterval, retention.DefaultInterval),
			fileFailAfter:      pickDuration(c, flagFileFailAfter, fc.Daemon.FileFailAfter, daemon.DefaultFileFailAfter),
		},
	}
	if s.replication, err = loadReplication(c, fc.Replication); err != nil {
		return settings{}, err
	}
	if s.read, err = loadRead(fc.Verify); err != nil {
		return settings{}, err
	}
	if s.admin == "off" {
		s.admin = ""
	}
	if s.daemon.rescanInterval <= 0 || s.daemon.fullRescanInterval < 0 || s.daemon.shutdownTimeout <= 0 {
		return settings{}, fmt.Errorf("rescan-interval and shutdown-timeout must be positive, full-rescan-interval positive or 0 (never)")
	}
	if s.daemon.retentionInterval <= 0 {
		return settings{}, fmt.Errorf("retention-interval must be positive, got %s", s.daemon.retentionInterval)
	}
	if s.daemon.fileFailAfter <= 0 {
		return settings{}, fmt.Errorf("file-fail-after must be positive, got %s", s.daemon.fileFailAfter)
	}
	partSize, err := pickSize(c, flagPartSize, fc.Upload.PartSize, uploader.DefaultPartSize)
	if err != nil {
		return settings{}, err
	}
	bwlimit, err := pickSize(c, flagBandwidthLimit, fc.Upload.BandwidthLimit, 0)
	if err != nil {
		return settings{}, err
	}
	memory, err := pickSize(c, flagUploadMemory, fc.Upload.Memory, max(uploader.DefaultMemory, partSize))
	if err != nil {
		return settings{}, err
	}
	checksum := pick(c, flagChecksum, fc.Upload.Checksum, "CRC32C")
	s.s3 = s3.Config{
		EndpointURL:    pick(c, flagEndpointURL, fc.S3.EndpointURL, ""),
		Region:         pick(c, flagRegion, fc.S3.Region, ""),
		PathStyle:      c.Bool(flagPathStyle) || fc.S3.PathStyle,
		Profile:        pick(c, flagProfile, fc.S3.Profile, ""),
		MaxAttempts:    pickInt(c, flagMaxAttempts, cmp.Or(fc.Upload.MaxAttempts, fc.S3.MaxAttempts), s3.DefaultMaxAttempts),
		ConnectTimeout: pickDuration(c, flagConnectTimeout, fc.S3.ConnectTimeout, s3.DefaultConnectTimeout),
		StallTimeout:   pickDuration(c, flagStallTimeout, fc.Upload.StallTimeout, s3.DefaultStallTimeout),
		BandwidthLimit: float64(bwlimit),
		StorageClass:   pick(c, flagStorageClass, fc.S3.StorageClass, ""),
		SSE:            pick(c, flagSSE, fc.S3.SSE, ""),
		SSEKMSKeyID:    pick(c, flagSSEKMSKeyID, fc.S3.SSEKMSKeyID, ""),
		Checksum:       checksum,
	}
	s.allowUnversioned = fc.S3.AllowUnversioned
	s.upload = uploader.Config{
		PartSize:        partSize,
		PartConcurrency: pickInt(c, flagPartConcurrency, fc.Upload.PartConcurrency, uploader.DefaultPartConcurrency),
		Checksum:        checksum,
		Memory:          memory,
	}
	if s.download, err = loadDownload(c, fc.Download); err != nil {
		return settings{}, err
	}
	if s.s3.MaxAttempts < 1 {
		return settings{}, fmt.Errorf("--max-attempts must be at least 1, got %d", s.s3.MaxAttempts)
	}
	if s.s3.ConnectTimeout <= 0 || s.s3.StallTimeout <= 0 {
		return settings{}, fmt.Errorf("--connect-timeout and --stall-timeout must be positive, got %s and %s", s.s3.ConnectTimeout, s.s3.StallTimeout)
	}
	if err := s.upload.Validate(); err != nil {
		return settings{}, err
	}
	if err := s.s3.Validate(); err != nil {
		return settings{}, err
	}
	if s.workers, s.autoWorkers, err = parseWorkers(pick(c, flagWorkers, fc.Upload.Workers, "auto")); err != nil {
		return settings{}, err
	}
	if s.maxWorkers < 1 {
		return settings{}, fmt.Errorf("--max-workers must be at least 1, got %d", s.maxWorkers)
	}
	if s.autoWorkers {
		s.workers = min(s.workers, s.maxWorkers)
	}
	if s.settle < 0 {
		return settings{}, fmt.Errorf("--settle must not be negative, got %s", s.settle)
	}
	if s.sources, s.sourceConfigs, err = loadSources(c, fc.Sources, destOnly); err != nil {
		if errors.Is(err, errNoSource) {
			return s, err // the rest is valid: status lists the index's sources
		}
		return settings{}, err
	}
	return s, nil
}

// loadDownload merges the download settings of the file and the flags.
func loadDownload(c *cli.Context, fc downloadConfig) (downloadSettings, error) {
	partSize, err := pickSize(c, flagDownloadPartSize, fc.PartSize, uploader.DefaultDownloadPartSize)
	if err != nil {
		return downloadSettings{}, err
	}
	memory, err := pickSize(c, flagDownloadMemory, fc.Memory, bucket.DefaultRestoreMemory)
	if err != nil {
		return downloadSettings{}, err
	}
	d := downloadSettings{
		parts: uploader.DownloadConfig{
			PartSize:        partSize,
			PartConcurrency: pickInt(c, flagDownloadParts, fc.PartConcurrency, uploader.DefaultDownloadPartConcurrency),
		},
		memory: memory,
	}
	if err := d.parts.Validate(); err != nil {
		return downloadSettings{}, err
	}
	if d.parts.PartConcurrency < 1 {
		return downloadSettings{}, fmt.Errorf("download part-concurrency must be at least 1, got %d", d.parts.PartConcurrency)
	}
	// A file in as many parts as run at once, and one more.
	if need := d.parts.Memory(d.parts.PartSize * int64(d.parts.PartConcurrency+1)); d.memory < need {
		return downloadSettings{}, fmt.Errorf("download memory %d: want at least what one file in %d parts holds, %d bytes: raise download.memory or lower download.part-concurrency", d.memory, d.parts.PartConcurrency, need)
	}
	return d, nil
}

// parseWorkers reads --workers: a number of files uploaded at once, or
// "auto" (start at agent.DefaultWorkers and adapt).
func parseWorkers(v string) (n int, auto bool, err error) {
	if v == "auto" {
		return agent.DefaultWorkers, true, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false, fmt.Errorf("--workers %q: want auto or a number of files of at least 1", v)
	}
	return n, false, nil
}

// uploadOptions are the pipeline's options of a command that uploads
// through client.
func (s settings) uploadOptions(log *slog.Logger, client *s3.Client) agent.Options {
	o := agent.Options{Workers: s.workers, AutoWorkers: s.autoWorkers, MaxWorkers: s.maxWorkers, Settle: agentSettle(s.settle), Logger: log}
	if s.autoWorkers {
		o.Throttled = func() int64 { return client.Counters().Throttled }
	}
	return o
}

// errNoSource: neither arguments nor the configuration file name a source.
// loadSettings returns it with the other settings valid.
var errNoSource = errors.New("no source: give SRC s3://BUCKET/PREFIX/ or --config with a sources list")

// noSourcesError is errNoSource when a configuration file was given: it
// names the file to edit. run and sync exit with exitConfig on it.
type noSourcesError struct{ config string }

func (e noSourcesError) Error() string {
	return fmt.Sprintf("no sources: edit %s and add one under sources: (a path and a destination s3://BUCKET/PREFIX/, as its commented example shows), or give SRC s3://BUCKET/PREFIX/", e.config)
}

func (e noSourcesError) Is(target error) bool { return target == errNoSource }

// loadSources takes SRC DEST from the arguments, or the file's sources, and
// applies the source flags to them; it returns them built and as they take
// effect. With destOnly a lone DEST is taken too.
func loadSources(c *cli.Context, fromFile []sourceConfig, destOnly bool) ([]*local.Source, []sourceConfig, error) {
	scs := fromFile
	switch c.NArg() {
	case 0:
		if len(scs) == 0 && c.Path(flagConfig) != "" {
			return nil, nil, noSourcesError{c.Path(flagConfig)}
		}
		if len(scs) == 0 {
			return nil, nil, errNoSource
		}
	case 1:
		if !destOnly {
			return nil, nil, fmt.Errorf("want SRC s3://BUCKET/PREFIX/, got 1 argument")
		}
		sc, err := sourceOf(c.Args().Get(0), fromFile)
		if err != nil {
			return nil, nil, err
		}
		scs = []sourceConfig{sc}
	case 2:
		if err := swappedArgs(c, c.Args().Get(0), c.Args().Get(1)); err != nil {
			return nil, nil, err
		}
		scs = []sourceConfig{{Path: c.Args().Get(0), Destination: c.Args().Get(1)}}
	default:
		return nil, nil, fmt.Errorf("want SRC s3://BUCKET/PREFIX/, got %d arguments", c.NArg())
	}
	var out []*local.Source
	var effective []sourceConfig
	for i, sc := range scs {
		sc = resolveSource(c, sc)
		src, err := buildSource(sc, destOnly && c.NArg() == 1)
		if err != nil {
			if len(scs) > 1 {
				return nil, nil, fmt.Errorf("source %d (%s): %w", i+1, sc.Path, err)
			}
			return nil, nil, err
		}
		sc.Path = src.Root
		out, effective = append(out, src), append(effective, sc)
	}
	return out, effective, nil
}

// resolveSource applies the source flags to sc, and the defaults: the
// source as it takes effect.
func resolveSource(c *cli.Context, sc sourceConfig) sourceConfig {
	sc.PartitionLayout = pick(c, flagLayout, sc.PartitionLayout, "")
	sc.Lookback = duration(pickDuration(c, flagLookback, nonZero(sc.Lookback), local.DefaultLookback))
	if c.IsSet(flagInclude) {
		sc.Include = c.StringSlice(flagInclude)
	}
	if c.IsSet(flagExclude) {
		sc.Exclude = c.StringSlice(flagExclude)
	}
	defaults := (sc.DefaultExcludes == nil || *sc.DefaultExcludes) && !c.Bool(flagNoDefaultExcl)
	sc.DefaultExcludes = &defaults
	sc.FollowSymlinks = sc.FollowSymlinks || c.Bool(flagFollowSymlinks)
	sc.LocalRetention = pick(c, flagLocalRetention, sc.LocalRetention, "")
	requireReplica := (sc.RequireReplica == nil || *sc.RequireReplica) && !c.Bool(flagNoRequireReplica)
	sc.RequireReplica = &requireReplica
	sc.PropagateDeletes = sc.PropagateDeletes || c.Bool(flagPropagateDeletes)
	sc.PropagateDeletesAfter = durationPtr(pickDuration(c, flagPropagateDeletesAfter, sc.PropagateDeletesAfter, retention.DefaultPropagateDeletesAfter))
	sc.MaxDelete = pickInt(c, flagMaxDelete, sc.MaxDelete, retention.DefaultMaxDelete)
	if c.IsSet(flagMaxDeleteFraction) {
		sc.MaxDeleteFraction = c.Float64(flagMaxDeleteFraction)
	} else if sc.MaxDeleteFraction == 0 {
		sc.MaxDeleteFraction = retention.DefaultMaxDeleteFraction
	}
	if c.IsSet(flagObjectLockMode) || c.IsSet(flagObjectLockRetain) {
		l := objectLockConfig{}
		if sc.ObjectLock != nil {
			l = *sc.ObjectLock
		}
		l.Mode = pick(c, flagObjectLockMode, l.Mode, "")
		l.Retain = pick(c, flagObjectLockRetain, l.Retain, "")
		sc.ObjectLock = &l
	}
	sc.Replica = resolveReplica(c, sc.Replica)
	return sc
}

// checkRoots says, for a one-shot command, which source root is missing or
// no directory: bad input, not a failure of the run. (The daemon starts
// anyway and reports a root that is not there yet, a mount that is late,
// through its rescans.)
func checkRoots(sources []*local.Source) error {
	for _, src := range sources {
		info, err := os.Stat(src.Root)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("source %s does not exist: check the path (or mount it)", src.Root)
		case err == nil && !info.IsDir():
			return fmt.Errorf("source %s is not a directory: give the directory whose tree to back up", src.Root)
		}
	}
	return nil
}

// sourceOf returns the configured source that backs up to dest, or one
// with only that destination.
func sourceOf(dest string, fromFile []sourceConfig) (sourceConfig, error) {
	bucket, prefix, err := local.ParseDestination(dest)
	if err != nil {
		return sourceConfig{}, err
	}
	for _, sc := range fromFile {
		if b, p, err := local.ParseDestination(sc.Destination); err == nil && b == bucket && p == prefix {
			return sc, nil
		}
	}
	return sourceConfig{Destination: dest}, nil
}

// buildSource builds one resolved source; only a lone destination
// (destOnly) may have no path.
func buildSource(sc sourceConfig, destOnly bool) (*local.Source, error) {
	root := ""
	if sc.Path == "" && !destOnly {
		return nil, fmt.Errorf("source has no path")
	}
	if sc.Path != "" {
		var err error
		if root, err = filepath.Abs(sc.Path); err != nil {
			return nil, fmt.Errorf("source path %s: %w", sc.Path, err)
		}
	}
	bucket, prefix, err := local.ParseDestination(sc.Destination)
	if err != nil {
		return nil, err
	}
	layout, err := local.ParseLayout(sc.PartitionLayout)
	if err != nil {
		return nil, err
	}
	if sc.Lookback <= 0 {
		return nil, fmt.Errorf("--lookback must be positive, got %s", sc.Lookback)
	}
	filter, err := local.NewFilter(sc.Include, sc.Exclude, *sc.DefaultExcludes)
	if err != nil {
		return nil, err
	}
	keep, err := parseRetention(sc.LocalRetention)
	if err != nil {
		return nil, err
	}
	propagateAfter := retention.DefaultPropagateDeletesAfter
	if sc.PropagateDeletesAfter != nil {
		propagateAfter = time.Duration(*sc.PropagateDeletesAfter)
	}
	if propagateAfter < 0 {
		return nil, fmt.Errorf("--%s must not be negative, got %s", flagPropagateDeletesAfter, propagateAfter)
	}
	lock, err := parseObjectLock(sc.ObjectLock)
	if err != nil {
		return nil, err
	}
	replica, err := newReplicaTarget(sc.Replica, s3.Config{})
	if err != nil {
		return nil, err
	}
	if sc.MaxDeleteFraction > 1 {
		return nil, fmt.Errorf("--%s %g: want a fraction of 1 or less (0.5 is half), or -1 for no limit", flagMaxDeleteFraction, sc.MaxDeleteFraction)
	}
	return &local.Source{
		Lock: lock, MaxDelete: sc.MaxDelete, MaxDeleteFraction: sc.MaxDeleteFraction,
		Root: root, Bucket: bucket, Prefix: prefix,
		Layout: layout, Lookback: time.Duration(sc.Lookback), Filter: filter,
		FollowSymlinks: sc.FollowSymlinks,
		LocalRetention: keep,
		RequireReplica: sc.RequireReplica == nil || *sc.RequireReplica,
		ReplicaBucket:  replica.bucket, ReplicaPrefix: replica.prefix,

		PropagateDeletes:      sc.PropagateDeletes,
		PropagateDeletesAfter: propagateAfter,
	}, nil
}

// pick returns the flag's value when it was given, else the file's when set,
// else the default.
func pick(c *cli.Context, flag, file, def string) string {
	if c.IsSet(flag) {
		return c.String(flag)
	}
	if file != "" {
		return file
	}
	return def
}

func pickInt(c *cli.Context, flag string, file, def int) int {
	if c.IsSet(flag) {
		return c.Int(flag)
	}
	if file != 0 {
		return file
	}
	return def
}

func pickDuration(c *cli.Context, flag string, file *duration, def time.Duration) time.Duration {
	if c.IsSet(flag) {
		return flagDuration(c, flag)
	}
	if file != nil {
		return time.Duration(*file)
	}
	return def
}

func pickSize(c *cli.Context, flag string, file byteSize, def int64) (int64, error) {
	if c.IsSet(flag) {
		v, err := parseByteSize(c.String(flag))
		if err != nil {
			return 0, fmt.Errorf("--%s: %w", flag, err)
		}
		return v, nil
	}
	if file != 0 {
		return int64(file), nil
	}
	return def, nil
}

func nonZero(d duration) *duration {
	if d == 0 {
		return nil
	}
	return &d
}

// commandName is the name of the command c runs, with its parents but not
// the program's: "sync", "index check".
func commandName(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		// The root contexts run the program's own command, which urfave/cli
		// names after the app.
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}
