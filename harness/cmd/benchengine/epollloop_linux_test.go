//go:build linux

package main

import "testing"

// TestEpollParse: the epoll loop frames responses that arrive in pieces
// and rejects what it cannot count.
func TestEpollParse(t *testing.T) {
	ok := "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}"
	tests := []struct {
		name       string
		pieces     []string
		wantStatus int
		wantErr    bool
	}{
		{"whole", []string{ok}, 404, false},
		{"split in the head", []string{ok[:10], ok[10:]}, 404, false},
		{"split in the body", []string{ok[:len(ok)-1], ok[len(ok)-1:]}, 404, false},
		{"no length", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, 0, true},
		{"bad length", []string{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"}, 0, true},
		{"extra bytes", []string{ok + "HTTP"}, 0, true},
		{"not HTTP", []string{"SSH-2.0-OpenSSH x\r\nContent-Length: 0\r\n\r\n"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &epollConn{buf: make([]byte, 1024)}
			var status int
			var complete bool
			var err error
			for i, p := range tt.pieces {
				c.got += copy(c.buf[c.got:], p)
				status, complete, err = c.parse()
				if err != nil {
					break
				}
				if last := i == len(tt.pieces)-1; complete != last {
					t.Fatalf("after piece %d: complete %v", i+1, complete)
				}
			}
			if (err != nil) != tt.wantErr || status != tt.wantStatus {
				t.Errorf("parse = %d, %v; want %d, error %v", status, err, tt.wantStatus, tt.wantErr)
			}
			if err == nil && (c.got != 0 || c.need != 0) {
				t.Errorf("a whole response left got=%d need=%d", c.got, c.need)
			}
		})
	}
}
