package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// RequestHeader is the header every POST to the admin endpoint must
// carry ("S3ferry-Request: 1"). A web page cannot send a custom header to
// another site without a CORS preflight, which the endpoint never answers,
// so a page in a browser on the host cannot start a walk.
const RequestHeader = "S3ferry-Request"

// guard refuses the requests to the admin endpoint that did not come
// from a program the host's admins run. Rules, in the order checked:
//
//	request                                                 answer
//	Host not an IP literal, localhost, or listen's host     421 (DNS rebinding)
//	Origin present and not http://<Host>                    403 (a page of another site)
//	token set, no "Authorization: Bearer <token>"           401
//	POST without "S3ferry-Request: 1"                       403 (a cross-site form)
//	otherwise                                               served
type guard struct {
	listenHost string   // host part of the listen address, lowercase; "" for a wildcard bind
	token      [32]byte // SHA-256 of the bearer token, when hasToken
	hasToken   bool
}

func newGuard(listen, token string) guard {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	g := guard{listenHost: canonicalHost(host)}
	if token != "" {
		g.token, g.hasToken = sha256.Sum256([]byte(token)), true
	}
	return g
}

func (g guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			http.Error(w, "refused: Host "+quoteHeader(r.Host)+" is not this endpoint's address; use an IP address or localhost", http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			http.Error(w, "refused: requests from another site (Origin "+quoteHeader(o)+") are not served", http.StatusForbidden)
			return
		}
		if g.hasToken && !g.tokenMatches(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="s3ferry"`)
			http.Error(w, "unauthorized: send the token of admin.token-file as Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get(RequestHeader) != "1" {
			http.Error(w, "refused: a POST must carry the header "+RequestHeader+": 1", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed: a name other than the one the endpoint was bound to can only
// reach it through DNS rebinding, so only IP literals, localhost and that
// name are served.
func (g guard) hostAllowed(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport // no port
	}
	host = canonicalHost(host)
	switch {
	case host == "":
		return false
	case net.ParseIP(host) != nil, host == "localhost":
		return true
	default:
		return host == g.listenHost
	}
}

// canonicalHost lowercases a host and drops IPv6 brackets and a trailing
// dot, so "LOCALHOST." and "[::1]" compare as "localhost" and "::1".
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// sameOrigin reports whether a browser's Origin names the endpoint itself.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path == "" && strings.EqualFold(u.Host, host)
}

func (g guard) tokenMatches(authorization string) bool {
	scheme, token, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Hashing first makes the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], g.token[:]) == 1
}

// quoteHeader quotes a header value for an error message, cut short so a
// hostile request cannot fill the answer.
func quoteHeader(v string) string {
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	return strconv.Quote(v)
}
