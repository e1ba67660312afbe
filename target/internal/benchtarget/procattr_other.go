//go:build unix && !linux

package main

import "syscall"

// childAttr puts a child in its own process group, so that signalling the
// group reaches everything it forks.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
