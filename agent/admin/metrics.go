package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/uploader"
)

// Metrics are the daemon's Prometheus metrics, in one registry of its own
// (no global state), every one registered when it is built. Counters are
// updated where things happen, through the methods below; gauges that are
// cheap to read (index counts, queue) are read at scrape time from Gauges.
type Metrics struct {
	reg            *prometheus.Registry
	uploadedFiles  prometheus.Counter
	uploadedBytes  prometheus.Counter
	touchedFiles   prometheus.Counter
	failures       *prometheus.CounterVec
	latency        prometheus.Histogram
	watchedDirs    prometheus.Gauge
	watchLimit     prometheus.Gauge
	overflows      prometheus.Counter
	settling       prometheus.Gauge
	rescanTime     *prometheus.GaugeVec
	rescanDuration *prometheus.GaugeVec
	rescanFailures *prometheus.CounterVec
	rootMissing    *prometheus.GaugeVec

	replicationFailed prometheus.Counter
	replicationResent prometheus.Counter
	replicationLag    prometheus.Histogram

	localDeletedFiles prometheus.Counter
	localDeletedBytes prometheus.Counter
	deleteMarkers     prometheus.Counter

	readLastSuccess prometheus.Gauge
	readInterval    prometheus.Gauge
	readObjects     prometheus.Counter
	readBytes       prometheus.Counter
	readFailures    *prometheus.CounterVec
}

// Kinds of s3ferry_read_check_failures_total: what a restore drill
// (verify.read-sample) found wrong, per version, or that it stopped.
const (
	ReadCorrupt    = "corrupt"    // a version read back with other bytes than uploaded
	ReadMissing    = "missing"    // a recorded version is gone from the bucket
	ReadUnreadable = "unreadable" // a version could not be read to its end
	ReadStopped    = "stopped"    // a drill ended early: access denied, the endpoint down, the index
)

// ReadFailureKinds are the kinds above, each exported at 0 from the start.
func ReadFailureKinds() []string {
	return []string{ReadCorrupt, ReadMissing, ReadUnreadable, ReadStopped}
}

// Gauges are the values read at scrape time. A nil func reads as 0.
type Gauges struct {
	QueueDepth   func() float64 // files pending in the index
	PendingBytes func() float64 // bytes handed to the upload pool, not yet done
	InFlight     func() float64 // files handed to the upload pool, not yet done
	Records      func() float64 // files recorded in the index
	Stalls       func() int64   // S3 requests cancelled by the stall watchdog
	Retries      func() float64 // entries of the retry set
	Workers      func() float64 // files the pool uploads at once now
	Healthy      func() bool    // /healthz answers 200
	EndpointDown func() bool    // checks of the endpoint fail (the daemon's probe)
	// DeletesBlocked counts the passes of local retention or delete
	// propagation a mass-deletion guard stopped, not yet confirmed.
	DeletesBlocked func() float64
	// Replication is where the tracked uploads stand, as of the last
	// check round; nil: no source is tracked (all zero).
	Replication func() replication.Summary
	Now         func() time.Time // clock; nil: time.Now
}

