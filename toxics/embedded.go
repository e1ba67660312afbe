package toxics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// EmbeddedConfig configures an [Embedded] Toxiproxy server.
type EmbeddedConfig struct {
	// APIAddr is where to serve Toxiproxy's HTTP API, so that the standard
	// toxiproxy-cli and client (or a [Remote]) can drive this server too.
	// "" (the default) serves no API; "127.0.0.1:0" picks a free loopback
	// port ([Embedded.APIURL] tells which). The API has no authentication:
	// keep it on a loopback address.
	APIAddr string
	// Timeout bounds each call; 0 means [DefaultTimeout].
	Timeout time.Duration
}

// Embedded is a Toxiproxy server running in this process. It is a
// [Controller]; proxies are added with AddProxy. Close stops everything.
//
// Toxiproxy's own operations take no context and can hang (removing a
// toxic under traffic waits for every connection's pipeline). Embedded runs
// each in a goroutine and stops waiting when the call's deadline passes;
// the operation goes on in the background and Close waits for it.
type Embedded struct {
	eng    *engine
	srv    *toxiproxy.ApiServer
	api    *http.Server // nil without APIAddr
	apiURL string
	serve  sync.WaitGroup // the API's Serve goroutine

	mu     sync.Mutex // guards closed and ops.Add
	closed bool
	ops    sync.WaitGroup // Toxiproxy operations in flight
}

var _ Controller = (*Embedded)(nil)

// NewEmbedded starts an in-process Toxiproxy server with no proxies and, if
// cfg.APIAddr is set, serves its HTTP API there.
func NewEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	// A metrics container without collectors registers nothing and serves
	// no /metrics; zerolog.Nop because Toxiproxy logs a line per
	// connection it closes.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	e := &Embedded{srv: srv}
	e.eng = newEngine(e, cfg.Timeout)
	if cfg.APIAddr == "" {
		return e, nil
	}
	if err := checkAddr(cfg.APIAddr, false); err != nil {
		return nil, fmt.Errorf("toxics: embedded Toxiproxy API: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("toxics: listen for the embedded Toxiproxy API: %w", err)
	}
	e.api = &http.Server{
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second, // Toxiproxy's handlers give up at 25 s
		IdleTimeout:       time.Minute,
	}
	e.apiURL = "http://" + ln.Addr().String()
	e.serve.Go(func() { _ = e.api.Serve(ln) }) // ErrServerClosed after Shutdown
	return e, nil
}

// APIURL returns the base URL of the HTTP API, like
// "http://127.0.0.1:41234", or "" when none is served.
func (e *Embedded) APIURL() string { return e.apiURL }

// AddProxy starts a proxy named name that listens on listen (host:port;
// port 0 picks a free one) and forwards to upstream (host:port). The
// returned ProxyInfo has the real listen address.
func (e *Embedded) AddProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	return e.eng.addProxy(ctx, name, listen, upstream)
}

// RemoveProxy removes the proxy's toxics, stops it (closing its
// connections) and forgets it.
func (e *Embedded) RemoveProxy(ctx context.Context, name string) error {
	return e.eng.removeProxy(ctx, name)
}

// Apply implements [Controller].
func (e *Embedded) Apply(ctx context.Context, f Fault) (Applied, error) { return e.eng.apply(ctx, f) }

// Remove implements [Controller].
func (e *Embedded) Remove(ctx context.Context, a Applied) error { return e.eng.remove(ctx, a) }

// ResetAll implements [Controller].
func (e *Embedded) ResetAll(ctx context.Context) error { return e.eng.resetAll(ctx) }

// SetUpstream implements [Controller].
func (e *Embedded) SetUpstream(ctx context.Context, proxy, upstream string) error {
	return e.eng.setUpstream(ctx, proxy, upstream)
}

// Proxies implements [Controller].
func (e *Embedded) Proxies(ctx context.Context) ([]ProxyInfo, error) { return e.eng.proxies(ctx) }

// Close shuts the HTTP API down, removes every toxic, stops every proxy
// (closing their connections) and waits for its goroutines, as long as ctx
// allows and at most three times the configured timeout. Later calls
// return [ErrClosed]; closing again does nothing.
func (e *Embedded) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	// Bounded even without a deadline from the caller: a hung Toxiproxy
	// operation must not hang the shutdown.
	ctx, cancel := context.WithTimeout(ctx, 3*e.eng.timeout)
	defer cancel()

	var errs []error
	if e.api != nil {
		if err := e.api.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down the Toxiproxy API: %w", err))
			_ = e.api.Close()
		}
		e.serve.Wait()
	}
	for _, p := range e.srv.Collection.Proxies() {
		err := e.run(ctx, true, func() error {
			p.Toxics.ResetToxics(ctx)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("remove the toxics of proxy %q: %w", p.Name, err))
		}
	}
	if err := e.run(ctx, true, e.srv.Collection.Clear); err != nil {
		errs = append(errs, fmt.Errorf("stop the proxies: %w", err))
	}

	done := make(chan struct{})
	go func() {
		e.ops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("toxics: Toxiproxy operations still running after close: %w", context.Cause(ctx)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("close embedded Toxiproxy: %w", errors.Join(errs...))
	}
	return nil
}

