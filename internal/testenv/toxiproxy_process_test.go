package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestExternalToxiproxy starts a real toxiproxy-server, proxies an echo
// server through it, and checks that cleanup stops and reaps it.
func TestExternalToxiproxy(t *testing.T) {
	t.Parallel()
	echo := TCPServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	var pid int
	var apiAddr string
	t.Run("running", func(t *testing.T) {
		tp := ExternalToxiproxy(t)
		pid, apiAddr = tp.PID(), tp.Addr()
		if !strings.HasPrefix(tp.URL(), "http://127.0.0.1:") || tp.URL() != "http://"+tp.Addr() {
			t.Errorf("URL() = %q, Addr() = %q", tp.URL(), tp.Addr())
		}
		var v struct{ Version string }
		ToxiproxyAPI(t, tp.URL(), http.MethodGet, "/version", nil, http.StatusOK, &v)
		// go.mod's version, stamped at build time; "git" without it.
		if !regexp.MustCompile(`^2\.[0-9]+\.[0-9]+$`).MatchString(v.Version) {
			t.Errorf("GET /version = %q, want a 2.x release version like 2.12.0", v.Version)
		}
		var p struct{ Listen string }
		ToxiproxyAPI(t, tp.URL(), http.MethodPost, "/proxies",
			map[string]any{"name": "echo", "listen": "127.0.0.1:0", "upstream": echo}, http.StatusCreated, &p)
		c, err := net.DialTimeout("tcp", p.Listen, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "ping\n" {
			t.Errorf("echo through the proxy: %q, %v", line, err)
		}
	})
	// The subtest's cleanup has run: the process is reaped, its API gone.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("toxiproxy-server %d after cleanup: kill -0 = %v, want ESRCH", pid, err)
	}
	if c, err := net.DialTimeout("tcp", apiAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the API on %s still accepts connections after cleanup", apiAddr)
	}
}

// TestExternalToxiproxyPortTaken checks that a server whose port is held
// by someone else, even someone answering GET /version, is not taken for
// ready: the start fails with errPortTaken (ExternalToxiproxy then tries
// another port) and the process is gone.
func TestExternalToxiproxyPortTaken(t *testing.T) {
	t.Parallel()
	bin := BuildToxiproxyServer(t)
	tests := []struct {
		name  string
		serve func(net.Listener)
	}{
		{"tcp listener", func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}},
		{"http server answering /version", func(ln net.Listener) {
			hs := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"version": "impostor"}`)
			})}
			_ = hs.Serve(ln)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() { tt.serve(ln) })
			t.Cleanup(func() { ln.Close(); wg.Wait() })
			port := ln.Addr().(*net.TCPAddr).Port

			p, err := startToxiproxy(bin, filepath.Join(t.TempDir(), "toxiproxy.log"), port)
			if err == nil {
				_ = p.stop()
				t.Fatal("start on a taken port succeeded")
			}
			if !errors.Is(err, errPortTaken) {
				t.Fatalf("start on a taken port: %v, want errPortTaken", err)
			}
		})
	}
}
