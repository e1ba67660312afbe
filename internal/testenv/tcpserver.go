package testenv

import (
	"net"
	"sync"
	"testing"
)

// TCPServer listens on a free port on 127.0.0.1 and returns its address.
// Every connection it accepts is handed to handle on a goroutine of its
// own; a nil handle holds the connection open and never answers, like a
// server stuck mid-request:
//
//	echo := testenv.TCPServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
//	hung := testenv.TCPServer(t, nil)
//
// In t.Cleanup the listener and every accepted connection are closed and
// the handlers are waited for, so a handle must return once its
// connection is closed.
func TCPServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed { // accepted while the cleanup ran
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns = append(conns, c)
			if handle != nil {
				wg.Go(func() { handle(c) })
			}
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
