package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/s3ferry/s3ferry/agent/admin"
)

// flagAdminTokenFile names the file holding the admin endpoint's bearer
// token (admin.token-file in the configuration file).
const flagAdminTokenFile = "admin-token-file"

// adminToken reads the admin endpoint's bearer token from s's token file
// ("" when none is configured). The file must not be readable by every
// user of the host: whoever holds the token can start walks and read paths.
func adminToken(s settings) (string, error) {
	if s.adminTokenFile == "" {
		return "", nil
	}
	f, err := os.Open(s.adminTokenFile)
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("admin.token-file: %w (run as root or as a member of the file's group)", err)
	}
	if err != nil {
		return "", fmt.Errorf("admin.token-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin.token-file: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("admin.token-file %s is readable by every user: chmod o-rwx %s", s.adminTokenFile, s.adminTokenFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("admin.token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("admin.token-file %s must hold one token on one line, e.g. from: openssl rand -hex 32", s.adminTokenFile)
	}
	return token, nil
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

// daemonClient talks to a running daemon's admin endpoint.
type daemonClient struct {
	base  string // http://host:port
	token string // bearer token; "" for none
}

// newDaemonClient finds the running daemon's admin endpoint: the address
// it wrote into the index directory, else the configured one. No address
// is errNoDaemon.
func newDaemonClient(s settings) (daemonClient, error) {
	addr := s.admin
	if b, err := os.ReadFile(adminAddrFile(s.indexDir)); err == nil {
		addr = strings.TrimSpace(string(b))
	}
	if addr == "" {
		return daemonClient{}, errNoDaemon
	}
	token, err := adminToken(s)
	if err != nil {
		return daemonClient{}, err
	}
	return daemonClient{base: "http://" + addr, token: token}, nil
}

// call sends one request to the admin endpoint and decodes the JSON answer
// into out. A daemon that does not answer is errNoDaemon.
func (c daemonClient) call(ctx context.Context, method, path string, out any) error {
	url := c.base + path
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set(admin.RequestHeader, "1")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errNoDaemon
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon at %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read daemon answer from %s: %w", url, err)
	}
	return nil
}
