package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/agent/replication"
	"github.com/s3ferry/s3ferry/index"
)

// Status is the daemon's state as /status and `s3ferry status --json`
// report it. Without a daemon, IndexStatus fills the index's part.
type Status struct {
	Daemon            bool      `json:"daemon"` // false: read from the index, no daemon running
	Version           string    `json:"version,omitempty"`
	PID               int       `json:"pid,omitempty"`
	Started           time.Time `json:"started,omitzero"`
	Healthy           bool      `json:"healthy"`
	Health            string    `json:"health"`
	WatchedDirs       int       `json:"watched_dirs"`
	WatchLimitReached bool      `json:"watch_limit_reached"`
	Overflows         int64     `json:"watch_overflows"`
	InFlight          int       `json:"in_flight"`
	Workers           int       `json:"workers"` // files uploaded at once now (with workers auto, what the pool adapted to)
	Stuck             int       `json:"stuck"`   // in flight for longer than Daemon.StuckAfter
	OldestInFlight    time.Time `json:"oldest_in_flight,omitzero"`
	EndpointDownSince time.Time `json:"endpoint_down_since,omitzero"` // uploads wait for the endpoint probe
	EndpointError     string    `json:"endpoint_error,omitempty"`     // why the last check of the endpoint failed
	PendingBytes      int64     `json:"pending_bytes"`
	LastError         string    `json:"last_error,omitempty"`
	// FailingFiles is how many files failed their last attempt (and every
	// one since their first failure); LongestFailing the one failing the
	// longest, nil when none is.
	FailingFiles   int                     `json:"failing_files"`
	LongestFailing *FailingFile            `json:"longest_failing,omitempty"`
	Totals         agent.Stats             `json:"totals"`
	Rescans        map[string]RescanStatus `json:"rescans,omitempty"`
	Sources        []SourceStatus          `json:"sources"`
	// ReadCheck is the daemon's restore drill; nil when it runs none.
	ReadCheck *ReadCheckStatus `json:"read_check,omitempty"`
}

// ReadCheckStatus is where the daemon's restore drills (verify.read-sample)
// stand: the last one's counts and problems.
type ReadCheckStatus struct {
	Sample      string    `json:"sample"`
	Interval    float64   `json:"interval_seconds"`
	Running     bool      `json:"running"`
	LastEnded   time.Time `json:"last_ended,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"` // the last drill that read its whole sample back as recorded
	Objects     int64     `json:"objects"`               // of the last drill
	Bytes       int64     `json:"bytes"`
	Corrupt     int64     `json:"corrupt"`
	Missing     int64     `json:"missing"`
	Unreadable  int64     `json:"unreadable"`
	Error       string    `json:"error,omitempty"` // why the last drill ended early
	// Problems are the last drill's first problems.
	Problems []ReadProblem `json:"problems,omitempty"`
}

// ReadProblem is a version a restore drill could not read back as
// recorded.
type ReadProblem struct {
	Kind   string `json:"kind"`
	Root   string `json:"root"`
	Path   string `json:"path"` // relative to Root
	Detail string `json:"detail"`
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
	Replication *replication.Summary `json:"replication,omitempty"`
}

// FailingFile is a file whose every upload attempt since the first
// failed.
type FailingFile struct {
	Root     string    `json:"root"`
	Path     string    `json:"path"` // relative to Root
	Since    time.Time `json:"since"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error"`
}

// RescanStatus is the last rescan of one kind.
type RescanStatus struct {
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	Scanned int64     `json:"scanned"`
}

