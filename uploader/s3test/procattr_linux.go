package s3test

import (
	"os"
	"syscall"
)

// sysProcAttr puts the server in a process group of its own, so that stop
// ends whatever it started too, and has the kernel kill it when the
// thread that started it exits: a test binary that dies (a -timeout
// panic, a kill) skips its cleanups, and must not leave a server running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills p's process group (sysProcAttr made p its leader).
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		return p.Kill()
	}
	return nil
}
