package request

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// send renders template tpl against target and sends it with c.
func send(t *testing.T, ctx context.Context, c *Client, target string, tpl Template) (*Response, error) {
	t.Helper()
	if tpl.Weight == 0 {
		tpl.Weight = 1
	}
	if tpl.Name == "" {
		tpl.Name = "t"
	}
	m, err := NewMix([]string{target}, []Template{tpl}, Pools{Environments: []string{"prod"}, Flags: []string{"f1"}})
	if err != nil {
		t.Fatal(err)
	}
	var out Outgoing
	m.Render(m.Templates()[0], rand.New(rand.NewPCG(1, 1)), &out)
	resp := &Response{}
	return resp, c.Do(ctx, &out, resp)
}

// countingServer is a real net/http server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestClientAgainstNetHTTPServer(t *testing.T) {
	var got struct {
		sync.Mutex
		method, uri, ctype, auth, ua, body string
	}
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.method, got.uri, got.body = r.Method, r.URL.RequestURI(), string(b)
		got.ctype, got.auth, got.ua = r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.UserAgent()
		got.Unlock()
		w.Header().Set("X-Flag-Source", "redis")
		fmt.Fprintf(w, `{"key":"f1","version":7}`)
	})
	c := NewClient(4, 5*time.Second, nil)
	defer c.CloseIdleConnections()
	for i := range 20 {
		resp, err := send(t, t.Context(), c, srv.URL, Template{Method: "PATCH", Path: "/api/config/flags/{{flag}}?environment={{env}}",
			Headers: map[string]string{"Authorization": "Bearer t0k"}, Body: `{"enabled":true}`})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Status != 200 || resp.Source != "redis" || string(resp.Body) != `{"key":"f1","version":7}` || resp.BodyLen != int64(len(resp.Body)) {
			t.Fatalf("request %d: status %d source %q body %q", i, resp.Status, resp.Source, resp.Body)
		}
		if resp.FirstByte.IsZero() || resp.BytesIn <= resp.BodyLen || resp.BytesOut <= int64(len(`{"enabled":true}`)) {
			t.Fatalf("request %d: first byte %v, bytes in %d out %d", i, resp.FirstByte, resp.BytesIn, resp.BytesOut)
		}
	}
	got.Lock()
	defer got.Unlock()
	if got.method != "PATCH" || got.uri != "/api/config/flags/f1?environment=prod" || got.body != `{"enabled":true}` ||
		got.ctype != "application/json" || got.auth != "Bearer t0k" || got.ua != UserAgent {
		t.Errorf("server saw %s %s, body %q, Content-Type %q, Authorization %q, User-Agent %q", got.method, got.uri, got.body, got.ctype, got.auth, got.ua)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d connections, want 1 (keep-alive)", n)
	}
}

func TestClientPoolsConnectionsPerConcurrentRequest(t *testing.T) {
	release := make(chan struct{})
	var inside atomic.Int64
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if inside.Add(1) <= 5 {
			<-release
		}
		w.WriteHeader(204)
	})
	c := NewClient(5, 5*time.Second, nil)
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 5 {
		wg.Go(func() {
			for range 10 {
				if resp, err := send(t, t.Context(), c, srv.URL, Template{Path: "/"}); err != nil || resp.Status != 204 {
					errs <- fmt.Errorf("status %d: %v", resp.Status, err)
				}
			}
		})
	}
	testenv.Poll(t, 10*time.Second, "5 requests inside the server", func() error {
		if n := inside.Load(); n < 5 {
			return fmt.Errorf("%d inside", n)
		}
		return nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("5 concurrent users used %d connections, want 5", n)
	}
}

// rawServer answers each connection with handle, for responses net/http
// would never write.
func rawServer(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer c.Close()
				handle(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String(), &accepted
}

// readRequest reads one request head and its Content-Length body.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, r.Body)
	return r, err
}

