//go:build unix && !linux

package pgcluster

import "syscall"

// childAttr puts a child in its own process group and runs it as cred
// (nil: as we are). Outside Linux a child does not die with this process.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// removeSysVSegment is Linux-only (it reads the segment's attach count).
func removeSysVSegment([]byte) {}