// IndexStatus reads what the index knows of each source.
func IndexStatus(idx index.Store, sources []*local.Source) (Status, error) {
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
			sum, err := replication.Summarize(idx, src)
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

// Server is what the admin endpoint serves: the daemon.
type Server interface {
	// Status reports the daemon's state.
	Status() (Status, error)
	// Health is /healthz's verdict.
	Health() Health
	// CatchUp runs a rescan (of the look-back partitions, or full, with
	// lookback replacing the sources' windows when set) and returns what
	// it did once its uploads are done. A call while a rescan of the same
	// kind and look-back is queued or running joins it.
	CatchUp(ctx context.Context, full bool, lookback time.Duration) (agent.Stats, error)
	// Verify runs `s3ferry verify` against the daemon's open index, for
	// the sources req names (each must be one of the daemon's), and
	// returns its report once it is done, or a *RefusedError.
	Verify(ctx context.Context, req VerifyRequest) (bucket.VerifyReport, error)
	// CheckIndex reads the daemon's open index back, as `s3ferry index
	// check` does, and returns one line per problem (none: healthy), or a
	// *RefusedError.
	CheckIndex(ctx context.Context) ([]string, error)
}

// VerifyRequest is the body of POST /verify: what `s3ferry verify` asks a
// daemon to do with the index it holds. It has no --repair and no
// --replica: a repair writes files and the index beside the daemon's own
// uploads, and a replica needs credentials the caller would choose; for
// those the daemon is stopped and verify runs alone.
type VerifyRequest struct {
	// Sources name the sources to verify by root and destination; each
	// must be one the daemon backs up: a caller cannot make it read a
	// tree or a prefix of its choosing.
	Sources     []SourceName      `json:"sources"`
	Deep        bool              `json:"deep,omitempty"`
	Inventory   *bucket.Inventory `json:"inventory,omitempty"`
	ListWorkers int               `json:"list_workers,omitempty"`
}

// SourceName names a source as `s3ferry status` shows it.
type SourceName struct {
	Root        string `json:"root"`
	Destination string `json:"destination"`
}

// IndexCheck is the answer of POST /index/check.
type IndexCheck struct {
	Problems []string `json:"problems"` // none: the index is healthy
}

// RefusedError is a request the daemon will not run as it stands (its
// caller's to change, or to ask again later): the socket answers Code
// (400, 409, 503) with Reason.
type RefusedError struct {
	Code   int
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// maxRequestBody bounds the body of a request to the admin socket.
const maxRequestBody = 1 << 20

// Health is /healthz's verdict: 200 with Why (which starts "warning:" when
// replication is late) when OK, else 503 with it.
type Health struct {
	OK bool
	// Why may name roots, files and errors: only the socket answers it.
	Why string
	// Anonymous says the same with counts and durations only, for TCP.
	Anonymous string
}

// Handler serves the admin endpoint on TCP, to monitoring:
//
//	GET  /metrics        Prometheus metrics
//	GET  /healthz        200 "ok", 200 "warning: ..." (replication late), or 503 with the reason
//
// Its answers name no root, file or bucket. It is behind a guard: only
// programs of the host (or holders of token, which must be set when listen
// is not loopback) are served, never a web page in a browser. listen is the
// address the endpoint listens on.
func Handler(s Server, m *Metrics, listen, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.Health()
		writeHealth(w, h.OK, h.Anonymous)
	})
	return newGuard(listen, token).wrap(mux)
}

// SocketHandler serves the admin socket, to the host's admins:
//
//	GET  /metrics        Prometheus metrics
//	GET  /healthz        as on TCP, with the names of what fails
//	GET  /status         Status as JSON
//	POST /sync[?full=1][&lookback=48h]
//	                     a catch-up rescan; answers its Stats as JSON when its uploads are done
//	POST /verify         VerifyRequest as JSON: verify against the daemon's index; answers the
//	                     bucket.VerifyReport as JSON when it is done
//	POST /index/check    read the daemon's index back; answers IndexCheck as JSON
//	POST /retention/confirm
//	                     for a DeleteConfirmer: confirm the deletes its guards stopped
//
// Only the peers allow accepts are served (PeerFrom tells who a request
// came from); a POST must carry RequestHeader too. A POST /sync, /verify
// or /index/check waits for its work, however long that takes: the
// server's read and write deadlines are lifted for it, and it ends with
// its client or with the daemon.
func SocketHandler(s Server, m *Metrics, allow func(Peer) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.Health()
		writeHealth(w, h.OK, h.Why)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status()
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
		// The rescan takes what it takes; the request ends with the
		// client, or with the daemon (CatchUp's errStopping).
		liftDeadlines(w)
		stats, err := s.CatchUp(r.Context(), r.URL.Query().Get("full") == "1", lookback)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, stats)
	})
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		var req VerifyRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, fmt.Sprintf("read the verify request: %v", err), http.StatusBadRequest)
			return
		}
		liftDeadlines(w)
		rep, err := s.Verify(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, rep)
	})
	mux.HandleFunc("POST /index/check", func(w http.ResponseWriter, r *http.Request) {
		liftDeadlines(w)
		problems, err := s.CheckIndex(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, IndexCheck{Problems: problems})
	})
	handleConfirm(mux, s)
	return peerGuard(allow, mux)
}

// liftDeadlines lets a request's work take what it takes: it ends with
// its client, or with the daemon.
func liftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

// writeError answers err: a *RefusedError with its code, anything else
// with 500.
func writeError(w http.ResponseWriter, err error) {
	var refused *RefusedError
	if errors.As(err, &refused) {
		http.Error(w, refused.Reason, refused.Code)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeHealth(w http.ResponseWriter, ok bool, why string) {
	if !ok {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, why)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
