package promproc

import "syscall"

// childAttr puts Prometheus in its own process group and has the kernel
// SIGKILL it when this process dies without cleaning up. Pdeathsig follows
// the OS thread that started the child; the Go runtime only retires a
// thread when a goroutine exits while locked to it, which this package
// never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
