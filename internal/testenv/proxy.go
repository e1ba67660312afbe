package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// toxiproxyOpTimeout bounds one change to a proxy or its toxics.
const toxiproxyOpTimeout = 10 * time.Second

// ToxiproxyServer is an in-process Toxiproxy server whose HTTP API is served
// on a free loopback port, for code that drives Toxiproxy through its
// client. Tests that only need a proxy use [NewProxy].
type ToxiproxyServer struct {
	api  *toxiproxy.ApiServer
	addr string
}

// Toxiproxy starts an in-process Toxiproxy server and serves its HTTP API on
// a free port on 127.0.0.1. In t.Cleanup the API is shut down and every
// proxy on the server, including those created through the API, is stopped.
func Toxiproxy(t testing.TB) *ToxiproxyServer {
	t.Helper()
	api := newToxiproxyAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen for the Toxiproxy API: %v", err)
	}
	hs := &http.Server{
		Handler:           api.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.Serve(ln) }) // returns ErrServerClosed on Shutdown
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), toxiproxyOpTimeout)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("testenv: shut down the Toxiproxy API: %v", err)
		}
		wg.Wait()
	})
	return &ToxiproxyServer{api: api, addr: ln.Addr().String()}
}

// Addr returns the HTTP API's address, like "127.0.0.1:41234".
func (s *ToxiproxyServer) Addr() string { return s.addr }

// URL returns the HTTP API's base URL, like "http://127.0.0.1:41234", as
// the Toxiproxy client's NewClient takes it.
func (s *ToxiproxyServer) URL() string { return "http://" + s.addr }

// NewProxy adds a proxy to the server, as [NewProxy] does.
func (s *ToxiproxyServer) NewProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	return newProxy(t, s.api, name, upstream)
}

// newToxiproxyAPI returns a quiet Toxiproxy server whose proxies are all
// stopped in t.Cleanup.
func newToxiproxyAPI(t testing.TB) *toxiproxy.ApiServer {
	// A nil registry: the container makes its own and, with no collectors
	// set, registers nothing.
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	t.Cleanup(func() { _ = api.Collection.Clear() })
	return api
}

// Proxy is an in-process Toxiproxy proxy listening on a free loopback port
// in front of upstream. Its toxics are removed and it is stopped in
// t.Cleanup. Durations are converted to Toxiproxy's units here.
type Proxy struct {
	proxy *toxiproxy.Proxy
	api   *toxiproxy.ApiServer
	addr  string
	seq   atomic.Int64 // numbers the toxics added by the convenience methods
}

// NewProxy starts a proxy named name on a free port on 127.0.0.1 that
// forwards to upstream (host:port), on a Toxiproxy server of its own.
func NewProxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	return newProxy(t, newToxiproxyAPI(t), name, upstream)
}

func newProxy(t testing.TB, api *toxiproxy.ApiServer, name, upstream string) *Proxy {
	t.Helper()
	tp := toxiproxy.NewProxy(api, name, "127.0.0.1:0", upstream)
	if err := api.Collection.Add(tp, true); err != nil {
		t.Fatalf("testenv: start proxy %q to %s: %v", name, upstream, err)
	}
	tp.Lock()
	addr := tp.Listen // the port the listener got
	tp.Unlock()
	p := &Proxy{proxy: tp, api: api, addr: addr}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), toxiproxyOpTimeout)
		defer cancel()
		tp.Toxics.ResetToxics(ctx)
		if err := api.Collection.Remove(name); err != nil && !errors.Is(err, toxiproxy.ErrProxyNotFound) {
			t.Errorf("testenv: remove proxy %q: %v", name, err)
		}
	})
	return p
}

// Addr returns the address clients dial, like "127.0.0.1:41234". It stays
// the same across Disable, Enable and SetUpstream.
func (p *Proxy) Addr() string { return p.addr }

// Name returns the proxy's name.
func (p *Proxy) Name() string { return p.proxy.Name }

// Upstream returns the address the proxy forwards to.
func (p *Proxy) Upstream() string {
	p.proxy.Lock()
	defer p.proxy.Unlock()
	return p.proxy.Upstream
}

// AddToxic adds a toxic of type typ ("latency", "timeout", "reset_peer",
// "bandwidth", "slow_close", "slicer", "limit_data", ...) named name to
// stream ("upstream": client to server, "downstream": server to client; ""
// means downstream). toxicity is the probability in [0, 1] that a
// connection is affected; 1 means every one. attrs are the toxic's
// attributes; a time.Duration value is converted to the attribute's unit
// (microseconds for slicer's delay, milliseconds otherwise).
func (p *Proxy) AddToxic(t testing.TB, name, typ, stream string, toxicity float32, attrs map[string]any) {
	t.Helper()
	if err := p.addToxic(name, typ, stream, toxicity, attrs); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func (p *Proxy) addToxic(name, typ, stream string, toxicity float32, attrs map[string]any) error {
	if toxicity < 0 || toxicity > 1 {
		return fmt.Errorf("apply toxic %q to proxy %q: toxicity %v is outside [0, 1]", name, p.proxy.Name, toxicity)
	}
	wireAttrs, err := toxicAttributes(typ, attrs)
	if err != nil {
		return fmt.Errorf("apply toxic %q to proxy %q: %w", name, p.proxy.Name, err)
	}
	body := map[string]any{"name": name, "type": typ, "toxicity": toxicity}
	if stream != "" {
		body["stream"] = stream
	}
	if wireAttrs != nil {
		body["attributes"] = wireAttrs
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("apply toxic %q to proxy %q: %w", name, p.proxy.Name, err)
	}
	if _, err := p.proxy.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("apply toxic %q to proxy %q: %w", name, p.proxy.Name, err)
	}
	return nil
}

