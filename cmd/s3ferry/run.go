package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/daemon"
	"github.com/s3ferry/s3ferry/agent/retention"
	"github.com/s3ferry/s3ferry/uploader"
)

// DefaultAdminListen is where the admin endpoint listens unless told
// otherwise: loopback only.
const DefaultAdminListen = "127.0.0.1:9180"

// adminGroup is given the admin socket when it exists (the package
// creates it): its members may use `s3ferry status` and `sync`.
const adminGroup = "s3ferry"

// Daemon flags.
const (
	flagAdminListen        = "admin-listen"
	flagRescanInterval     = "rescan-interval"
	flagFullRescanInterval = "full-rescan-interval"
	flagShutdownTimeout    = "shutdown-timeout"
	flagRetentionInterval  = "retention-interval"
	flagFileFailAfter      = "file-fail-after"
)

func daemonFlags() []cli.Flag {
	const d = "Daemon"
	return []cli.Flag{
		&cli.StringFlag{Name: flagAdminListen, Usage: "TCP admin endpoint `ADDR` (/metrics, /healthz; status and sync use the admin socket); off disables it", Value: DefaultAdminListen, Category: d},
		&cli.PathFlag{Name: flagAdminTokenFile, Usage: "`FILE` holding the bearer token every request to --admin-listen must carry; required off loopback", Category: d},
		durationFlag(flagRescanInterval, "walk the look-back partitions this often", daemon.DefaultRescanInterval, d),
		durationFlag(flagFullRescanInterval, "walk the whole trees this long after the last full walk, which the index keeps across restarts (0: never)", daemon.DefaultFullRescanInterval, d),
		durationFlag(flagShutdownTimeout, "on SIGTERM, let uploads in flight finish for this long", daemon.DefaultShutdownTimeout, d),
		durationFlag(flagRetentionInterval, "sweep the sources with a local-retention this often", retention.DefaultInterval, d),
		durationFlag(flagFileFailAfter, "/healthz fails once one file has failed every upload attempt for this long", daemon.DefaultFileFailAfter, d),
	}
}

func newRunCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run as a daemon: upload each new file seconds after it is written",
		ArgsUsage: "[SRC s3://BUCKET/PREFIX/]",
		Description: `Watches the sources with inotify and uploads each new or changed file once it
has settled. On start it resumes the uploads a stop left pending, then walks the
look-back partitions once to catch up with what landed while it was down (a
full walk on an empty index). It rescans the partitions every --rescan-interval,
the whole trees every --full-rescan-interval, and at once when inotify's queue
overflows. SIGTERM or Ctrl-C: stop taking files, let uploads in flight finish
for --shutdown-timeout, exit 0; a second signal exits at once. SIGHUP is logged
and ignored: restart the service to apply a changed configuration.

Examples:
 1. As the systemd unit runs it:
    s3ferry run --config /etc/s3ferry/s3ferry.yml
 2. Without a configuration file:
    s3ferry run /home/archive/RECORDINGS s3://call-recording-backup/recordings/ --partition-layout 2006-01-02
 3. Look at it while it runs:
    s3ferry status --config /etc/s3ferry/s3ferry.yml
    curl -s http://127.0.0.1:9180/metrics | grep s3ferry_`,
		Flags: append(append(configFlags(), daemonFlags()...), replicationFlags()...),
		Action: func(c *cli.Context) error {
			s, log, err := loadCommand(c, false)
			var ue usageError
			if errors.As(err, &ue) {
				return configError(ue)
			} else if err != nil {
				return err
			}
			token, err := daemonAdminToken(s)
			if err != nil {
				return configError{err}
			}
			s.adminSocket = adminSocket(s.indexDir)
			return runCmd{settings: s, adminToken: token, log: log, logUploads: humanSummary(c, s)}.Run(c.Context)
		},
	}
}

// runCmd is `s3ferry run` with its flags turned into plain values.
type runCmd struct {
	settings
	adminToken string
	log        *slog.Logger
	logUploads bool // one line per upload: a person watches the log on a terminal
}

