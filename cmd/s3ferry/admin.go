package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/s3ferry/s3ferry/agent/admin"
	"github.com/s3ferry/s3ferry/agent/daemon"
	"github.com/s3ferry/s3ferry/index"
)

// flagAdminTokenFile names the file holding the admin endpoint's bearer
// token (admin.token-file in the configuration file).
const flagAdminTokenFile = "admin-token-file"

// adminToken reads the admin endpoint's bearer token from s's token file
// ("" when none is configured). Whoever holds the token can read /metrics
// and /healthz over TCP, so the file must be a secret file (readSecretFile).
func adminToken(s settings) (string, error) {
	if s.adminTokenFile == "" {
		return "", nil
	}
	name := s.adminTokenFile
	b, err := readSecretFile("admin.token-file", name, 4096)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("admin.token-file %s must hold one token on one line, e.g. from: openssl rand -hex 32", name)
	}
	return token, nil
}

// readSecretFile reads at most limit bytes of the file name, which holds a
// secret (what says which setting named it): it must be root's or ours
// (opened without following a link), writable by no one else and not
// readable by every user. An error says which and what to do, never what
// the file holds.
func readSecretFile(what, name string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%s: %w (run as root or as a member of the file's group)", what, err)
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s %s is a symbolic link: name the file itself", what, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s %s is not a regular file", what, name)
	case !ok || (st.Uid != 0 && int(st.Uid) != os.Geteuid()):
		return nil, fmt.Errorf("%s %s belongs to another user, who could change it: chown root %s", what, name, name)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, fmt.Errorf("%s %s is writable by group or others: chmod go-w %s", what, name, name)
	case fi.Mode().Perm()&0o004 != 0:
		return nil, fmt.Errorf("%s %s is readable by every user: chmod o-rwx %s", what, name, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// daemonAdminToken is the token `run` serves with: required unless the
// admin endpoint listens on loopback only.
func daemonAdminToken(s settings) (string, error) {
	token, err := adminToken(s)
	if err != nil {
		return "", err
	}
	if s.admin != "" && token == "" && !loopbackListen(s.admin) {
		return "", fmt.Errorf("admin.listen %s is reachable from other hosts: set admin.token-file (--%s) to a file holding a bearer token, or listen on 127.0.0.1", s.admin, flagAdminTokenFile)
	}
	return token, nil
}

// loopbackListen reports whether a listen address only accepts
// connections from this host: a loopback IP or localhost. A wildcard
// ("0.0.0.0:9180", ":9180") or any other name is not.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// daemonClient talks to the admin socket of the daemon that holds the
// index, and to no other process: the one answering on the socket must be
// the holder the index's lock file names (SO_PEERCRED), so a process that
// took the socket's place is never asked, and no TCP port is either.
type daemonClient struct {
	holder index.Holder
	client *http.Client
}

// newDaemonClient returns the client of holder, the process holding an
// index; errNoDaemon when it serves no admin socket.
func newDaemonClient(holder index.Holder) (daemonClient, error) {
	if holder.Admin == "" || holder.PID <= 0 {
		return daemonClient{}, errNoDaemon
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", holder.Admin)
		if err != nil {
			return nil, err
		}
		p, err := daemon.PeerCred(c)
		if err == nil && p.PID != holder.PID {
			err = &impostorError{socket: holder.Admin, pid: p.PID, holder: holder.PID}
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return daemonClient{holder: holder, client: &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}}, nil
}

// impostorError: the process answering on the admin socket is not the one
// holding the index.
type impostorError struct {
	socket      string
	pid, holder int
}

func (e *impostorError) Error() string {
	return fmt.Sprintf("admin socket %s is served by process %d, not by process %d which holds the index: not asking it", e.socket, e.pid, e.holder)
}

// call sends one request to the daemon and decodes the JSON answer into
// out. A socket nobody answers on is errNoDaemon.
func (c daemonClient) call(ctx context.Context, method, path string, out any) error {
	return c.send(ctx, method, path, nil, out)
}

// send is call with in, when not nil, sent as the request's JSON body.
func (c daemonClient) send(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://s3ferry"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(admin.RequestHeader, "1")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var impostor *impostorError
		switch {
		case errors.As(err, &impostor):
			return impostor
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return errNoDaemon
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon (pid %d) answered %s: %s", c.holder.PID, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read the answer of the daemon (pid %d): %w", c.holder.PID, err)
	}
	return nil
}

// heldError says who holds an index that no daemon answered for: a
// one-shot command (a sync) serves no socket, and its LockedError says
// so; a daemon whose socket does not answer is named with its socket.
func heldError(locked *index.LockedError) error {
	if !locked.Daemon() {
		return locked
	}
	return &heldByDaemonError{locked: locked, why: fmt.Sprintf("its admin socket %s does not answer", locked.Admin), next: "stop it (sudo systemctl stop s3ferry, or kill " + strconv.Itoa(locked.PID) + ") and try again"}
}

// needsIndexAlone is the error of a command that writes the index (adopt,
// index rebuild, verify --repair) refused it because err is a
// *index.LockedError: when the holder is the daemon, it says that the
// command cannot run through it, and how to stop and start it around the
// command; otherwise err as it is.
func needsIndexAlone(err error, command string) error {
	var locked *index.LockedError
	if !errors.As(err, &locked) || !locked.Daemon() {
		return err
	}
	return &heldByDaemonError{
		locked: locked,
		why:    "s3ferry " + command + " needs the index to itself and cannot run through the daemon",
		alone:  command,
	}
}

// heldByDaemonError: the daemon holds the index, and cannot do what was
// asked. It matches index.ErrLocked (exit 4). A command that needs the
// index alone (needsIndexAlone) names it in alone, and next is then to run
// it between stopping and starting the daemon: the user's own command
// line when suggestFixes has set rerun.
type heldByDaemonError struct {
	locked       *index.LockedError
	why, next    string
	alone, rerun string
}

func (e *heldByDaemonError) Error() string {
	next := e.next
	if e.alone != "" {
		next = "stop the daemon (sudo systemctl stop s3ferry), run " + cmp.Or(e.rerun, "s3ferry "+e.alone) + ", then start it again (sudo systemctl start s3ferry)"
	}
	return fmt.Sprintf("index %s is in use by the daemon (%s); %s: %s", e.locked.Dir, e.locked.Holder, e.why, next)
}

func (e *heldByDaemonError) Unwrap() error { return e.locked }

// adminSocket is where `run` serves its admin socket: in the directory
// systemd made for the service (RuntimeDirectory=, /run/s3ferry), else in
// the index directory.
func adminSocket(indexDir string) string {
	if dir := os.Getenv("RUNTIME_DIRECTORY"); filepath.IsAbs(dir) && !strings.Contains(dir, ":") {
		return filepath.Join(dir, "admin.sock")
	}
	return filepath.Join(indexDir, "admin.sock")
}
