package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

func TestReadRawResponse(t *testing.T) {
	tests := []struct {
		name, in   string
		wantStatus int
		wantErr    bool
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 200, false},
		{"lower-case header", "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno\n", 404, false},
		{"no length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, true},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n", 0, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := readRawResponse(bufio.NewReader(strings.NewReader(tt.in)))
			if (err != nil) != tt.wantErr || status != tt.wantStatus {
				t.Errorf("readRawResponse = %d, %v; want %d, error %v", status, err, tt.wantStatus, tt.wantErr)
			}
		})
	}
}

// TestLoops runs every client loop briefly against a test server.
func TestLoops(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(benchkit.Hello))
	defer srv.Close()
	for _, l := range loops {
		t.Run(l.String(), func(t *testing.T) {
			var n, failed int64
			var err error
			switch l {
			case loopEngine, loopEngineBare:
				n, failed, err = runEngineLoop(t.Context(), l == loopEngine, srv.URL+"/", 2, 300*time.Millisecond)
			case loopNetHTTP:
				n, failed, err = runNetHTTPLoop(t.Context(), srv.URL+"/", 2, 300*time.Millisecond)
			case loopRaw:
				n, failed, err = runRawLoop(t.Context(), srv.URL+"/", 2, 300*time.Millisecond)
			case loopEpoll, loopEpollRaw:
				if !epollAvailable {
					t.Skip("no epoll on this platform")
				}
				threads := 2
				if l == loopEpollRaw {
					// A raw loop holds its P while it blocks: leave one
					// to the test server.
					if runtime.GOMAXPROCS(0) < 2 {
						t.Skip("the raw epoll loop needs GOMAXPROCS >= 2 beside an in-process server")
					}
					threads = 1
				}
				n, failed, err = runEpollLoop(t.Context(), l == loopEpollRaw, srv.URL+"/", 3, threads, 300*time.Millisecond)
			}
			if err != nil || n == 0 || failed != 0 {
				t.Errorf("%s: %d requests, %d failed, %v; want some, none failed", l, n, failed, err)
			}
		})
	}
}
