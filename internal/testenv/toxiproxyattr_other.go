//go:build unix && !linux

package testenv

import "syscall"

// toxiproxyAttr puts toxiproxy-server in its own process group. Without
// Linux's Pdeathsig it outlives a test binary that dies without cleaning
// up.
func toxiproxyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
