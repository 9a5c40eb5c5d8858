package s3test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults are what a FaultProxy does to the requests it receives. Each
// request draws one number from the proxy's seeded generator and meets at
// most one fault, tried in this order (the fractions add up; past 1 the
// later ones never happen):
//
//	fault         the client sees                               MinIO sees
//	ServerErrors  500 InternalError or 503 SlowDown (S3 XML)    nothing
//	Hangs         no answer, ever, until it gives up            nothing
//	LostAnswers   the connection closed instead of the answer   the whole request, done
//	CutBodies     the connection closed halfway into its body   nothing
//	Corrupt       MinIO's answer (a checksum error)             the body with one byte flipped
//
// CutBodies and Corrupt apply only to requests with a body (PUT, an
// UploadPart); a bodiless request that draws them is forwarded as it is.
// Latency delays every request, faulty or not, before anything else.
type Faults struct {
	ServerErrors float64
	Hangs        float64
	LostAnswers  float64
	CutBodies    float64
	Corrupt      float64
	Latency      time.Duration
}

// ProxyStats are a FaultProxy's counters since it started.
type ProxyStats struct {
	Requests       int64 // received
	Forwarded      int64 // sent on to MinIO
	BytesForwarded int64 // request body bytes sent on to MinIO
	BytesAnswered  int64 // answer body bytes passed back to clients
	ServerErrors   int64
	Hangs          int64
	LostAnswers    int64
	CutBodies      int64
	Corrupted      int64
	Refused        int64 // connections closed during an Outage
}

// FaultProxy is an HTTP reverse proxy in front of a MinIO (or any HTTP
// server) that injects the faults of a bad link, switchable while it
// runs: Set changes the Faults, Outage refuses everything for a while. The
// n-th request it receives meets the n-th fault its seed draws, so a run
// with one client worker is reproducible; with many, which request meets
// which fault depends on their order of arrival.
//
// The proxy passes the Host header on, so SigV4 signatures made for its
// URL verify at MinIO. Clients reach it by URL (as the endpoint, e.g.
// AWS_ENDPOINT_URL=URL for the built binary).
type FaultProxy struct {
	URL string // "http://127.0.0.1:<port>"

	target    *url.URL
	transport *http.Transport
	server    *http.Server
	closing   chan struct{} // closed by Close: ends hanging requests
	closeOnce sync.Once

	mu          sync.Mutex // guards the five below
	faults      Faults
	rng         *rand.Rand
	outageUntil time.Time
	recording   bool
	seen        []SeenRequest

	requests, forwarded, bytesForwarded, bytesAnswered              atomic.Int64
	serverErrors, hangs, lostAnswers, cutBodies, corrupted, refused atomic.Int64
}

// NewFaultProxy starts a proxy to target (an http:// URL such as a
// Server's Endpoint) with no faults, drawing its faults from seed, and
// closes it when tb ends.
func NewFaultProxy(tb testing.TB, target string, seed uint64) *FaultProxy {
	tb.Helper()
	p, err := StartFaultProxy(target, seed)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// StartFaultProxy is NewFaultProxy without a test: the caller closes it.
func StartFaultProxy(target string, seed uint64) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("start fault proxy: target %q: want http://host:port", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start fault proxy: %w", err)
	}
	p := &FaultProxy{
		URL:    "http://" + ln.Addr().String(),
		target: u,
		transport: &http.Transport{
			Proxy:               nil, // never an HTTP_PROXY of the environment
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
		},
		closing: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, seed^0x5eed)),
	}
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: time.Minute}
	go p.server.Serve(ln) // returns ErrServerClosed on Close
	return p, nil
}

// Set replaces the faults; requests already in flight keep theirs.
func (p *FaultProxy) Set(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
}

// Outage closes every connection of a request that arrives within d from
// now, without an answer, as a dead endpoint behind a load balancer does.
func (p *FaultProxy) Outage(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outageUntil = time.Now().Add(d)
}

// Stats returns the counters.
func (p *FaultProxy) Stats() ProxyStats {
	return ProxyStats{
		Requests:       p.requests.Load(),
		Forwarded:      p.forwarded.Load(),
		BytesForwarded: p.bytesForwarded.Load(),
		BytesAnswered:  p.bytesAnswered.Load(),
		ServerErrors:   p.serverErrors.Load(),
		Hangs:          p.hangs.Load(),
		LostAnswers:    p.lostAnswers.Load(),
		CutBodies:      p.cutBodies.Load(),
		Corrupted:      p.corrupted.Load(),
		Refused:        p.refused.Load(),
	}
}