// NewMetrics builds the registry with every metric in it.
func NewMetrics(g Gauges) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		uploadedFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_uploaded_files_total", Help: "Files uploaded and recorded in the index.",
		}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_uploaded_bytes_total", Help: "Bytes of the files uploaded.",
		}),
		touchedFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_touched_files_total", Help: "Files whose metadata changed but content did not: index updated, nothing sent.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3ferry_upload_failures_total", Help: "Uploads that failed, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3ferry_detection_to_upload_seconds",
			Help:    "Time from a file's first change seen to its upload recorded.",
			Buckets: []float64{0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300, 900, 3600},
		}),
		watchedDirs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3ferry_watched_directories", Help: "Directories with an inotify watch.",
		}),
		watchLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3ferry_watch_limit_reached", Help: "1 when inotify ran out of watches (raise fs.inotify.max_user_watches); new files then wait for rescans.",
		}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_watch_overflows_total", Help: "inotify event queue overflows, each answered by a rescan.",
		}),
		settling: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3ferry_settling_files", Help: "Files seen changing, waiting to settle.",
		}),
		rescanTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3ferry_last_rescan_timestamp_seconds", Help: "When the last rescan of this kind finished, Unix time.",
		}, []string{"kind"}),
		rescanDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3ferry_last_rescan_duration_seconds", Help: "How long the last rescan of this kind took.",
		}, []string{"kind"}),
		rescanFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3ferry_rescan_failures_total", Help: "Rescans of a source that could not walk it (root missing, unmounted, unreadable), by source root.",
		}, []string{"source"}),
		rootMissing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3ferry_source_root_missing", Help: "1 while a source root is gone (removed, moved away, unmounted), by source root; 0 while it is there.",
		}, []string{"source"}),
		replicationFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_replication_failed_total", Help: "Uploaded versions whose replication S3 reported FAILED.",
		}),
		replicationResent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3ferry_replication_resent_total", Help: "Files uploaded again because the replication of their version FAILED.",
		}),
		replicationLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3ferry_replication_lag_seconds",
			Help:    "Time from a version's upload to S3 reporting its replication COMPLETED (as first seen by a check).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600},
		}),
		localDeletedFiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_local_deleted_files_total", Help: "Local files deleted by the local retention, each safely in the bucket (and on the replica when required)."}),
		localDeletedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_local_deleted_bytes_total", Help: "Bytes of the local files deleted by the local retention."}),
		deleteMarkers:     prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_delete_markers_total", Help: "Delete markers written to mirror local deletes (propagate-deletes)."}),
		readLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3ferry_read_check_last_success_timestamp_seconds", Help: "When the last restore drill that read its whole sample back as recorded ended, Unix time; 0: none since the daemon started.",
		}),
		readInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3ferry_read_check_interval_seconds", Help: "How often the daemon runs a restore drill (verify.read-interval); 0: no drills (verify.read-sample unset).",
		}),
		readObjects: prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_read_check_objects_total", Help: "Recorded versions the restore drills read back from the bucket."}),
		readBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "s3ferry_read_check_bytes_total", Help: "Bytes the restore drills read back from the bucket."}),
		readFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3ferry_read_check_failures_total", Help: "Versions a restore drill could not read back as recorded, by kind (corrupt, missing, unreadable), and drills that stopped early (stopped).",
		}, []string{"kind"}),
	}
	for _, k := range ReadFailureKinds() {
		m.readFailures.WithLabelValues(k)
	}
	float := func(f func() float64) func() float64 {
		if f == nil {
			return func() float64 { return 0 }
		}
		return f
	}
	now := g.Now
	if now == nil {
		now = time.Now
	}
	summary := func() replication.Summary {
		if g.Replication == nil {
			return replication.Summary{}
		}
		return g.Replication()
	}
	m.reg.MustRegister(m.uploadedFiles, m.uploadedBytes, m.touchedFiles, m.failures, m.latency, m.watchedDirs,
		m.watchLimit, m.overflows, m.settling, m.rescanTime, m.rescanDuration, m.rescanFailures, m.rootMissing,
		m.replicationFailed, m.replicationResent, m.replicationLag,
		m.localDeletedFiles, m.localDeletedBytes, m.deleteMarkers,
		m.readLastSuccess, m.readInterval, m.readObjects, m.readBytes, m.readFailures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_retry_files", Help: "Files and directories walks passed over (deferred, unreadable, bad names), retried first by every rescan until uploaded or gone."}, float(g.Retries)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_queue_depth", Help: "Files pending upload (the durable queue in the index)."}, float(g.QueueDepth)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_pending_bytes", Help: "Bytes of the files in the upload pool, not yet done."}, float(g.PendingBytes)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_uploads_in_flight", Help: "Files in the upload pool, not yet done."}, float(g.InFlight)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_upload_workers", Help: "Files the upload pool sends at once now: upload.workers, or with workers auto what it adapted to."}, float(g.Workers)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_index_records", Help: "Files recorded in the index."}, float(g.Records)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_deletes_blocked", Help: "Local retention or delete propagation passes a mass-deletion guard stopped before any delete (or a source root that looks unmounted), until s3ferry retention confirm or the limit is raised."}, float(g.DeletesBlocked)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "s3ferry_upload_stalls_total", Help: "S3 requests cancelled and retried because no byte moved for upload.stall-timeout."}, func() float64 {
			if g.Stalls == nil {
				return 0
			}
			return float64(g.Stalls())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_healthy", Help: "1 while /healthz reports healthy, 0 while it does not: uploads failing, or one upload in flight, for 10 minutes.",
		}, func() float64 {
			if g.Healthy == nil || g.Healthy() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_endpoint_down", Help: "1 while uploads wait for the S3 endpoint because checks of it fail (refused, no such host, TLS, no answer), 0 while it answers.",
		}, func() float64 {
			if g.EndpointDown != nil && g.EndpointDown() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_pending", Help: "Uploaded versions not yet confirmed COMPLETED on the replica (as of the last check round).",
		}, func() float64 { return float64(summary().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_unsent_failed", Help: "Versions whose replication FAILED and whose file could not be sent again: s3ferry manifest --replication-failed lists them for S3 Batch Replication.",
		}, func() float64 { return float64(summary().Failed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3ferry_replication_oldest_pending_seconds", Help: "Age of the oldest upload not yet confirmed on the replica; 0 when none.",
		}, func() float64 {
			s := summary()
			if s.OldestPending.IsZero() {
				return 0
			}
			return now().Sub(s.OldestPending).Seconds()
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Gatherer is the registry, as /metrics serves it.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Observe counts the end of one upload.
func (m *Metrics) Observe(ev agent.Event) {
	switch ev.Outcome {
	case agent.Uploaded:
		m.uploadedFiles.Inc()
		m.uploadedBytes.Add(float64(ev.Bytes))
		m.latency.Observe(ev.Latency.Seconds())
	case agent.Touched:
		m.touchedFiles.Inc()
	case agent.Failed:
		m.failures.WithLabelValues(string(ev.Reason)).Inc()
	}
}

// Settling sets how many files are seen changing, waiting to settle.
func (m *Metrics) Settling(n int) { m.settling.Set(float64(n)) }

// Watching sets how many directories have a watch, and marks when inotify
// ran out of watches.
func (m *Metrics) Watching(dirs int, limitReached bool) {
	m.watchedDirs.Set(float64(dirs))
	if limitReached {
		m.watchLimit.Set(1)
	}
}

// Overflow counts an inotify queue overflow.
func (m *Metrics) Overflow() { m.overflows.Inc() }

// Rescanned records a rescan of kind that ended at at and took seconds.
func (m *Metrics) Rescanned(kind string, at time.Time, seconds float64) {
	m.rescanTime.WithLabelValues(kind).Set(float64(at.Unix()))
	m.rescanDuration.WithLabelValues(kind).Set(seconds)
}

// Known exports the label sets known up front at 0, so that a dashboard
// and an alert rule read 0, not "no data", on a host where nothing failed
// yet: every failure reason, and the rescan failures and the missing gauge
// of every source root.
// The daemon calls it right after NewMetrics.
func (m *Metrics) Known(reasons []uploader.Reason, roots []string) {
	for _, r := range reasons {
		m.failures.WithLabelValues(string(r))
	}
	for _, root := range roots {
		m.rescanFailures.WithLabelValues(root)
		m.rootMissing.WithLabelValues(root).Set(0)
	}
}

// RootMissing sets whether the source root root is gone.
func (m *Metrics) RootMissing(root string, missing bool) {
	v := 0.0
	if missing {
		v = 1
	}
	m.rootMissing.WithLabelValues(root).Set(v)
}

// RescanFailed counts a rescan that could not walk the source at root.
func (m *Metrics) RescanFailed(root string) { m.rescanFailures.WithLabelValues(root).Inc() }

// LocalDeleted counts a local file of bytes the local retention deleted.
func (m *Metrics) LocalDeleted(bytes int64) {
	m.localDeletedFiles.Inc()
	m.localDeletedBytes.Add(float64(bytes))
}

// DeleteMarked counts a delete marker written for a local delete.
func (m *Metrics) DeleteMarked() { m.deleteMarkers.Inc() }

// ReadScheduled says that a restore drill runs every interval.
func (m *Metrics) ReadScheduled(interval time.Duration) { m.readInterval.Set(interval.Seconds()) }

// ReadChecked counts one restore drill: the versions and bytes it read,
// the versions it found wrong by kind (and ReadStopped: 1 when it ended
// early), and, when it read its whole sample back as recorded, the time
// it ended (zero otherwise).
func (m *Metrics) ReadChecked(objects, bytes int64, failures map[string]int64, clean time.Time) {
	m.readObjects.Add(float64(objects))
	m.readBytes.Add(float64(bytes))
	for k, n := range failures {
		m.readFailures.WithLabelValues(k).Add(float64(n))
	}
	if !clean.IsZero() {
		m.readLastSuccess.Set(float64(clean.Unix()))
	}
}

// Replication is what the replication checks report to.
func (m *Metrics) Replication() replication.Observer { return replicationMetrics{m} }

// replicationMetrics counts what the replication checks find.
type replicationMetrics struct{ m *Metrics }

func (r replicationMetrics) Failed()                     { r.m.replicationFailed.Inc() }
func (r replicationMetrics) Resent()                     { r.m.replicationResent.Inc() }
func (r replicationMetrics) Completed(lag time.Duration) { r.m.replicationLag.Observe(lag.Seconds()) }