func TestClientResponseFraming(t *testing.T) {
	for name, tt := range map[string]struct {
		method   string
		response string
		status   int
		body     string
		reuse    bool // the connection stays usable
	}{
		"content-length": {"GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Flag-Source: db\r\n\r\nhello", 200, "hello", true},
		"chunked":        {"GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n", 200, "hello world", true},
		"100 continue":   {"GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201, "ok", true},
		"no framing":     {"GET", "HTTP/1.1 200 OK\r\n\r\nuntil close", 200, "until close", false},
		"http/1.0":       {"GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		"close":          {"GET", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy", 503, "busy", false},
		"204":            {"DELETE", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", true},
		"head":           {"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 200, "", true},
		"lf only":        {"GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", true},
		"header case":    {"GET", "HTTP/1.1 200 OK\r\ncontent-LENGTH:   2  \r\nx-flag-source: memory\r\n\r\nok", 200, "ok", true},
	} {
		t.Run(name, func(t *testing.T) {
			url, accepted := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequest(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, tt.response); err != nil {
						return
					}
					if !tt.reuse {
						return
					}
				}
			})
			c := NewClient(1, 5*time.Second, nil)
			defer c.CloseIdleConnections()
			for i := range 3 {
				resp, err := send(t, t.Context(), c, url, Template{Method: tt.method, Path: "/x"})
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.Status != tt.status || string(resp.Body) != tt.body {
					t.Fatalf("request %d: status %d body %q, want %d %q", i, resp.Status, resp.Body, tt.status, tt.body)
				}
			}
			want := int64(1)
			if !tt.reuse {
				want = 3
			}
			if n := accepted.Load(); n != want {
				t.Errorf("3 requests used %d connections, want %d", n, want)
			}
		})
	}
}

func TestClientRejectsMalformedResponses(t *testing.T) {
	for name, tt := range map[string]struct{ response, want string }{
		"not http":        {"SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"},
		"bad code":        {"HTTP/1.1 2x0 OK\r\n\r\n", "malformed status line"},
		"bad length":      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
		"bad header":      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"},
		"short body":      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "unexpected EOF"},
		"bad chunk":       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"},
		"gzip encoding":   {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"},
		"long header":     {"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", "longer than 4 KiB"},
		"closed at once":  {"", "EOF"},
		"cut in the head": {"HTTP/1.1 200 OK\r\nContent-Le", "EOF"},
	} {
		t.Run(name, func(t *testing.T) {
			url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err == nil {
					io.WriteString(c, tt.response)
				}
			})
			c := NewClient(1, 5*time.Second, nil)
			defer c.CloseIdleConnections()
			_, err := send(t, t.Context(), c, url, Template{Path: "/"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestClientKeepsAtMostMaxBody(t *testing.T) {
	const size = MaxBody + 12345
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("x", size))
		}
	})
	c := NewClient(1, 5*time.Second, nil)
	defer c.CloseIdleConnections()
	resp, err := send(t, t.Context(), c, url, Template{Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != MaxBody || resp.BodyLen != size {
		t.Fatalf("kept %d bytes of %d, want %d of %d", len(resp.Body), resp.BodyLen, MaxBody, size)
	}
}

// TestClientRetriesIdempotentRequestOnClosedIdleConnection: a server that
// closes a kept-alive connection while it is idle must not turn the next
// GET into an error; a PATCH is not sent twice.
func TestClientRetriesIdempotentRequestOnClosedIdleConnection(t *testing.T) {
	var patches atomic.Int64
	url, accepted := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		// One response per connection, then close without saying so.
		r, err := readRequest(br)
		if err != nil {
			return
		}
		if r.Method == "PATCH" {
			patches.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := NewClient(1, 5*time.Second, nil)
	defer c.CloseIdleConnections()
	for i := range 3 {
		if resp, err := send(t, t.Context(), c, url, Template{Path: "/"}); err != nil || resp.Status != 200 {
			t.Fatalf("GET %d: status %d, %v", i, resp.Status, err)
		}
	}
	if n := accepted.Load(); n < 3 {
		t.Fatalf("%d connections for 3 GETs on a server that closes each", n)
	}
	c.CloseIdleConnections()
	if _, err := send(t, t.Context(), c, url, Template{Method: "PATCH", Path: "/", Body: "{}"}); err != nil {
		t.Fatalf("PATCH on a fresh pool: %v", err)
	}
	// The server closed the connection the PATCH used; the next PATCH
	// takes it from the pool and must fail rather than be sent twice.
	if _, err := send(t, t.Context(), c, url, Template{Method: "PATCH", Path: "/", Body: "{}"}); err == nil {
		t.Fatal("a PATCH on a connection the server had closed succeeded; it must fail, not be resent")
	}
	if got := patches.Load(); got != 1 {
		t.Fatalf("the server processed %d PATCHes, want 1", got)
	}
}

// TestClientChecksIdleConnectionsBeforeReuse: a connection idle for a
// while is checked before reuse, so that a PATCH after a pause goes out on
// a live connection instead of failing on one the server closed.
func TestClientChecksIdleConnectionsBeforeReuse(t *testing.T) {
	defer func(d time.Duration) { staleAfter = d }(staleAfter)
	staleAfter = 0
	var patches atomic.Int64
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			patches.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	c := NewClient(1, 5*time.Second, nil)
	defer c.CloseIdleConnections()
	for i := range 3 {
		// Wait until the server's close has reached us, as after a pause.
		testenv.Poll(t, 10*time.Second, "the server's close reaches the idle connection", func() error {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, cn := range c.idle[strings.TrimPrefix(url, "http://")] {
				if cn.alive() {
					return errors.New("an idle connection is alive")
				}
			}
			return nil
		})
		if _, err := send(t, t.Context(), c, url, Template{Method: "PATCH", Path: "/", Body: "{}"}); err != nil {
			t.Fatalf("PATCH %d: %v", i, err)
		}
	}
	if got := patches.Load(); got != 3 {
		t.Fatalf("the server processed %d PATCHes, want 3", got)
	}
}

func TestClientTimeoutAndCancel(t *testing.T) {
	hang := make(chan struct{})
	arrived := make(chan struct{}, 10)
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			arrived <- struct{}{}
			<-hang
		}
	})
	t.Cleanup(func() { close(hang) }) // before the server's cleanup waits for its handlers
	c := NewClient(2, 200*time.Millisecond, nil)
	defer c.CloseIdleConnections()
	start := time.Now()
	_, err := send(t, t.Context(), c, url, Template{Path: "/"})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a 200ms timeout took %s", took)
	}
	<-arrived

	// A long per-request timeout: the context's end must abort the
	// request, through the client's shared watch and, once the watch
	// table is full, through a watch of its own.
	c = NewClient(2, time.Minute, nil)
	defer c.CloseIdleConnections()
	for _, shared := range []bool{true, false} {
		if !shared {
			type key struct{}
			c.mu.Lock()
			for i := 0; len(c.watched) < maxWatched; i++ {
				c.watched[context.WithValue(t.Context(), key{}, i)] = struct{}{}
			}
			c.mu.Unlock()
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := send(t, ctx, c, url, Template{Path: "/"})
			done <- err
		}()
		<-arrived // the request is in flight
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("shared=%v: err = %v, want context.Canceled", shared, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("shared=%v: cancelling the context did not abort the request", shared)
		}
	}
}

func TestClientConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(1, time.Second, nil)
	_, err = send(t, t.Context(), c, "http://"+addr, Template{Path: "/"})
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) {
		t.Fatalf("err = %v, want a connect error naming %s", err, addr)
	}
}

func TestClientHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Flag-Source", "db")
		io.WriteString(w, r.URL.RequestURI())
	}))
	t.Cleanup(srv.Close)
	c := NewClient(1, 5*time.Second, nil)
	c.tlsConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	defer c.CloseIdleConnections()
	resp, err := send(t, t.Context(), c, srv.URL, Template{Path: "/a?environment={{env}}"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Source != "db" || string(resp.Body) != "/a?environment=prod" {
		t.Fatalf("status %d source %q body %q", resp.Status, resp.Source, resp.Body)
	}
}

// The source tag comes from the header the target description names, or
// from none.
func TestClientSourceHeader(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Flag-Source", "redis")
		w.Header().Set("X-Served-By", "cache")
		fmt.Fprintf(w, `{}`)
	})
	for _, tc := range []struct{ header, want string }{{"X-Served-By", "cache"}, {"x-served-by", "cache"}, {"", ""}, {DefaultSourceHeader, "redis"}} {
		c := NewClient(1, 5*time.Second, nil)
		c.SetSourceHeader(tc.header)
		resp, err := send(t, t.Context(), c, srv.URL, Template{Path: "/x"})
		c.CloseIdleConnections()
		if err != nil || resp.Source != tc.want {
			t.Errorf("header %q: source %q, %v; want %q", tc.header, resp.Source, err, tc.want)
		}
	}
}
