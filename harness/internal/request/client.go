package request

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UserAgent is sent unless a template sets its own.
const UserAgent = "flagstorm"

// Target is one base URL of the service under test.
type Target struct {
	url    string // as given, without a trailing slash
	https  bool
	addr   string // host:port to dial
	host   string // the Host header
	origin string // scheme://host, for net/http
	prefix string // path prefix, without a trailing slash
}

// ParseTarget parses a base URL: http or https, a host, an optional port
// and path prefix; no query, fragment or user information.
func ParseTarget(raw string) (*Target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("target URL %q: want http://host:port with an optional path prefix", raw)
	}
	t := &Target{
		url:    strings.TrimSuffix(raw, "/"),
		https:  u.Scheme == "https",
		host:   u.Host,
		origin: u.Scheme + "://" + u.Host,
		prefix: strings.TrimSuffix(u.EscapedPath(), "/"),
	}
	t.addr = u.Host
	if u.Port() == "" {
		port := "80"
		if t.https {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return t, nil
}

// String is the base URL.
func (t *Target) String() string { return t.url }

// Response is what Do read. A VU reuses one: Body's array is kept across
// requests.
type Response struct {
	Status int
	// Source is the source header's value (X-Flag-Source unless the
	// client was told another; see Client.SetSourceHeader).
	Source string
	// Body holds up to MaxBody bytes of the body; BodyLen is its full
	// length.
	Body    []byte
	BodyLen int64
	// FirstByte is when the first byte of the response arrived.
	FirstByte time.Time
	// BytesIn and BytesOut count the wire bytes of this exchange (status
	// line, headers and body), as k6's data_received and data_sent do.
	BytesIn, BytesOut int64
}

// MaxBody is how much of a body Response keeps; the rest is read and
// counted, not kept.
const MaxBody = 1 << 20

// Client sends rendered requests: http:// targets over its own HTTP/1.1
// keep-alive connections, https:// targets through net/http. It is safe
// for concurrent use; each call to Do uses one connection at a time, so a
// connection serves one VU's request, then the next.
type Client struct {
	// source is the header Response.Source reads ("" none).
	source  string
	timeout time.Duration
	maxIdle int
	now     func() time.Time
	dialer  net.Dialer

	mu   sync.Mutex
	idle map[string][]*conn // by address
	// busy are the connections in use, each with the ctx of its request;
	// watched are the contexts whose end aborts them (see watch).
	busy    map[*conn]context.Context
	watched map[context.Context]struct{}

	httpsOnce sync.Once
	https     *http.Client
	tlsConfig *tls.Config // nil: verify against the system's roots
}

// NewClient returns a client for vus concurrent users with a per-request
// timeout (connecting, sending and reading the whole response). now is the
// clock for FirstByte (nil: time.Now).
func NewClient(vus int, timeout time.Duration, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{
		source:  DefaultSourceHeader,
		timeout: timeout,
		maxIdle: max(vus, 1) * 2,
		now:     now,
		dialer:  net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second},
		idle:    map[string][]*conn{},
		busy:    map[*conn]context.Context{},
		watched: map[context.Context]struct{}{},
	}
}

// DefaultSourceHeader is the header a Client reads Response.Source from
// unless told another: flagserver's.
const DefaultSourceHeader = "X-Flag-Source"

// SetSourceHeader sets the header Response.Source reads; "" reads none.
// Call it before the first request.
func (c *Client) SetSourceHeader(name string) { c.source = name }

// maxWatched bounds the contexts watched at once. The engine's executors
// give each VU a context that lives as long as the VU (the entry goes when
// it ends), so a run watches about as many as it has VUs; beyond the bound
// (or for a caller that passes a fresh context per request) each request
// registers an AfterFunc of its own.
const maxWatched = 4096

// watch arranges for ctx's end to abort the exchanges of the busy
// connections serving ctx, by setting their deadline in the past. One
// AfterFunc per context, not per request: registering with a context
// shared by every VU costs a lock on it. It reports false when ctx
// cannot be watched (too many), and the caller must watch for itself.
func (c *Client) watch(ctx context.Context, cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.watched[ctx]; !ok {
		if len(c.watched) >= maxWatched {
			return false
		}
		c.watched[ctx] = struct{}{}
		context.AfterFunc(ctx, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.watched, ctx)
			for b, bctx := range c.busy {
				if bctx == ctx {
					_ = b.nc.SetDeadline(aLongTimeAgo)
				}
			}
		})
	}
	c.busy[cn] = ctx
	return true
}

