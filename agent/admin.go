package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3ferry/s3ferry/index"
)

// Status is the daemon's state as /status and `s3ferry status --json`
// report it. Without a daemon, IndexStatus fills the index's part.
type Status struct {
	Daemon            bool                    `json:"daemon"` // false: read from the index, no daemon running
	Version           string                  `json:"version,omitempty"`
	PID               int                     `json:"pid,omitempty"`
	Started           time.Time               `json:"started,omitzero"`
	Healthy           bool                    `json:"healthy"`
	Health            string                  `json:"health"`
	WatchedDirs       int                     `json:"watched_dirs"`
	WatchLimitReached bool                    `json:"watch_limit_reached"`
	Overflows         int64                   `json:"watch_overflows"`
	InFlight          int                     `json:"in_flight"`
	Workers           int                     `json:"workers"` // files uploaded at once now (with workers auto, what the pool adapted to)
	Stuck             int                     `json:"stuck"`   // in flight for longer than Daemon.StuckAfter
	OldestInFlight    time.Time               `json:"oldest_in_flight,omitzero"`
	EndpointDownSince time.Time               `json:"endpoint_down_since,omitzero"` // uploads wait for the endpoint probe
	PendingBytes      int64                   `json:"pending_bytes"`
	LastError         string                  `json:"last_error,omitempty"`
	Totals            Stats                   `json:"totals"`
	Rescans           map[string]RescanStatus `json:"rescans,omitempty"`
	Sources           []SourceStatus          `json:"sources"`
}

