package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/s3ferry/s3ferry/agent/admin"
)

// Bounds of the admin servers. A request has ReadTimeout to arrive and
// WriteTimeout to be answered (POST /sync on the socket lifts both: it
// waits for its rescan); a kept-alive connection is closed after
// IdleTimeout. The connection limits keep the daemon's file descriptors
// for its work: past them a new connection evicts the longest idle one.
const (
	adminReadHeaderTimeout = 10 * time.Second
	adminReadTimeout       = 30 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = time.Minute
	adminMaxHeaderBytes    = 16 << 10
	adminMaxTCPConns       = 64
	adminMaxSocketConns    = 32
)

// serveAdmin starts the admin servers that are configured (the socket,
// TCP) and returns the function that stops them; it returns once they
// have ended.
func (d *Daemon) serveAdmin() (stop func(), err error) {
	var servers []*adminServer
	stopAll := func() {
		if d.AdminAddrFile != "" && d.AdminListen != "" {
			_ = os.Remove(d.AdminAddrFile)
		}
		for _, s := range servers {
			s.stop()
		}
	}
	log := d.Options.Logger
	if d.AdminSocket != "" {
		ln, gid, err := listenSocket(d.AdminSocket, d.AdminGroup)
		if err != nil {
			return nil, fmt.Errorf("admin socket: %w", err)
		}
		h := admin.SocketHandler(d, d.metrics, func(p admin.Peer) error { return allowPeer(p, os.Geteuid(), gid) })
		s := startAdminServer(ln, adminMaxSocketConns, h, log, func(ctx context.Context, c net.Conn) context.Context {
			if p, err := PeerCred(c); err == nil {
				return admin.WithPeer(ctx, p)
			}
			return ctx
		})
		servers = append(servers, s)
		log.Info("admin socket listening", "path", d.AdminSocket)
	}
	if d.AdminListen != "" {
		ln, err := net.Listen("tcp", d.AdminListen)
		switch {
		case errors.Is(err, syscall.EADDRINUSE) && d.AdminSocket != "":
			// Any local user can take a port while the daemon is down;
			// that must not keep it from uploading. Monitoring sees
			// /healthz gone.
			log.Error("admin endpoint: the address is taken by another process: /metrics and /healthz are not served; the admin socket is", "addr", d.AdminListen, "err", err)
			if d.AdminAddrFile != "" {
				_ = os.Remove(d.AdminAddrFile)
			}
			return stopAll, nil
		case err != nil:
			stopAll()
			return nil, fmt.Errorf("admin endpoint: %w (choose another admin listen address, or 'off')", err)
		}
		servers = append(servers, startAdminServer(ln, adminMaxTCPConns, admin.Handler(d, d.metrics, d.AdminListen, d.AdminToken), log, nil))
		if d.AdminAddrFile != "" {
			if err := writeAtomically(d.AdminAddrFile, []byte(ln.Addr().String()+"\n")); err != nil {
				stopAll()
				return nil, fmt.Errorf("write admin address: %w", err)
			}
		}
		log.Info("admin endpoint listening", "addr", ln.Addr().String())
	}
	return stopAll, nil
}

// adminServer is one admin listener and the goroutine that serves it.
type adminServer struct {
	srv    *http.Server
	served chan struct{} // closed when Serve has returned
}

func startAdminServer(ln net.Listener, maxConns int, h http.Handler, log *slog.Logger, connContext func(context.Context, net.Conn) context.Context) *adminServer {
	l := newConnLimiter(ln, maxConns, log)
	s := &adminServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: adminReadHeaderTimeout,
			ReadTimeout:       adminReadTimeout,
			WriteTimeout:      adminWriteTimeout,
			IdleTimeout:       adminIdleTimeout,
			MaxHeaderBytes:    adminMaxHeaderBytes,
			ConnState:         l.track,
			ConnContext:       connContext,
			// What net/http logs a client can provoke: debug only.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(l)
	}()
	return s
}

// stop lets the requests under way end for two seconds, closes what is
// left and waits for Serve to return.
func (s *adminServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		_ = s.srv.Close()
	}
	<-s.served
}

// connLimiter is a listener that keeps at most max connections open. At
// the limit a new connection evicts the one idle longest (new, or kept
// alive between requests), so idle connections cannot lock out a health
// check; with none idle, the new one is closed. An accept error (out of
// file descriptors) is logged at most every 10 s and retried after a
// pause, not returned, so the server keeps serving.
type connLimiter struct {
	net.Listener
	max       int
	log       *slog.Logger
	acceptErr rate.Sometimes
	refused   rate.Sometimes
	closed    chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	conns map[*limitedConn]connIdle // the open connections; guarded by mu
}

