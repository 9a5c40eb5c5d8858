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
	Stuck             int                     `json:"stuck"` // in flight for longer than Daemon.StuckAfter
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
	LastFullWalk     time.Time `json:"last_full_walk,omitzero"`
	WatchedDirs      int       `json:"watched_dirs"`
	Uploaded         int64     `json:"uploaded"`
	Bytes            int64     `json:"bytes"`
	UploadsPerMinute int64     `json:"uploads_last_minute"`
	LastUpload       time.Time `json:"last_upload,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
}

// IndexStatus reads what the index knows of each source.
func IndexStatus(idx index.Store, sources []*Source) (Status, error) {
	st := Status{Healthy: true, Health: "ok"}
	for _, src := range sources {
		records, pending, err := idx.Count(src.ID())
		if err != nil {
			return Status{}, fmt.Errorf("count %s: %w", src, err)
		}
		state, err := idx.State(src.ID())
		if err != nil {
			return Status{}, fmt.Errorf("read state of %s: %w", src, err)
		}
		ss := SourceStatus{Root: src.Root, Destination: "s3://" + src.Bucket + "/" + src.Prefix, Records: records, Pending: pending}
		if state.FullWalkNs != 0 {
			ss.LastFullWalk = time.Unix(0, state.FullWalkNs)
		}
		st.Sources = append(st.Sources, ss)
	}
	return st, nil
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
	f := d.flight(now)
	st.Stuck, st.OldestInFlight, st.EndpointDownSince = f.stuck, f.oldest, f.downSince
	st.Totals = d.pipe.Stats()
	d.state.snapshot(&st, now)
	return st, nil
}

// health is /healthz's verdict:
//
//	condition                                                  healthy
//	uploads failing, none succeeded for HealthFailAfter        no
//	the oldest upload in flight was queued HealthFailAfter ago no (queue stuck)
//	otherwise                                                  yes
func (d *Daemon) health(now time.Time) (bool, string) {
	failing, lastErr := d.state.failing()
	if !failing.IsZero() && now.Sub(failing) > d.HealthFailAfter {
		return false, fmt.Sprintf("uploads failing for %s; last error: %s", now.Sub(failing).Round(time.Second), lastErr)
	}
	if n, _, oldest := d.pipe.InFlight(); n > 0 && now.Sub(oldest) > d.HealthFailAfter {
		return false, fmt.Sprintf("queue stuck: %d files in flight, the oldest for %s", n, now.Sub(oldest).Round(time.Second))
	}
	return true, "ok"
}

// Handler serves the admin endpoint:
//
//	GET  /metrics        Prometheus metrics
//	GET  /healthz        200 "ok", or 503 with the reason
//	GET  /status         Status as JSON
//	POST /sync[?full=1]  a catch-up rescan; answers its Stats as JSON when its uploads are done
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
		stats, err := d.CatchUp(r.Context(), r.URL.Query().Get("full") == "1")
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, stats)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
