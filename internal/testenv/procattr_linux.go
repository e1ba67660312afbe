package testenv

import "syscall"

// childAttr puts a child in its own process group, so that signalling the
// group reaches everything it forks, and has the kernel SIGKILL it if the
// test binary dies without running its cleanups (a -timeout panic, a kill).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
