//go:build unix && !linux

package promproc

import "syscall"

// childAttr puts a child process in its own process group, so that a
// signal to the group also reaches what it forks. Without Linux's
// Pdeathsig a child outlives a crashed parent: callers must Stop it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