func (c *Client) unwatch(cn *conn) {
	c.mu.Lock()
	delete(c.busy, cn)
	c.mu.Unlock()
}

// ErrTimeout wraps the error of a request that ran out of time.
var ErrTimeout = errors.New("request timed out")

// Do sends out and reads the response into resp. ctx's end aborts the
// exchange. An error means no complete response: resp.Status may still
// hold the status of a response whose body failed.
func (c *Client) Do(ctx context.Context, out *Outgoing, resp *Response) error {
	resp.Status, resp.Source, resp.Body, resp.BodyLen = 0, "", resp.Body[:0], 0
	resp.FirstByte, resp.BytesIn, resp.BytesOut = time.Time{}, 0, 0
	if out.Target.https {
		return c.doHTTPS(ctx, out, resp)
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for attempt := 0; ; attempt++ {
		cn, err := c.get(ctx, out.Target)
		if err != nil {
			return err
		}
		reused := cn.used > 0
		err = c.exchange(ctx, cn, out, resp, deadline)
		if err == nil && !cn.closing {
			c.put(cn)
			return nil
		}
		cn.close()
		if err == nil {
			return nil
		}
		// A kept-alive connection the server closed while it sat idle
		// fails before any byte of the response: send again on a new
		// one, as net/http does, if that cannot apply a write twice.
		if attempt == 0 && reused && resp.BytesIn == 0 && ctx.Err() == nil && replayable(out) && isClosedConn(err) {
			resp.BytesOut = 0
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return err
	}
}

// replayable: methods that are safe to send twice (RFC 9110 §9.2.2).
func replayable(out *Outgoing) bool {
	switch out.Template.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isClosedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

// CloseIdleConnections closes the connections no request is using.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[string][]*conn{}
	c.mu.Unlock()
	for _, cs := range idle {
		for _, cn := range cs {
			cn.close()
		}
	}
	if c.https != nil {
		c.https.CloseIdleConnections()
	}
}

// staleAfter: a connection idle longer than this is checked for a close
// by the server before it is reused (a variable for tests).
var staleAfter = time.Second

func (c *Client) get(ctx context.Context, t *Target) (*conn, error) {
	for {
		c.mu.Lock()
		cs := c.idle[t.addr]
		if len(cs) == 0 {
			c.mu.Unlock()
			break
		}
		cn := cs[len(cs)-1]
		c.idle[t.addr] = cs[:len(cs)-1]
		c.mu.Unlock()
		if time.Since(cn.lastUsed) < staleAfter || cn.alive() {
			return cn, nil
		}
		cn.close()
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cn := &conn{nc: nc, addr: t.addr, source: strings.ToLower(c.source)}
	cn.br = bufio.NewReaderSize(&cn.counter, 4096)
	cn.counter.r = nc
	return cn, nil
}

func (c *Client) put(cn *conn) {
	cn.lastUsed = time.Now()
	c.mu.Lock()
	if cs := c.idle[cn.addr]; len(cs) < c.maxIdle {
		c.idle[cn.addr] = append(cs, cn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	cn.close()
}

// countingReader counts the bytes read from the connection.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// conn is one keep-alive HTTP/1.1 connection.
type conn struct {
	nc       net.Conn
	counter  countingReader
	br       *bufio.Reader
	wbuf     []byte
	addr     string
	used     int
	lastUsed time.Time
	closing  bool // the response asked to close, or the body was cut short
	sources  [4]string
	nsources int
	source   string // the source header's name; "" reads none

	// The current response's framing, from its head.
	contentLength int64 // -1: unknown
	chunked       bool
}

func (cn *conn) close() { _ = cn.nc.Close() }

// consumed is how many bytes of the connection were parsed so far.
func (cn *conn) consumed() int64 { return cn.counter.n - int64(cn.br.Buffered()) }

// alive checks, without blocking, that the server has not closed an idle
// connection (nor sent anything unasked).
func (cn *conn) alive() bool {
	if cn.br.Buffered() > 0 {
		return false
	}
	return peerOpen(cn.nc)
}

// aLongTimeAgo is a deadline in the past: it makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

func (c *Client) exchange(ctx context.Context, cn *conn, out *Outgoing, resp *Response, deadline time.Time) (err error) {
	cn.used++
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return err
	}
	if ctx.Done() != nil {
		if c.watch(ctx, cn) {
			defer c.unwatch(cn)
		} else {
			stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(aLongTimeAgo) })
			defer func() {
				if !stop() {
					// ctx ended: its deadline in the past may land at
					// any moment, so the connection cannot be reused.
					cn.closing = true
				}
			}()
		}
		// Had ctx ended before the watch, the deadline set above would
		// stand: look once it is in place.
		if err := ctx.Err(); err != nil {
			cn.closing = true
			return err
		}
	}
	defer func() {
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			err = fmt.Errorf("%w after %s: %w", ErrTimeout, time.Until(deadline).Round(time.Millisecond), err)
		}
	}()
	cn.wbuf = out.appendHead(cn.wbuf[:0])
	cn.wbuf = append(cn.wbuf, out.Body...)
	n, err := cn.nc.Write(cn.wbuf)
	resp.BytesOut = int64(n)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	start := cn.consumed()
	defer func() { resp.BytesIn = cn.consumed() - start }()
	head := out.Template.Method == http.MethodHead
	for {
		if _, err := cn.br.Peek(1); err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		if resp.FirstByte.IsZero() {
			resp.FirstByte = c.now()
		}
		if err := cn.readHead(resp); err != nil {
			return err
		}
		// 1xx responses (but 101) precede the real one.
		if resp.Status >= 100 && resp.Status < 200 && resp.Status != 101 {
			continue
		}
		break
	}
	if head || resp.Status == 204 || resp.Status == 304 || resp.Status == 101 {
		if resp.Status == 101 {
			cn.closing = true
		}
		return nil
	}
	return cn.readBody(resp)
}

// readLine returns the next line without its CRLF (or LF). The slice is
// only valid until the next read.
func (cn *conn) readLine() ([]byte, error) {
	line, err := cn.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("read response: header line longer than 4 KiB")
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// maxHeaderLines bounds a response head, as net/http bounds its size.
const maxHeaderLines = 256

// readHead parses the status line and the header fields the client needs.
func (cn *conn) readHead(resp *Response) error {
	line, err := cn.readLine()
	if err != nil {
		return err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return fmt.Errorf("read response: malformed status line %q", truncate(line))
	}
	http10 := line[7] == '0'
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("read response: malformed status line %q", truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return fmt.Errorf("read response: malformed status line %q", truncate(line))
	}
	resp.Status = code
	cn.contentLength, cn.chunked = -1, false
	cn.closing = http10
	for n := 0; ; n++ {
		if n == maxHeaderLines {
			return fmt.Errorf("read response: more than %d header lines", maxHeaderLines)
		}
		line, err := cn.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return fmt.Errorf("read response: malformed header line %q", truncate(line))
		}
		key, val := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case asciiEqualFold(key, "content-length"):
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("read response: bad Content-Length %q", truncate(val))
			}
			cn.contentLength = n
		case asciiEqualFold(key, "transfer-encoding"):
			if asciiEqualFold(val, "chunked") {
				cn.chunked = true
			} else {
				return fmt.Errorf("read response: unsupported Transfer-Encoding %q", truncate(val))
			}
		case asciiEqualFold(key, "connection"):
			if asciiContainsFold(val, "close") {
				cn.closing = true
			} else if http10 && asciiContainsFold(val, "keep-alive") {
				cn.closing = false
			}
		case cn.source != "" && asciiEqualFold(key, cn.source):
			resp.Source = cn.intern(val)
		}
	}
}

