//go:build unix

package request

import (
	"errors"
	"net"
	"syscall"
)

// peerOpen peeks at the socket without blocking: a connection whose peer
// closed it reads end-of-file, one with nothing to read is open. A read
// deadline cannot do this: Go fails a read whose deadline has passed
// without looking at the socket.
func peerOpen(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	cerr := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, still open. n == 0: end of file.
		// n > 0: bytes nobody asked for; the connection is out of step.
		open = n < 0 && errors.Is(err, syscall.EAGAIN)
		return true // never wait for readiness
	})
	return cerr == nil && open
}