// Close stops the proxy, ends hanging requests and closes its connections.
func (p *FaultProxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.server.Close()
		p.transport.CloseIdleConnections()
	})
}

// fault is what one request meets.
type fault int

const (
	noFault fault = iota
	serverError
	hang
	lostAnswer
	cutBody
	corrupt
	outage
)

// draw picks the fault of the next request, and for a server error
// whether it is a 500 or a 503.
func (p *FaultProxy) draw(hasBody bool) (f fault, status int, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	x, pick := p.rng.Float64(), p.rng.IntN(2)
	fs := p.faults
	if time.Now().Before(p.outageUntil) {
		return outage, 0, fs.Latency
	}
	status = http.StatusInternalServerError
	if pick == 1 {
		status = http.StatusServiceUnavailable
	}
	for _, c := range []struct {
		f    fault
		frac float64
		body bool
	}{
		{serverError, fs.ServerErrors, false},
		{hang, fs.Hangs, false},
		{lostAnswer, fs.LostAnswers, false},
		{cutBody, fs.CutBodies, true},
		{corrupt, fs.Corrupt, true},
	} {
		if x < c.frac {
			if c.body && !hasBody {
				return noFault, status, fs.Latency
			}
			return c.f, status, fs.Latency
		}
		x -= c.frac
	}
	return noFault, status, fs.Latency
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.note(r)
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	f, status, latency := p.draw(hasBody)
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		case <-p.closing:
			return
		}
	}
	switch f {
	case outage:
		p.refused.Add(1)
		p.drop(w)
	case serverError:
		p.serverErrors.Add(1)
		writeS3Error(w, r, status, p.requests.Load())
	case hang:
		p.hangs.Add(1)
		// Take the whole request, so that the server notices when the
		// client gives up and closes the connection.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
	case cutBody:
		p.cutBodies.Add(1)
		half := r.ContentLength / 2
		if half < 0 {
			half = 32 << 10
		}
		io.CopyN(io.Discard, r.Body, half)
		p.drop(w)
	case lostAnswer:
		p.lostAnswers.Add(1)
		if resp, err := p.forward(r, false); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		p.drop(w)
	default:
		if f == corrupt {
			p.corrupted.Add(1)
		}
		resp, err := p.forward(r, f == corrupt)
		if err != nil {
			if r.Context().Err() == nil {
				http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
			}
			return
		}
		defer resp.Body.Close()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		n, _ := io.Copy(w, resp.Body)
		p.bytesAnswered.Add(n)
	}
}

// forward sends r on to the target, its body counted (and with one byte
// flipped halfway when flip), and returns the target's answer.
func (p *FaultProxy) forward(r *http.Request, flip bool) (*http.Response, error) {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	var body io.Reader
	if r.ContentLength != 0 {
		cr := &countingReader{r: r.Body, n: &p.bytesForwarded, flipAt: -1}
		if flip {
			cr.flipAt = max(r.ContentLength/2, 0)
		}
		body = cr
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	copyHeader(out.Header, r.Header)
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	p.forwarded.Add(1)
	return p.transport.RoundTrip(out)
}

// drop closes the client's connection without an answer.
func (p *FaultProxy) drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fault proxy: connection cannot be hijacked") // HTTP/1 always can
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, as a dropped connection is
	}
	conn.Close()
}

// maxDrain bounds how much of a request body writeS3Error reads before it
// answers: more than any part a test sends.
const maxDrain = 256 << 20

// writeS3Error answers as S3 does when it fails: 500 InternalError or 503
// SlowDown, with the XML error body (none for HEAD).
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, n int64) {
	code, msg := "InternalError", "We encountered an internal error, please try again."
	if status == http.StatusServiceUnavailable {
		code, msg = "SlowDown", "Please reduce your request rate."
	}
	// Read the body first, as S3 does: answering while the client still
	// sends makes its kernel see a reset instead of the answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<Error><Code>%s</Code><Message>%s (injected by s3test.FaultProxy)</Message><RequestId>fault-%d</RequestId></Error>`,
			code, msg, n)
	}
}

// copyHeader copies src to dst without the headers of one connection.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade":
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// countingReader adds the bytes read to n, and flips the byte at offset
// flipAt (none when negative).
type countingReader struct {
	r      io.Reader
	n      *atomic.Int64
	off    int64
	flipAt int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if c.flipAt >= c.off && c.flipAt < c.off+int64(n) {
		b[c.flipAt-c.off] ^= 0xff
	}
	c.off += int64(n)
	c.n.Add(int64(n))
	return n, err
}