// do runs op, one Toxiproxy operation, unless the controller is closed.
func (e *Embedded) do(ctx context.Context, op func() error) error { return e.run(ctx, false, op) }

// run runs op in a goroutine and waits for it until ctx is done. Only
// Close runs operations on a closed controller (closing true).
func (e *Embedded) run(ctx context.Context, closing bool, op func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed && !closing {
		e.mu.Unlock()
		return ErrClosed
	}
	e.ops.Add(1) // under mu: never concurrent with Close's Wait
	e.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		defer e.ops.Done()
		done <- op()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
		}
		return fmt.Errorf("embedded Toxiproxy did not answer in time (the operation goes on in the background): %w", context.Cause(ctx))
	}
}

// proxy returns the named proxy.
func (e *Embedded) proxy(name string) (*toxiproxy.Proxy, error) {
	p, err := e.srv.Collection.Get(name)
	if err != nil {
		return nil, mapEmbeddedErr(err)
	}
	return p, nil
}

// mapEmbeddedErr translates Toxiproxy's sentinels into this package's.
func mapEmbeddedErr(err error) error {
	switch {
	case errors.Is(err, toxiproxy.ErrProxyNotFound):
		return ErrProxyNotFound
	case errors.Is(err, toxiproxy.ErrProxyAlreadyExists):
		return ErrProxyExists
	case errors.Is(err, toxiproxy.ErrToxicNotFound):
		return errToxicNotFound
	}
	return err
}

// describe returns what the proxy looks like through the HTTP API: the
// toxics go through the same JSON, so Embedded and Remote report alike.
func describe(p *toxiproxy.Proxy) (ProxyInfo, error) {
	p.Lock()
	info := ProxyInfo{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream, Enabled: p.Enabled}
	p.Unlock()
	for _, t := range p.Toxics.GetToxicArray() {
		b, err := json.Marshal(t)
		if err != nil {
			return ProxyInfo{}, fmt.Errorf("encode a toxic of proxy %q: %w", info.Name, err)
		}
		var ti ToxicInfo
		if err := json.Unmarshal(b, &ti); err != nil {
			return ProxyInfo{}, fmt.Errorf("decode a toxic of proxy %q: %w", info.Name, err)
		}
		info.Toxics = append(info.Toxics, ti)
	}
	return info, nil
}

// The backend operations.

func (e *Embedded) list(ctx context.Context) ([]ProxyInfo, error) {
	var out []ProxyInfo
	err := e.do(ctx, func() error {
		for _, p := range e.srv.Collection.Proxies() {
			info, err := describe(p)
			if err != nil {
				return err
			}
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Embedded) addToxic(ctx context.Context, proxy string, t wireToxic) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return e.do(ctx, func() error {
		p, err := e.proxy(proxy)
		if err != nil {
			return err
		}
		if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("%w: %w", errRejected, err)
		}
		return nil
	})
}

func (e *Embedded) removeToxic(ctx context.Context, proxy, name string) error {
	return e.do(ctx, func() error {
		p, err := e.proxy(proxy)
		if err != nil {
			return err
		}
		// Toxiproxy uses the context only for logging.
		return mapEmbeddedErr(p.Toxics.RemoveToxic(context.WithoutCancel(ctx), name))
	})
}

func (e *Embedded) setEnabled(ctx context.Context, proxy string, enabled bool) error {
	return e.do(ctx, func() error {
		p, err := e.proxy(proxy)
		if err != nil {
			return err
		}
		if !enabled {
			p.Stop()
			return nil
		}
		if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
			return err
		}
		return nil
	})
}

func (e *Embedded) setUpstream(ctx context.Context, proxy, upstream string) error {
	return e.do(ctx, func() error {
		p, err := e.proxy(proxy)
		if err != nil {
			return err
		}
		p.Lock()
		in := &toxiproxy.Proxy{Listen: p.Listen, Upstream: upstream, Enabled: p.Enabled}
		p.Unlock()
		return p.Update(in)
	})
}

func (e *Embedded) resetAll(ctx context.Context) error {
	return e.do(ctx, func() error {
		var errs []error
		for _, p := range e.srv.Collection.Proxies() {
			if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
				errs = append(errs, fmt.Errorf("enable proxy %q: %w", p.Name, err))
			}
			p.Toxics.ResetToxics(context.WithoutCancel(ctx))
		}
		return errors.Join(errs...)
	})
}

func (e *Embedded) addProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	var info ProxyInfo
	err := e.do(ctx, func() error {
		p := toxiproxy.NewProxy(e.srv, name, listen, upstream)
		if err := e.srv.Collection.Add(p, true); err != nil {
			return mapEmbeddedErr(err)
		}
		var err error
		info, err = describe(p)
		return err
	})
	return info, err
}

func (e *Embedded) removeProxy(ctx context.Context, name string) error {
	return e.do(ctx, func() error {
		p, err := e.proxy(name)
		if err != nil {
			return err
		}
		p.Toxics.ResetToxics(context.WithoutCancel(ctx))
		return mapEmbeddedErr(e.srv.Collection.Remove(name))
	})
}