// intern returns val as a string, allocating only for a value the
// connection has not seen lately (a service has a handful of sources).
func (cn *conn) intern(val []byte) string {
	for _, s := range cn.sources[:cn.nsources] {
		if string(val) == s {
			return s
		}
	}
	s := string(val)
	if cn.nsources < len(cn.sources) {
		cn.sources[cn.nsources] = s
		cn.nsources++
	} else {
		copy(cn.sources[:], cn.sources[1:])
		cn.sources[len(cn.sources)-1] = s
	}
	return s
}

// readBody reads the body the head announced, keeping up to MaxBody bytes.
func (cn *conn) readBody(resp *Response) error {
	if cn.chunked {
		return cn.readChunked(resp)
	}
	if cn.contentLength < 0 {
		// No framing: the body runs to the end of the connection.
		cn.closing = true
		for {
			if err := cn.readN(resp, 32<<10, true); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	return cn.readN(resp, cn.contentLength, false)
}

// readN reads n bytes of body (fewer at EOF when eofOK).
func (cn *conn) readN(resp *Response, n int64, eofOK bool) error {
	for n > 0 {
		chunk, err := cn.br.Peek(int(min(n, int64(cn.br.Size()))))
		if len(chunk) == 0 && err != nil {
			if errors.Is(err, io.EOF) && !eofOK {
				err = io.ErrUnexpectedEOF
			}
			if errors.Is(err, io.EOF) {
				return err
			}
			return fmt.Errorf("read response body: %w", err)
		}
		if room := MaxBody - len(resp.Body); room > 0 {
			resp.Body = append(resp.Body, chunk[:min(len(chunk), room)]...)
		}
		resp.BodyLen += int64(len(chunk))
		n -= int64(len(chunk))
		_, _ = cn.br.Discard(len(chunk))
	}
	return nil
}

// readChunked reads a chunked body and its trailer.
func (cn *conn) readChunked(resp *Response) error {
	for {
		line, err := cn.readLine()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("read response body: bad chunk size %q", truncate(line))
		}
		if size == 0 {
			for {
				line, err := cn.readLine()
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := cn.readN(resp, size, false); err != nil {
			return err
		}
		if line, err := cn.readLine(); err != nil {
			return err
		} else if len(line) != 0 {
			return errors.New("read response body: chunk not followed by CRLF")
		}
	}
}

// appendHead appends the request line and header fields.
func (o *Outgoing) appendHead(b []byte) []byte {
	b = append(b, o.Template.Method...)
	b = append(b, ' ')
	b = append(b, o.URI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, o.Target.host...)
	b = append(b, "\r\n"...)
	b = append(b, o.Template.head...)
	if len(o.Body) > 0 || !o.Template.bodyless {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(o.Body)), 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func asciiContainsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// doHTTPS sends out through net/http (TLS targets).
func (c *Client) doHTTPS(ctx context.Context, out *Outgoing, resp *Response) error {
	c.httpsOnce.Do(func() {
		if c.tlsConfig == nil {
			c.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t := &http.Transport{
			Proxy:                 nil, // never through an HTTP proxy from the environment
			DialContext:           c.dialer.DialContext,
			TLSClientConfig:       c.tlsConfig,
			MaxIdleConns:          c.maxIdle,
			MaxIdleConnsPerHost:   c.maxIdle,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true,
			ResponseHeaderTimeout: c.timeout,
		}
		c.https = &http.Client{Transport: t, Timeout: c.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
	var body io.Reader
	if len(out.Body) > 0 {
		body = bytes.NewReader(out.Body)
	}
	req, err := http.NewRequestWithContext(ctx, out.Template.Method, out.URL(), body)
	if err != nil {
		return err
	}
	for k, v := range out.Template.headers {
		req.Header[k] = v
	}
	resp.BytesOut = int64(len(out.Body))
	r, err := c.https.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	resp.FirstByte = c.now()
	resp.Status = r.StatusCode
	if c.source != "" {
		resp.Source = r.Header.Get(c.source)
	}
	for {
		if len(resp.Body) == cap(resp.Body) {
			resp.Body = append(resp.Body, 0)[:len(resp.Body)]
		}
		n, err := r.Body.Read(resp.Body[len(resp.Body):min(cap(resp.Body), MaxBody)])
		resp.Body = resp.Body[:len(resp.Body)+n]
		resp.BodyLen += int64(n)
		if errors.Is(err, io.EOF) {
			resp.BytesIn = resp.BodyLen
			return nil
		}
		if err != nil {
			return err
		}
		if len(resp.Body) >= MaxBody {
			n, err := io.Copy(io.Discard, r.Body)
			resp.BodyLen += n
			resp.BytesIn = resp.BodyLen
			return err
		}
	}
}
