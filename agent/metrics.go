package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the daemon's Prometheus metrics, in a registry of its own (no
// global state). Counters are updated where things happen; gauges that are
// cheap to read (index counts, queue) are read at scrape time.
type metrics struct {
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
}

// gauges are the values read at scrape time.
type gauges struct {
	queueDepth   func() float64 // files pending in the index
	pendingBytes func() float64 // bytes handed to the upload pool, not yet done
	inFlight     func() float64 // files handed to the upload pool, not yet done
	records      func() float64 // files recorded in the index
	stalls       func() int64   // S3 requests cancelled by the stall watchdog; nil: 0
	retries      func() float64 // entries of the retry set
	workers      func() float64 // files the pool uploads at once now
}

func newMetrics(g gauges) *metrics {
	m := &metrics{
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
	}
	m.reg.MustRegister(m.uploadedFiles, m.uploadedBytes, m.touchedFiles, m.failures, m.latency, m.watchedDirs,
		m.watchLimit, m.overflows, m.settling, m.rescanTime, m.rescanDuration, m.rescanFailures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_retry_files", Help: "Files and directories walks passed over (deferred, unreadable, bad names), retried first by every rescan until uploaded or gone."}, g.retries),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_queue_depth", Help: "Files pending upload (the durable queue in the index)."}, g.queueDepth),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_pending_bytes", Help: "Bytes of the files in the upload pool, not yet done."}, g.pendingBytes),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_uploads_in_flight", Help: "Files in the upload pool, not yet done."}, g.inFlight),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_upload_workers", Help: "Files the upload pool sends at once now: upload.workers, or with workers auto what it adapted to."}, g.workers),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "s3ferry_index_records", Help: "Files recorded in the index."}, g.records),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "s3ferry_upload_stalls_total", Help: "S3 requests cancelled and retried because no byte moved for upload.stall-timeout."}, func() float64 {
			if g.stalls == nil {
				return 0
			}
			return float64(g.stalls())
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observe counts the end of one upload.
func (m *metrics) observe(ev Event) {
	switch ev.Outcome {
	case Uploaded:
		m.uploadedFiles.Inc()
		m.uploadedBytes.Add(float64(ev.Bytes))
		m.latency.Observe(ev.Latency.Seconds())
	case Touched:
		m.touchedFiles.Inc()
	case Failed:
		m.failures.WithLabelValues(string(ev.Reason)).Inc()
	}
}

// registerHealth adds s3ferry_healthy, 1 while /healthz answers 200 and 0
// while it does not, read at scrape time from health.
func (m *metrics) registerHealth(health func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "s3ferry_healthy", Help: "1 while /healthz reports healthy, 0 while it does not: uploads failing, or one upload in flight, for 10 minutes.",
	}, func() float64 {
		if health() {
			return 1
		}
		return 0
	}))
}
