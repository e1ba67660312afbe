// Package freeport finds loopback ports that were free a moment ago, for
// the processes our tests, the local stack and the benchmarks start.
// Another process may take such a port before the caller binds it: a
// caller that cares retries with a new one.
package freeport

import (
	"fmt"
	"net"
	"strconv"
)

// Loopback returns a TCP port on 127.0.0.1 that was free a moment ago.
func Loopback() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// Addr is Loopback as an address, like "127.0.0.1:41234".
func Addr() (string, error) {
	port, err := Loopback()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