// connIdle is whether a connection waits for a request, and since when.
type connIdle struct {
	idle  bool
	since time.Time
}

func newConnLimiter(ln net.Listener, max int, log *slog.Logger) *connLimiter {
	return &connLimiter{
		Listener: ln, max: max, log: log,
		acceptErr: rate.Sometimes{Interval: 10 * time.Second},
		refused:   rate.Sometimes{Interval: 10 * time.Second},
		closed:    make(chan struct{}),
		conns:     map[*limitedConn]connIdle{},
	}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	pause := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var errno syscall.Errno
			if !errors.As(err, &errno) || !errno.Temporary() {
				return nil, err
			}
			l.acceptErr.Do(func() {
				l.log.Warn("admin endpoint cannot accept connections; retrying", "addr", l.Addr().String(), "err", err)
			})
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		lc := &limitedConn{Conn: c, l: l}
		victim, ok := l.admit(lc)
		if victim != nil {
			_ = victim.Close()
		}
		if !ok {
			_ = c.Close()
			l.refused.Do(func() {
				l.log.Warn("admin endpoint: every connection is busy; refusing new ones", "addr", l.Addr().String(), "limit", l.max)
			})
			continue
		}
		return lc, nil
	}
}

// admit adds c to the open connections, evicting the one idle longest when
// at the limit (victim, for the caller to close); ok false: none was idle.
func (l *connLimiter) admit(c *limitedConn) (victim *limitedConn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		var oldest time.Time
		for o, s := range l.conns {
			if s.idle && (victim == nil || s.since.Before(oldest)) {
				victim, oldest = o, s.since
			}
		}
		if victim == nil {
			return nil, false
		}
		delete(l.conns, victim)
	}
	l.conns[c] = connIdle{idle: true, since: time.Now()}
	return victim, true
}

// track is the server's ConnState hook: it marks a connection idle or busy.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, open := l.conns[lc]; !open {
		return
	}
	switch state {
	case http.StateNew, http.StateIdle:
		l.conns[lc] = connIdle{idle: true, since: time.Now()}
	case http.StateActive:
		l.conns[lc] = connIdle{}
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, lc)
	}
}

func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn is a connection connLimiter counts until it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// listenSocket listens on the admin socket path, mode 0660 and of group
// when that group exists, and returns the socket's group. The directory
// (created 0750 when missing) must belong to root or to us and not be
// writable by group or others: no one else may replace the socket. A
// socket left at path by a daemon that died is replaced: we hold the
// index, it is ours.
func listenSocket(path, group string) (net.Listener, int, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, 0, err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return nil, 0, fmt.Errorf("%s is not a directory", dir)
	case !ok || (st.Uid != 0 && int(st.Uid) != os.Geteuid()):
		return nil, 0, fmt.Errorf("directory %s belongs to another user: choose a directory of root's or of this user", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, 0, fmt.Errorf("directory %s is writable by others, who could replace the socket: chmod go-w %s", dir, dir)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, 0, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, 0, err
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, 0, err
	}
	gid := os.Getegid()
	if g, err := user.LookupGroup(group); group != "" && err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			if err := os.Lchown(path, -1, n); err != nil {
				ln.Close()
				return nil, 0, fmt.Errorf("give %s to group %s: %w", path, group, err)
			}
			gid = n
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, 0, err
	}
	return ln, gid, nil
}

// allowPeer decides who may use the admin socket (the socket's mode 0660
// already keeps out the rest; this holds even if it were loosened):
//
//	peer                                            served
//	root                                            yes
//	the daemon's user (uid)                         yes
//	the socket's group (gid) primary or additional  yes
//	anyone else                                     no
func allowPeer(p admin.Peer, uid, gid int) error {
	if p.UID == 0 || p.UID == uid || p.GID == gid {
		return nil
	}
	if u, err := user.LookupId(strconv.Itoa(p.UID)); err == nil {
		if groups, err := u.GroupIds(); err == nil && slices.Contains(groups, strconv.Itoa(gid)) {
			return nil
		}
	}
	return fmt.Errorf("uid %d is not root, the daemon's user or a member of the socket's group (gid %d)", p.UID, gid)
}

// PeerCred returns the process at the other end of a Unix socket
// connection, as the kernel saw it at connect (or, for a client, listen):
// SO_PEERCRED.
func PeerCred(c net.Conn) (admin.Peer, error) {
	if lc, ok := c.(*limitedConn); ok {
		c = lc.Conn
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return admin.Peer{}, errors.New("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return admin.Peer{}, err
	}
	var cred *unix.Ucred
	cerr := raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil {
		return admin.Peer{}, cerr
	}
	if err != nil {
		return admin.Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	return admin.Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}