// SourceStatus is one source in a Status.
type SourceStatus struct {
	Root             string    `json:"root"`
	Destination      string    `json:"destination"`
	Records          int64     `json:"records"`
	Pending          int64     `json:"pending"`
	Retry            int64     `json:"retry"` // files and directories in the retry set
	LastFullWalk     time.Time `json:"last_full_walk,omitzero"`
	NextFullWalk     time.Time `json:"next_full_walk,omitzero"` // daemon: when its next full rescan is due
	WatchedDirs      int       `json:"watched_dirs"`
	Uploaded         int64     `json:"uploaded"`
	Bytes            int64     `json:"bytes"`
	UploadsPerMinute int64     `json:"uploads_last_minute"`
	LastUpload       time.Time `json:"last_upload,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
	RescanError      string    `json:"rescan_error,omitempty"` // daemon: why its last rescan of the source failed; empty once one completes
	// Replication is where the source's uploads stand in replication;
	// nil when no replication rule covers it.
	Replication *ReplicationSummary `json:"replication,omitempty"`
}

// IndexStatus reads what the index knows of each source.
func IndexStatus(idx index.Store, sources []*Source) (Status, error) {
	st := Status{Healthy: true, Health: "ok"}
	for _, src := range sources {
		ss, err := sourceStatus(idx, src.ID())
		if err != nil {
			return Status{}, fmt.Errorf("%s: %w", src, err)
		}
		ss.Root, ss.Destination = src.Root, src.Destination()
		if n, err := idx.Replicas().Count(src.ID()); err != nil {
			return Status{}, fmt.Errorf("count the replica set of %s: %w", src, err)
		} else if n > 0 || src.Replicated {
			sum, err := SummarizeReplication(idx, src)
			if err != nil {
				return Status{}, err
			}
			ss.Replication = &sum
		}
		st.Sources = append(st.Sources, ss)
	}
	return st, nil
}

// KnownStatus is IndexStatus of every source the index knows (a source
// whose full walk predates the index keeping its name shows as its ID).
func KnownStatus(idx index.Store) (Status, error) {
	ids, err := idx.Sources()
	if err != nil {
		return Status{}, err
	}
	st := Status{Healthy: true, Health: "ok"}
	for _, id := range ids {
		ss, err := sourceStatus(idx, id)
		if err != nil {
			return Status{}, fmt.Errorf("source %s: %w", id, err)
		}
		if ss.Root == "" && ss.Destination == "" {
			ss.Root, ss.Destination = "source "+id, "(not named in the index until its next full walk: s3ferry sync --full)"
		}
		st.Sources = append(st.Sources, ss)
	}
	return st, nil
}

// sourceStatus is what the index knows of the source id, with the names
// its state keeps.
func sourceStatus(idx index.Store, id string) (SourceStatus, error) {
	records, pending, err := idx.Count(id)
	if err != nil {
		return SourceStatus{}, fmt.Errorf("count: %w", err)
	}
	state, err := idx.State(id)
	if err != nil {
		return SourceStatus{}, fmt.Errorf("read state: %w", err)
	}
	retry, err := idx.Retries().Count(id)
	if err != nil {
		return SourceStatus{}, fmt.Errorf("count the retry set: %w", err)
	}
	ss := SourceStatus{Root: state.Root, Destination: state.Destination, Records: records, Pending: pending, Retry: retry}
	if state.FullWalkNs != 0 {
		ss.LastFullWalk = time.Unix(0, state.FullWalkNs)
	}
	return ss, nil
}

// Status reports the running daemon's state.
func (d *Daemon) Status() (Status, error) {
	st, err := IndexStatus(d.Index, d.Sources)
	if err != nil {
		return Status{}, err
	}
	now := d.Options.Now()
	st.Daemon, st.Version, st.PID = true, d.Version, os.Getpid()
	st.Healthy, st.Health = d.health(now)
	st.InFlight, st.PendingBytes, _ = d.pipe.InFlight()
	st.Workers = d.pipe.Workers()
	f := d.flight(now)
	st.Stuck, st.OldestInFlight, st.EndpointDownSince = f.stuck, f.oldest, f.downSince
	st.Totals = d.pipe.Stats()
	d.state.snapshot(&st, now)
	if d.FullRescanInterval > 0 {
		next := d.nextFullRescan()
		for i := range st.Sources {
			st.Sources[i].NextFullWalk = next
		}
	}
	return st, nil
}

// health is /healthz's verdict:
//
//	condition                                                  healthy
//	a file failed for lack of space under the index, none      no (at once)
//	  succeeded since
//	a source's last rescan failed (root missing, unmounted)    no, until one completes
//	uploads failing, none succeeded for HealthFailAfter        no
//	the oldest upload in flight was queued HealthFailAfter ago no (queue stuck)
//	a version not replicated Replication.AlertAfter after its  yes, 200 with a body
//	  upload, or FAILED with its file gone                       that starts "warning:"
//	otherwise                                                  yes
func (d *Daemon) health(now time.Time) (bool, string) {
	if msg := d.state.indexFullError(); msg != "" {
		return false, msg
	}
	if src, since, err := d.state.rescanFailing(); src != nil {
		return false, fmt.Sprintf("rescans of %s failing for %s: %s", src.Root, now.Sub(since).Round(time.Second), err)
	}
	failing, lastErr := d.state.failing()
	if !failing.IsZero() && now.Sub(failing) > d.HealthFailAfter {
		return false, fmt.Sprintf("uploads failing for %s; last error: %s", now.Sub(failing).Round(time.Second), lastErr)
	}
	if n, _, oldest := d.pipe.InFlight(); n > 0 && now.Sub(oldest) > d.HealthFailAfter {
		return false, fmt.Sprintf("queue stuck: %d files in flight, the oldest for %s", n, now.Sub(oldest).Round(time.Second))
	}
	if d.replication != nil {
		if msg := d.replication.warning(now); msg != "" {
			return true, msg
		}
	}
	return true, "ok"
}

// Handler serves the admin endpoint:
//
//	GET  /metrics        Prometheus metrics
//	GET  /healthz        200 "ok", 200 "warning: ..." (replication late), or 503 with the reason
//	GET  /status         Status as JSON
//	POST /sync[?full=1][&lookback=48h]
//	                     a catch-up rescan; answers its Stats as JSON when its uploads are done
//
// behind adminGuard: only programs of the host (or holders of AdminToken)
// are served, never a web page in a browser.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := d.health(d.Options.Now())
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, why)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		var lookback time.Duration
		if v := r.URL.Query().Get("lookback"); v != "" {
			var err error
			if lookback, err = time.ParseDuration(v); err != nil || lookback <= 0 {
				http.Error(w, fmt.Sprintf("lookback %q: want a positive duration such as 48h", v), http.StatusBadRequest)
				return
			}
		}
		stats, err := d.CatchUp(r.Context(), r.URL.Query().Get("full") == "1", lookback)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, stats)
	})
	return newAdminGuard(d.AdminListen, d.AdminToken).wrap(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
