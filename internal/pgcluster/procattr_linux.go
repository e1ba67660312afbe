package pgcluster

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

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

// removeSysVSegment removes the System V shared memory segment a
// postmaster.pid names (its seventh line: the key and the id), if it still
// exists with that key and was created by that file's postmaster (its
// first line). It goes once the last backend detaches. PostgreSQL removes
// it on a clean shutdown; a SIGKILLed postmaster leaves it behind for good
// (~1 MB each time), and only the postmaster.pid in the dead cluster's
// directory says which one it is.
func removeSysVSegment(pidFile []byte) {
	lines := strings.Split(string(pidFile), "\n")
	if len(lines) < 7 {
		return
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return
	}
	key, err1 := strconv.ParseInt(f[0], 10, 64)
	id, err2 := strconv.Atoi(f[1])
	pid, err3 := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err1 != nil || err2 != nil || err3 != nil || id < 0 {
		return
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		return
	}
	if int64(ds.Perm.Key) != key || int(ds.Cpid) != pid {
		return // not that postmaster's: the id was reused
	}
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
}
