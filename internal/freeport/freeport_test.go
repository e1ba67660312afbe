package freeport

import (
	"net"
	"strings"
	"testing"
)

// TestFreePortsCanBeBound: what Loopback and Addr return is on loopback
// and can be listened on.
func TestFreePortsCanBeBound(t *testing.T) {
	port, err := Loopback()
	if err != nil || port <= 0 || port > 65535 {
		t.Fatalf("Loopback = %d, %v", port, err)
	}
	addr, err := Addr()
	if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, %v", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}
