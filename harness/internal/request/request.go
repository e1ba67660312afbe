// Package request turns a scenario's weighted request templates into HTTP
// requests and sends them: placeholders ({{env}}, {{flag}}, {{user}},
// {{bool}}, {{pct}}) are drawn per request from data pools, templates are
// parsed once, and the client is tuned for load (keep-alive, an idle pool
// as large as the VU count, a per-request timeout).
package request

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Template is one kind of request in the mix.
type Template struct {
	Name    string
	Weight  int
	Method  string
	Path    string // path and query, with placeholders
	Headers map[string]string
	Body    string // with placeholders
	// Expect lists the statuses that count as success; nil means 2xx and 3xx.
	Expect []int
}

// Pools are the values placeholders draw from.
type Pools struct {
	Environments []string
	Flags        []string
	Users        []string
}

// Placeholders lists the placeholders a template may use.
var Placeholders = []string{"env", "flag", "user", "bool", "pct"}

// segment is a literal or a placeholder of a parsed template string.
type segment struct {
	lit string
	ph  placeholder
}

type placeholder uint8

const (
	phNone placeholder = iota
	phEnv
	phFlag
	phUser
	phBool
	phPct
)

func parsePlaceholder(name string) (placeholder, bool) {
	switch name {
	case "env":
		return phEnv, true
	case "flag":
		return phFlag, true
	case "user":
		return phUser, true
	case "bool":
		return phBool, true
	case "pct":
		return phPct, true
	}
	return phNone, false
}

func parseSegments(s string) ([]segment, error) {
	var segs []segment
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				segs = append(segs, segment{lit: s})
			}
			return segs, nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed placeholder in %q", s)
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		ph, ok := parsePlaceholder(name)
		if !ok {
			return nil, fmt.Errorf("unknown placeholder {{%s}} (want one of %s)", name, strings.Join(Placeholders, ", "))
		}
		if i > 0 {
			segs = append(segs, segment{lit: s[:i]})
		}
		segs = append(segs, segment{ph: ph})
		s = s[i+j+2:]
	}
}

// Compiled is a parsed template.
type Compiled struct {
	Template
	path    []segment
	body    []segment
	expect  [600]bool // by status code
	headers http.Header
}

// Mix picks templates by weight.
type Mix struct {
	base      string // scheme://host[:port] of the target, without a trailing slash
	templates []*Compiled
	cum       []int // cumulative weights
	total     int
	pools     Pools
}

// NewMix compiles templates against a target base URL (http or https, any
// path prefix kept).
func NewMix(target string, ts []Template, pools Pools) (*Mix, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("target URL %q: want http://host:port", target)
	}
	if len(ts) == 0 {
		return nil, errors.New("no request templates")
	}
	m := &Mix{base: strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), pools: pools}
	var errs []error
	for i, t := range ts {
		c, err := compile(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("requests[%d] (%s): %w", i, t.Name, err))
			continue
		}
		m.total += t.Weight
		m.templates = append(m.templates, c)
		m.cum = append(m.cum, m.total)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, need := range []struct {
		ph   placeholder
		pool []string
		name string
	}{{phEnv, pools.Environments, "environments"}, {phFlag, pools.Flags, "flags"}, {phUser, pools.Users, "users"}} {
		if m.uses(need.ph) && len(need.pool) == 0 {
			errs = append(errs, fmt.Errorf("a template uses {{%s}} but the %s pool is empty", placeholderName(need.ph), need.name))
		}
	}
	return m, errors.Join(errs...)
}

func placeholderName(p placeholder) string { return Placeholders[p-1] }

func (m *Mix) uses(p placeholder) bool {
	for _, t := range m.templates {
		for _, s := range append(append([]segment(nil), t.path...), t.body...) {
			if s.ph == p {
				return true
			}
		}
	}
	return false
}

