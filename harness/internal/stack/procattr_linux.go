package stack

import "syscall"

// childAttr puts a child process in its own process group, so that a
// Ctrl-C at the terminal reaches flagstorm only (which then stops the
// children in order) and a signal to the group reaches what the child
// forks, and has the kernel SIGKILL it when this process dies without
// stopping it. Pdeathsig follows the OS thread that started the child; the
// Go runtime only retires a thread when a goroutine exits while locked to
// it, which this package never does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