func (cmd runCmd) Run(ctx context.Context) error {
	// A refused connection fails an upload at its first attempt: the
	// daemon then holds every upload and probes the endpoint itself, and
	// /healthz says so at once, instead of each file spending a retry
	// budget on it silently.
	cmd.s3.RefusedAttempts = 1
	env, down, err := openDaemonEnv(ctx, cmd.settings, cmd.log)
	if errors.Is(err, uploader.ErrInvalidBucketName) {
		return configError{err}
	} else if err != nil {
		return err
	}
	defer env.Close()
	if down != nil {
		// The bucket's versioning and replication rules cannot be asked:
		// the uploads of this run are not tracked to the replica.
		cmd.log.Error("the endpoint does not answer: starting with uploads held until it does; replication is not tracked until the next start", "err", down)
	} else {
		warnUnversioned(ctx, env.open, cmd.sources, cmd.log)
		if err := refuseUnlocked(ctx, env.open, cmd.sources, cmd.log); err != nil {
			return configError{err}
		}
		markReplicated(ctx, env.open, cmd.sources, cmd.log)
	}
	replicas, err := openReplicas(ctx, cmd.settings, cmd.log)
	if err != nil {
		return configError{err}
	}
	d := &daemon.Daemon{
		Sources:            cmd.sources,
		Index:              env.index,
		Uploader:           env.uploader,
		Options:            cmd.uploadOptions(cmd.log, env.client),
		RescanInterval:     cmd.daemon.rescanInterval,
		FullRescanInterval: cmd.daemon.fullRescanInterval,
		ShutdownTimeout:    cmd.daemon.shutdownTimeout,
		AdminListen:        cmd.admin,
		AdminToken:         cmd.adminToken,
		AdminSocket:        cmd.adminSocket,
		AdminGroup:         adminGroup,
		Version:            versionString(),
		Stalls:             func() int64 { return env.client.Counters().Stalls },
		Adopt:              adoptFirstRun(env, cmd.settings, cmd.log),
		Buckets:            env.open,
		Replica:            replicas,
		Replication:        cmd.replication,
		RetentionInterval:  cmd.daemon.retentionInterval,
		FileFailAfter:      cmd.daemon.fileFailAfter,
		ReadSample:         cmd.read.sample,
		ReadInterval:       cmd.read.interval,
		ReadRate:           float64(cmd.read.rate),
		Progress:           func() int64 { return env.client.Counters().Moved },
	}
	if cmd.logUploads {
		d.Options.Observe = logUpload(cmd.log)
	}
	notifier, watchdog, ok, err := newSystemdNotifier()
	if err != nil {
		return usageError{err}
	}
	if ok {
		d.Notifier, d.WatchdogTimeout = notifier, watchdog
	}
	if len(cmd.sources) > 0 {
		bucket := cmd.sources[0].Bucket
		d.Probe = func(ctx context.Context) error { return env.client.Ping(ctx, bucket) }
		d.EndpointDown = down
	}
	if d.AdminListen != "" {
		d.AdminAddrFile = adminAddrFile(cmd.indexDir)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cmd.log.Info("s3ferry starting", "version", versionString(), "sources", len(cmd.sources), "index", cmd.indexDir)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer stop() // the daemon's end ends the SIGHUP logger
		return d.Run(gctx)
	})
	g.Go(func() error { logHangups(gctx, hup, cmd.log); return nil })
	return g.Wait() // both have ended: the deferred Close of the index overlaps nothing
}

// logUpload returns an Observe that logs each upload in one line: its
// key, size and how long it took. Off a terminal the daemon says less
// (at debug level), and the metrics count them.
func logUpload(log *slog.Logger) func(agent.Event) {
	return func(ev agent.Event) {
		if ev.Outcome == agent.Uploaded {
			log.Info("uploaded", "key", ev.Key, "size", size(ev.Bytes), "took", humanDuration(ev.Took))
		}
	}
}

// logHangups says, for each SIGHUP until ctx ends, that reloading is not
// supported.
func logHangups(ctx context.Context, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Warn("SIGHUP: reloading the configuration is not supported; restart the service to apply changes (systemctl restart s3ferry)")
		}
	}
}

// adminAddrFile is where a running daemon writes the address its TCP
// endpoint got (with port 0, for scrapers and tests).
func adminAddrFile(indexDir string) string { return filepath.Join(indexDir, "admin.addr") }