func compile(t Template) (*Compiled, error) {
	if t.Weight <= 0 {
		return nil, fmt.Errorf("weight must be positive, got %d", t.Weight)
	}
	if t.Method == "" {
		t.Method = http.MethodGet
	}
	if !strings.HasPrefix(t.Path, "/") {
		return nil, fmt.Errorf("path %q must start with /", t.Path)
	}
	c := &Compiled{Template: t, headers: http.Header{}}
	var err error
	if c.path, err = parseSegments(t.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if c.body, err = parseSegments(t.Body); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	for k, v := range t.Headers {
		c.headers.Set(k, v)
	}
	if t.Body != "" && c.headers.Get("Content-Type") == "" {
		c.headers.Set("Content-Type", "application/json")
	}
	if len(t.Expect) == 0 {
		for s := 200; s < 400; s++ {
			c.expect[s] = true
		}
	}
	for _, s := range t.Expect {
		if s < 100 || s >= len(c.expect) {
			return nil, fmt.Errorf("expect: %d is not an HTTP status", s)
		}
		c.expect[s] = true
	}
	return c, nil
}

// Expected reports whether status counts as success for this template.
func (c *Compiled) Expected(status int) bool {
	return status > 0 && status < len(c.expect) && c.expect[status]
}

// Pick chooses a template by weight.
func (m *Mix) Pick(rng *rand.Rand) *Compiled {
	if len(m.templates) == 1 {
		return m.templates[0]
	}
	n := rng.IntN(m.total)
	for i, c := range m.cum {
		if n < c {
			return m.templates[i]
		}
	}
	return m.templates[len(m.templates)-1]
}

// Templates are the compiled templates, in order.
func (m *Mix) Templates() []*Compiled { return m.templates }

// Drawn are the values a request drew from the pools.
type Drawn struct {
	Env, Flag, User string
	Bool            bool
	Pct             int
}

// Build renders a template into a request, drawing placeholder values from
// the pools with rng. buf is reused for the body.
func (m *Mix) Build(ctx context.Context, c *Compiled, rng *rand.Rand, buf *bytes.Buffer) (*http.Request, Drawn, error) {
	var d Drawn
	if len(m.pools.Environments) > 0 {
		d.Env = m.pools.Environments[rng.IntN(len(m.pools.Environments))]
	}
	if len(m.pools.Flags) > 0 {
		d.Flag = m.pools.Flags[rng.IntN(len(m.pools.Flags))]
	}
	if len(m.pools.Users) > 0 {
		d.User = m.pools.Users[rng.IntN(len(m.pools.Users))]
	}
	d.Bool = rng.IntN(2) == 1
	d.Pct = rng.IntN(101)
	var sb strings.Builder
	sb.Grow(len(m.base) + len(c.Path) + 32)
	sb.WriteString(m.base)
	render(&sb, c.path, d)
	var body io.Reader
	if len(c.body) > 0 {
		buf.Reset()
		render(buf, c.body, d)
		body = bytes.NewReader(buf.Bytes())
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, sb.String(), body)
	if err != nil {
		return nil, d, err
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	return req, d, nil
}

type writer interface {
	WriteString(string) (int, error)
}

func render(w writer, segs []segment, d Drawn) {
	for _, s := range segs {
		switch s.ph {
		case phNone:
			w.WriteString(s.lit)
		case phEnv:
			w.WriteString(d.Env)
		case phFlag:
			w.WriteString(d.Flag)
		case phUser:
			w.WriteString(d.User)
		case phBool:
			w.WriteString(strconv.FormatBool(d.Bool))
		case phPct:
			w.WriteString(strconv.Itoa(d.Pct))
		}
	}
}

// NewClient returns an HTTP client for vus concurrent users: keep-alive
// with an idle pool of at least vus connections to the target, no
// compression (we measure the server, not gzip), and timeout per request.
func NewClient(vus int, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // loopback targets: never through an HTTP proxy from the environment
		DialContext:           d.DialContext,
		MaxIdleConns:          max(vus, 1) * 2,
		MaxIdleConnsPerHost:   max(vus, 1) * 2,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{Transport: t, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
