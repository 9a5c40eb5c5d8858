//go:build !linux

package s3test

import (
	"os"
	"syscall"
)

// sysProcAttr is empty where there is no parent-death signal: a test
// binary that dies without its cleanups leaves the server running.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p alone.
func killGroup(p *os.Process) error { return p.Kill() }
