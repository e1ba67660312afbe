package testenv

import "syscall"

// toxiproxyAttr puts toxiproxy-server in its own process group, so that a
// Ctrl-C at the terminal goes to the test binary (which stops it) rather
// than to both, and has the kernel SIGKILL it when the test binary dies
// without cleaning up. Pdeathsig follows the OS thread that started the
// child; the Go runtime only retires a thread when a goroutine exits
// while locked to it, which this package never does.
func toxiproxyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