// toxicAttributes converts time.Duration values to Toxiproxy's integers.
func toxicAttributes(typ string, attrs map[string]any) (map[string]any, error) {
	if attrs == nil {
		return nil, nil
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		d, ok := v.(time.Duration)
		if !ok {
			out[k] = v
			continue
		}
		if d < 0 {
			return nil, fmt.Errorf("attribute %s: negative duration %v", k, d)
		}
		unit := time.Millisecond
		if typ == "slicer" && k == "delay" {
			unit = time.Microsecond
		}
		out[k] = ceilDiv(d, unit)
	}
	return out, nil
}

// ceilDiv returns d in units, rounded up so that a short non-zero duration
// never becomes "none".
func ceilDiv(d, unit time.Duration) int64 {
	return int64((d + unit - 1) / unit)
}

// RemoveToxic removes the toxic named name; existing connections stay open
// unless the toxic closes them on removal (the timeout toxic does).
func (p *Proxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	if err := p.removeToxic(name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func (p *Proxy) removeToxic(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), toxiproxyOpTimeout)
	defer cancel()
	if err := p.proxy.Toxics.RemoveToxic(ctx, name); err != nil {
		return fmt.Errorf("remove toxic %q from proxy %q: %w", name, p.proxy.Name, err)
	}
	return nil
}

// Latency delays data from upstream to the client by d ± jitter, rounded
// up to milliseconds. The returned func removes it; calling it again, or
// after cleanup, does nothing.
func (p *Proxy) Latency(t testing.TB, d, jitter time.Duration) (remove func()) {
	t.Helper()
	return p.addToxics(t, "latency", map[string]any{"latency": d, "jitter": jitter}, "downstream")
}

// Blackhole makes the proxy swallow data in both directions without closing
// connections (a timeout toxic with timeout 0): calls hang until the
// client's own timeout. Removing it closes the connections it held.
func (p *Proxy) Blackhole(t testing.TB) (remove func()) {
	t.Helper()
	return p.addToxics(t, "timeout", map[string]any{"timeout": 0}, "upstream", "downstream")
}

// ResetPeer makes the proxy reset each connection as soon as data flows on
// it in either direction (a reset_peer toxic with timeout 0). Connections
// opened before the call are closed rather than reset (a Toxiproxy detail).
func (p *Proxy) ResetPeer(t testing.TB) (remove func()) {
	t.Helper()
	return p.addToxics(t, "reset_peer", map[string]any{"timeout": 0}, "upstream", "downstream")
}

// addToxics adds one toxic of typ per stream, each under a fresh name, and
// returns a func that removes them all once.
func (p *Proxy) addToxics(t testing.TB, typ string, attrs map[string]any, streams ...string) (remove func()) {
	t.Helper()
	n := p.seq.Add(1)
	var names []string
	for _, stream := range streams {
		name := fmt.Sprintf("testenv_%s_%s_%d", typ, stream, n)
		if err := p.addToxic(name, typ, stream, 1, attrs); err != nil {
			for _, added := range names {
				_ = p.removeToxic(added)
			}
			t.Fatalf("testenv: %v", err)
		}
		names = append(names, name)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, name := range names {
				// t.Errorf, not Fatalf: remove may run outside the test's
				// goroutine, e.g. from a timer.
				if err := p.removeToxic(name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
					t.Errorf("testenv: %v", err)
				}
			}
		})
	}
}

// Disable stops the proxy: open connections are closed and new ones are
// refused, as when a server is down.
func (p *Proxy) Disable(t testing.TB) {
	t.Helper()
	if err := p.update(func(in *toxiproxy.Proxy) { in.Enabled = false }); err != nil {
		t.Fatalf("testenv: disable proxy %q: %v", p.proxy.Name, err)
	}
}

// Enable starts a disabled proxy again on the same address.
func (p *Proxy) Enable(t testing.TB) {
	t.Helper()
	if err := p.update(func(in *toxiproxy.Proxy) { in.Enabled = true }); err != nil {
		t.Fatalf("testenv: enable proxy %q on %s: %v", p.proxy.Name, p.addr, err)
	}
}

// SetUpstream points the proxy at another upstream (host:port), closing
// every open connection, as a DNS-flip failover looks to a client. The
// proxy's own address does not change.
func (p *Proxy) SetUpstream(t testing.TB, upstream string) {
	t.Helper()
	if err := p.update(func(in *toxiproxy.Proxy) { in.Upstream = upstream }); err != nil {
		t.Fatalf("testenv: move proxy %q to %s: %v", p.proxy.Name, upstream, err)
	}
}

// update applies change to a copy of the proxy's settings and applies it.
func (p *Proxy) update(change func(*toxiproxy.Proxy)) error {
	p.proxy.Lock()
	in := &toxiproxy.Proxy{
		Name:     p.proxy.Name,
		Listen:   p.proxy.Listen,
		Upstream: p.proxy.Upstream,
		Enabled:  p.proxy.Enabled,
	}
	p.proxy.Unlock()
	change(in)
	return p.proxy.Update(in)
}
