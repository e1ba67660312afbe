// Package request turns a scenario's weighted request templates into HTTP
// requests and sends them: placeholders ({{env}}, {{flag}}, {{user}},
// {{bool}}, {{pct}}) are drawn per request from data pools, templates are
// parsed once, and the client is built for load: for http:// targets a
// lean HTTP/1.1 client of its own (keep-alive connections reused from an
// idle pool as large as the VU count, one write and buffered reads per
// request on the caller's goroutine, a deadline per request), for https://
// targets net/http.
package request

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/flagstorm/flagstorm/scenarios"
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

// NoncePrefix starts every {{nonce}} the mixes render.
const NoncePrefix = "fs-"

// Placeholders lists the placeholders a template may use: the scenario
// format's set (scenarios.Placeholder), the one definition.
var Placeholders = func() []string {
	var out []string
	for p := scenarios.PlaceholderEnv; p <= scenarios.PlaceholderNonce; p++ {
		out = append(out, p.String())
	}
	return out
}()

// segment is a literal or a placeholder of a parsed template string.
type segment struct {
	lit string
	ph  placeholder
}

// placeholder is the scenario format's; 0 is none (a literal).
type placeholder = scenarios.Placeholder

const (
	phNone  placeholder = 0
	phEnv               = scenarios.PlaceholderEnv
	phFlag              = scenarios.PlaceholderFlag
	phUser              = scenarios.PlaceholderUser
	phBool              = scenarios.PlaceholderBool
	phPct               = scenarios.PlaceholderPct
	phNonce             = scenarios.PlaceholderNonce
)

func parsePlaceholder(name string) (placeholder, bool) {
	p, err := scenarios.ParsePlaceholder(name)
	return p, err == nil
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
	path   []segment
	body   []segment
	expect [600]bool // by status code
	// head is the template's header lines, "Key: value\r\n" each, in a
	// stable order, for the HTTP/1.1 client; headers is the same for
	// net/http.
	head    []byte
	headers http.Header
	// bodyless: GET, HEAD, DELETE and OPTIONS without a body send no
	// Content-Length.
	bodyless bool
	// nonce: the path or body uses {{nonce}}.
	nonce bool
}

// Mix picks templates by weight and targets at random: with several
// targets (instances of the service behind no load balancer) requests
// spread evenly over them, so that a write to one and a read from another
// measure cross-instance staleness.
type Mix struct {
	targets   []*Target
	templates []*Compiled
	cum       []int // cumulative weights
	total     int
	pools     Pools
	// nonces numbers the requests that use {{nonce}}; nonceID, random per
	// mix, keeps two runs' nonces apart.
	nonces  atomic.Uint64
	nonceID []byte
}

// NewMix compiles templates against one or more target base URLs (http or
// https, any path prefix kept).
func NewMix(targets []string, ts []Template, pools Pools) (*Mix, error) {
	if len(targets) == 0 {
		return nil, errors.New("no target URL")
	}
	m := &Mix{pools: pools, nonceID: fmt.Appendf(nil, NoncePrefix+"%08x", rand.Uint32())}
	var errs []error
	for _, raw := range targets {
		t, err := ParseTarget(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.targets = append(m.targets, t)
	}
	if len(ts) == 0 {
		errs = append(errs, errors.New("no request templates"))
	}
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

// Targets are the mix's targets, in the order given.
func (m *Mix) Targets() []*Target { return m.targets }

func placeholderName(p placeholder) string { return p.String() }

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
	if !validToken(t.Method) {
		return nil, fmt.Errorf("method %q is not an HTTP method token", t.Method)
	}
	if !strings.HasPrefix(t.Path, "/") {
		return nil, fmt.Errorf("path %q must start with /", t.Path)
	}
	if strings.ContainsAny(t.Path, " \r\n\t") {
		return nil, fmt.Errorf("path %q: spaces and line breaks must be percent-encoded", t.Path)
	}
	c := &Compiled{Template: t, headers: http.Header{}}
	var err error
	if c.path, err = parseSegments(t.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if c.body, err = parseSegments(t.Body); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	for _, s := range append(append([]segment(nil), c.path...), c.body...) {
		c.nonce = c.nonce || s.ph == phNonce
	}
	for k, v := range t.Headers {
		if strings.ContainsAny(k+v, "\r\n") || k == "" || strings.ContainsAny(k, " :") {
			return nil, fmt.Errorf("header %q: not a valid header", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return nil, fmt.Errorf("header %q: set by the client, not by a template", k)
		}
		c.headers.Set(k, v)
	}
	if t.Body != "" && c.headers.Get("Content-Type") == "" {
		c.headers.Set("Content-Type", "application/json")
	}
	if c.headers.Get("User-Agent") == "" {
		c.headers.Set("User-Agent", UserAgent)
	}
	for _, k := range slices.Sorted(maps.Keys(c.headers)) {
		for _, v := range c.headers[k] {
			c.head = fmt.Appendf(c.head, "%s: %s\r\n", k, v)
		}
	}
	switch t.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		c.bodyless = t.Body == ""
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
	// Nonce numbers the request among those of its Mix that use {{nonce}};
	// the placeholder renders it as "fs-<the mix's run id>-<Nonce>".
	Nonce uint64
}

// Outgoing is one rendered request. A VU reuses one for every request it
// sends: rendering allocates nothing once its buffers have grown.
type Outgoing struct {
	Template *Compiled
	Target   *Target
	Drawn    Drawn
	// URI is the request target: the target's path prefix, then the
	// template's path and query, placeholders filled.
	URI  []byte
	Body []byte
}

// Render fills out with a request for template c, drawing placeholder
// values and, with several targets, the target, with rng.
func (m *Mix) Render(c *Compiled, rng *rand.Rand, out *Outgoing) {
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
	if c.nonce {
		d.Nonce = m.nonces.Add(1)
	}
	out.Template, out.Drawn = c, d
	out.Target = m.targets[0]
	if len(m.targets) > 1 {
		out.Target = m.targets[rng.IntN(len(m.targets))]
	}
	out.URI = m.render(append(out.URI[:0], out.Target.prefix...), c.path, d)
	out.Body = m.render(out.Body[:0], c.body, d)
}

// URL is the request's absolute URL.
func (o *Outgoing) URL() string { return o.Target.origin + string(o.URI) }

func (m *Mix) render(b []byte, segs []segment, d Drawn) []byte {
	for _, s := range segs {
		switch s.ph {
		case phNone:
			b = append(b, s.lit...)
		case phEnv:
			b = append(b, d.Env...)
		case phFlag:
			b = append(b, d.Flag...)
		case phUser:
			b = append(b, d.User...)
		case phBool:
			b = strconv.AppendBool(b, d.Bool)
		case phPct:
			b = strconv.AppendInt(b, int64(d.Pct), 10)
		case phNonce:
			b = append(append(b, m.nonceID...), '-')
			b = strconv.AppendUint(b, d.Nonce, 10)
		}
	}
	return b
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
