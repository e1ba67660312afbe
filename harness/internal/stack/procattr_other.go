//go:build unix && !linux

package stack

import "syscall"

// childAttr puts a child process in its own process group. Without
// Linux's Pdeathsig a child outlives a crashed parent: Close must stop it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
