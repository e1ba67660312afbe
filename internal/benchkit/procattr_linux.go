package benchkit

import "syscall"

// childAttr puts a child in its own process group, so that signalling the
// group reaches everything it forks, and has the kernel SIGKILL it if the
// benchmark dies without running its cleanup (SIGKILL, a crash).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// maxRSSBytes is a rusage's ru_maxrss in bytes: Linux counts kilobytes.
func maxRSSBytes(ru *syscall.Rusage) int64 { return ru.Maxrss << 10 }
