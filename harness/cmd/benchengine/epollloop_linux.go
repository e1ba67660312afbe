//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// epollAvailable: the epoll loops exist on this platform.
const epollAvailable = true

// epollConn is one connection of an epoll loop and the response being
// read on it.
type epollConn struct {
	fd        int
	connected bool
	buf       []byte
	got       int // bytes of buf read
	need      int // bytes of the whole response; 0 until its head is in
}

// epollSys is the loop's system calls: through the runtime (syscall.*)
// or around it (syscall.RawSyscall*).
type epollSys struct{ raw bool }

func (s epollSys) wait(ep int, evs []syscall.EpollEvent, ms int) (int, error) {
	if !s.raw {
		return syscall.EpollWait(ep, evs, ms)
	}
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func (s epollSys) read(fd int, b []byte) (int, error) {
	if !s.raw {
		return syscall.Read(fd, b)
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func (s epollSys) write(fd int, b []byte) error {
	var r uintptr
	var e syscall.Errno
	if s.raw {
		r, _, e = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	} else {
		r, _, e = syscall.Syscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	}
	switch {
	case e != 0:
		return e
	case int(r) != len(b):
		// A request of a hundred bytes on an idle connection goes whole.
		return fmt.Errorf("short write: %d of %d bytes", r, len(b))
	}
	return nil
}

// epollIn and epollOut with edge triggering (EPOLLET is 1<<31, which
// syscall declares as a negative int).
const epollEvents = uint32(syscall.EPOLLIN|syscall.EPOLLOUT) | 1<<31

// runEpollLoop is wrk's design written in Go: threads event loops, each
// locked to its OS thread and owning its share of the vus non-blocking
// connections in one epoll instance; when a whole response is in
// (Content-Length framing), it is counted and the next request written.
// No goroutine per connection, no netpoller. With raw, the system calls
// bypass the runtime's bookkeeping (entersyscall/exitsyscall, and the P
// handed to another thread while a loop blocks in epoll_wait): each
// loop then holds its P for the whole run, which is why an engine cannot
// simply do this (the runtime's own work would wait), but it shows what
// that bookkeeping costs.
func runEpollLoop(ctx context.Context, raw bool, target string, vus, threads int, d time.Duration) (int64, int64, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, 0, err
	}
	addr, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		tcp, rerr := net.ResolveTCPAddr("tcp4", u.Host)
		if rerr != nil {
			return 0, 0, fmt.Errorf("epoll loop: %s: %w", u.Host, rerr)
		}
		addr = tcp.AddrPort()
	}
	if !addr.Addr().Unmap().Is4() {
		return 0, 0, fmt.Errorf("epoll loop: %s: IPv4 only", u.Host)
	}
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: benchengine-epoll\r\n\r\n")
	deadline := time.Now().Add(d)
	threads = max(1, min(threads, vus))
	counts := make([][2]int64, threads)
	errs := make([]error, threads)
	var wg sync.WaitGroup
	for t := range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n := vus / threads
			if t < vus%threads {
				n++
			}
			counts[t][0], counts[t][1], errs[t] = epollThread(ctx, epollSys{raw: raw}, addr, req, n, deadline)
		})
	}
	wg.Wait()
	var n, failed int64
	for _, c := range counts {
		n += c[0]
		failed += c[1]
	}
	return n, failed, errors.Join(errs...)
}

// epollThread runs one event loop over n connections until deadline.
func epollThread(ctx context.Context, sys epollSys, addr netip.AddrPort, req []byte, n int, deadline time.Time) (done, failed int64, err error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, 0, fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(ep)
	conns := make([]*epollConn, 0, n)
	defer func() {
		for _, c := range conns {
			syscall.Close(c.fd)
		}
	}()
	sa := &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().Unmap().As4()}
	for range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("socket: %w", err)
		}
		c := &epollConn{fd: fd, buf: make([]byte, 16<<10)}
		conns = append(conns, c)
		if err := syscall.Connect(fd, sa); err != nil && !errors.Is(err, syscall.EINPROGRESS) {
			return 0, 0, fmt.Errorf("connect: %w", err)
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		ev := syscall.EpollEvent{Events: epollEvents, Fd: int32(len(conns) - 1)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return 0, 0, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	evs := make([]syscall.EpollEvent, 64)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		k, err := sys.wait(ep, evs, 100)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return done, failed, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range evs[:k] {
			c := conns[ev.Fd]
			if !c.connected {
				if ev.Events&syscall.EPOLLOUT == 0 {
					continue
				}
				c.connected = true
				if err := sys.write(c.fd, req); err != nil {
					return done, failed, err
				}
				continue
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
				continue
			}
			// Edge-triggered: read until the response is whole or the
			// socket is drained.
			for {
				m, err := sys.read(c.fd, c.buf[c.got:])
				if errors.Is(err, syscall.EAGAIN) {
					break
				}
				if err != nil {
					return done, failed, fmt.Errorf("read: %w", err)
				}
				if m == 0 {
					return done, failed, errors.New("read: connection closed by the server")
				}
				c.got += m
				status, complete, err := c.parse()
				if err != nil {
					return done, failed, err
				}
				if !complete {
					continue
				}
				done++
				if status >= 400 {
					failed++
				}
				if err := sys.write(c.fd, req); err != nil {
					return done, failed, err
				}
				break
			}
		}
	}
	return done, failed, nil
}

// parse frames the response in c.buf: its status and whether it is
// whole; a whole response is consumed.
func (c *epollConn) parse() (status int, complete bool, err error) {
	if c.need == 0 {
		end := bytes.Index(c.buf[:c.got], []byte("\r\n\r\n"))
		if end < 0 {
			if c.got == len(c.buf) {
				return 0, false, errors.New("response head larger than the buffer")
			}
			return 0, false, nil
		}
		length := -1
		for _, line := range bytes.Split(c.buf[:end], []byte("\r\n"))[1:] {
			name, value, ok := bytes.Cut(line, []byte(":"))
			if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
				length, err = strconv.Atoi(string(bytes.TrimSpace(value)))
				if err != nil {
					return 0, false, fmt.Errorf("bad Content-Length %q", value)
				}
			}
		}
		if length < 0 {
			return 0, false, errors.New("response without Content-Length")
		}
		c.need = end + 4 + length
		if c.need > len(c.buf) {
			return 0, false, fmt.Errorf("response of %d bytes larger than the buffer", c.need)
		}
	}
	if c.got < c.need {
		return 0, false, nil
	}
	if c.got > c.need {
		return 0, false, errors.New("bytes beyond the response: the server sent what was not asked")
	}
	if c.need < 12 || !bytes.HasPrefix(c.buf, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", c.buf[:min(c.need, 40)])
	}
	status, err = strconv.Atoi(string(c.buf[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", c.buf[:min(c.need, 40)])
	}
	c.got, c.need = 0, 0
	return status, true, nil
}
