package s3test

import "syscall"

// sysProcAttr has the kernel kill MinIO when the thread that started it
// exits: a test binary that dies (a -timeout panic, a kill) skips its
// cleanups, and must not leave a server running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
