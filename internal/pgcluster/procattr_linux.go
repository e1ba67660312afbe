package pgcluster

import "syscall"

// childAttr puts a child in its own process group, so that a Ctrl-C at the
// terminal does not reach it and signalling the group reaches every
// backend, runs it as cred (nil: as we are), and has the kernel SIGKILL it
// when this process dies without stopping it. Pdeathsig is set after the
// change of user (the kernel would clear it otherwise) and follows the OS
// thread that started the child; the Go runtime only retires a thread when
// a goroutine exits while locked to it, which this package never does.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}
