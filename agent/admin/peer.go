package admin

import (
	"context"
	"net/http"
)

// Peer is the process at the other end of an admin socket connection, as
// the kernel reports it (SO_PEERCRED).
type Peer struct {
	PID, UID, GID int
}

type peerKey struct{}

// WithPeer returns ctx carrying p, the peer of a socket connection: the
// server's ConnContext puts it there for SocketHandler.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the peer ctx carries.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// peerGuard serves a request only when allow accepts its peer, and a POST
// only with RequestHeader:
//
//	request                                  answer
//	no peer credentials                      403
//	allow refuses the peer                   403 with allow's reason
//	POST without "S3ferry-Request: 1"        403
//	otherwise                                served
func peerGuard(allow func(Peer) error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PeerFrom(r.Context())
		if !ok {
			http.Error(w, "refused: the peer's credentials are unknown", http.StatusForbidden)
			return
		}
		if err := allow(p); err != nil {
			http.Error(w, "refused: "+err.Error(), http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get(RequestHeader) != "1" {
			http.Error(w, "refused: a POST must carry the header "+RequestHeader+": 1", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
