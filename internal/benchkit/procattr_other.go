//go:build unix && !linux

package benchkit

import "syscall"

// childAttr puts a child in its own process group, so that signalling the
// group reaches everything it forks.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// maxRSSBytes is a rusage's ru_maxrss in bytes: the BSDs and macOS count
// bytes already.
func maxRSSBytes(ru *syscall.Rusage) int64 { return ru.Maxrss }
