//go:build !linux

package s3test

import "syscall"

// sysProcAttr is empty where there is no parent-death signal: a test
// binary that dies without its cleanups leaves MinIO running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
