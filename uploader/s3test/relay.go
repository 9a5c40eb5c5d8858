package s3test

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay is a TCP forwarder on a loopback port of its own to a server (a
// MinIO's Endpoint), which a test can switch off and on: while it is off
// nothing listens on its port, so a client's connection is refused for
// real, as when the server is down; switched on again it listens on the
// same port. It counts the connections it accepted, which is how many
// attempts a client made, and forwards bytes as they are, so a client
// that speaks TLS to it meets the server's plain HTTP.
type Relay struct {
	Addr string // "127.0.0.1:<port>"

	target   string // host:port
	accepted atomic.Int64

	mu    sync.Mutex // guards the three below
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewRelay starts a relay to target (a URL such as a Server's Endpoint,
// or host:port), on, and closes it when tb ends.
func NewRelay(tb testing.TB, target string) *Relay {
	tb.Helper()
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.Host
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	r.serve(ln)
	tb.Cleanup(r.Off)
	return r
}

// Accepted is the number of connections the relay accepted so far.
func (r *Relay) Accepted() int64 { return r.accepted.Load() }

// Off closes the relay's port and every connection through it: a new
// connection is refused until On. Off when off does nothing.
func (r *Relay) Off() {
	r.mu.Lock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// On listens on the relay's port again. It retries for a few seconds
// while the port is in use (a connection of the last listener in
// TIME_WAIT does not hold it, but another process might).
func (r *Relay) On() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", r.Addr)
		if err == nil {
			r.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("relay: listen on %s again: %w", r.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve accepts on ln until Off closes it.
func (r *Relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Off
			}
			r.accepted.Add(1)
			if !r.track(c) {
				return
			}
			go r.pipe(c)
		}
	}()
}

// track records c as open, unless the relay was switched off meanwhile
// (then c is closed and track says false).
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return true
}

// pipe forwards c to the target and back until either side closes.
func (r *Relay) pipe(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	s, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	r.mu.Lock()
	r.conns[s] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.conns, s)
		r.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	// One direction ended: end the other too, and wait for it.
	c.Close()
	s.Close()
	<-done
}
