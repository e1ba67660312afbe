package toxics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RemoteConfig configures a [Remote] controller.
type RemoteConfig struct {
	// URL is the toxiproxy-server's API, like "http://127.0.0.1:8474"; a
	// bare "host:port" means http. Required.
	URL string
	// Timeout bounds each call; 0 means [DefaultTimeout].
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of its own. Each
	// request carries the call's context, so the client needs no timeout.
	HTTPClient *http.Client
	// Owner is written into the name of every toxic the controller adds
	// (see [Owner]): the server is shared, and [Remote.Sweep] removes only
	// the faults of this run and the expired ones of any run. An empty
	// RunID means a fresh one ([NewRunID]); a zero Expires means
	// [DefaultLease] after NewRemote. Set Expires to the run's planned end
	// plus a margin.
	Owner Owner
}

// Remote is a [Controller] for an external toxiproxy-server (a docker
// compose service, say), driven over its HTTP API with plain net/http
// rather than Toxiproxy's client package, because that has no context: a
// call that times out must not leave a request behind. Any Toxiproxy 2.x
// server works (proxy updates use POST, which every 2.x version takes).
//
// The server may be shared: every toxic carries the controller's [Owner]
// in its name, and a [Session] over a Remote sweeps (removes its own run's
// faults and expired ones) instead of resetting the whole server.
type Remote struct {
	eng  *engine
	base string // scheme://host:port, no trailing slash
	hc   *http.Client
}

var _ Controller = (*Remote)(nil)

// NewRemote returns a controller for the server at cfg.URL. It does not
// contact the server; use [Remote.Version] to check that it answers.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	raw := cfg.URL
	if raw == "" {
		return nil, errors.New("toxics: remote Toxiproxy: missing URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("toxics: remote Toxiproxy URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("toxics: remote Toxiproxy URL %q: want http://host:port", cfg.URL)
	}
	owner := cfg.Owner
	if owner.RunID == "" {
		owner.RunID = NewRunID()
	}
	if owner.Expires.IsZero() {
		owner.Expires = time.Now().Add(DefaultLease)
	}
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	r := &Remote{base: strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), hc: hc}
	r.eng = newEngine(r, cfg.Timeout)
	r.eng.owner, r.eng.shared = owner, true
	r.eng.setExpiry(owner.Expires)
	return r, nil
}

var _ Sweeper = (*Remote)(nil)

// Owner implements [Sweeper]: who this controller's faults belong to.
func (r *Remote) Owner() Owner { return r.eng.whose() }

// SetExpiry sets when the faults this controller adds from now on expire
// (whole seconds): the run's planned end plus a margin, once the run knows
// it. Faults already on keep the expiry in their names.
func (r *Remote) SetExpiry(t time.Time) { r.eng.setExpiry(t) }

// Sweep implements [Sweeper]: it removes this run's toxics and the expired
// ones of any flagstorm run, and enables the proxies disabled by this run
// or by an expired one (their marker says so). Other people's toxics and
// disabled proxies, and the unexpired faults of other runs, stay. A
// [Session] over a Remote sweeps where it would otherwise call ResetAll,
// so a run killed by SIGKILL has its faults removed by the first run that
// begins or ends after they expire.
func (r *Remote) Sweep(ctx context.Context) (Swept, error) { return r.eng.sweep(ctx) }

// URL returns the server's API base URL.
func (r *Remote) URL() string { return r.base }

// Version returns the server's version, like "2.12.0"; it is the cheap way
// to check that the server answers.
func (r *Remote) Version(ctx context.Context) (string, error) {
	ctx, cancel := r.eng.bound(ctx)
	defer cancel()
	var v struct {
		Version string `json:"version"`
	}
	if err := r.call(ctx, http.MethodGet, "/version", nil, &v); err != nil {
		return "", fmt.Errorf("toxics: Toxiproxy version: %w", err)
	}
	return v.Version, nil
}

// AddProxy creates a proxy named name that listens on listen (host:port,
// on the server's machine; port 0 picks a free one) and forwards to
// upstream (host:port, as the server resolves it).
func (r *Remote) AddProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	return r.eng.addProxy(ctx, name, listen, upstream)
}

// RemoveProxy deletes the proxy, closing its connections.
func (r *Remote) RemoveProxy(ctx context.Context, name string) error {
	return r.eng.removeProxy(ctx, name)
}

// Proxy returns the proxy named name; the error wraps [ErrProxyNotFound]
// when the server has none.
func (r *Remote) Proxy(ctx context.Context, name string) (ProxyInfo, error) {
	ctx, cancel := r.eng.bound(ctx)
	defer cancel()
	p, err := r.proxy(ctx, name)
	if err != nil {
		return ProxyInfo{}, fmt.Errorf("show proxy %q: %w", name, err)
	}
	return p, nil
}

// EnsureProxy returns the proxy named name, creating it first, as
// [Remote.AddProxy] does, when the server has none: the way to use a
// target that is already running behind a toxiproxy-server set up by
// someone else (a docker compose service with its own proxy config, say).
//
// A proxy that exists is returned as it is, even when its listen address,
// upstream or enabled state differ from the arguments: whoever created it
// (the compose file) owns its topology, and changing it would close its
// clients' connections. Callers that need it elsewhere compare the
// returned Upstream and call [Remote.SetUpstream]. A proxy created by
// someone else between the lookup and the creation is returned too.
func (r *Remote) EnsureProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	if name == "" {
		return ProxyInfo{}, errors.New("toxics: ensure proxy: missing name")
	}
	if err := checkAddr(listen, false); err != nil {
		return ProxyInfo{}, fmt.Errorf("ensure proxy %q: listen %w", name, err)
	}
	if err := checkAddr(upstream, true); err != nil {
		return ProxyInfo{}, fmt.Errorf("ensure proxy %q: upstream %w", name, err)
	}
	ctx, cancel := r.eng.bound(ctx)
	defer cancel()
	p, err := r.proxy(ctx, name)
	if !errors.Is(err, ErrProxyNotFound) {
		if err != nil {
			return ProxyInfo{}, fmt.Errorf("ensure proxy %q: %w", name, err)
		}
		return p, nil
	}
	p, err = r.addProxy(ctx, name, listen, upstream)
	if errors.Is(err, ErrProxyExists) {
		p, err = r.proxy(ctx, name) // someone else was quicker
	}
	if err != nil {
		return ProxyInfo{}, fmt.Errorf("ensure proxy %q on %s to %s: %w", name, listen, upstream, err)
	}
	return p, nil
}

// Apply implements [Controller].
func (r *Remote) Apply(ctx context.Context, f Fault) (Applied, error) { return r.eng.apply(ctx, f) }

// Remove implements [Controller].
func (r *Remote) Remove(ctx context.Context, a Applied) error { return r.eng.remove(ctx, a) }

// ResetAll implements [Controller] with Toxiproxy's POST /reset: every
// toxic on the server goes, whoever added it, and every proxy is
// enabled. On a server others use too, [Remote.Sweep] is the polite form.
func (r *Remote) ResetAll(ctx context.Context) error { return r.eng.resetAll(ctx) }

// SetUpstream implements [Controller].
func (r *Remote) SetUpstream(ctx context.Context, proxy, upstream string) error {
	return r.eng.setUpstream(ctx, proxy, upstream)
}

// Proxies implements [Controller].
func (r *Remote) Proxies(ctx context.Context) ([]ProxyInfo, error) { return r.eng.proxies(ctx) }

// maxResponse bounds what is read of a response.
const maxResponse = 4 << 20

// call sends one request with a JSON body (unless nil) and decodes a JSON
// answer into out (unless nil).
func (r *Remote) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flagstorm-toxics") // Toxiproxy refuses browsers
	resp, err := r.hc.Do(req)
	if err != nil {
		return err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, r.base+path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(method, r.base+path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, r.base+path, err)
	}
	return nil
}

// apiError turns Toxiproxy's error answer ({"error": "...", "status": N})
// into an error, translating the sentinels callers match.
func apiError(method, u string, status int, body []byte) error {
	var e struct {
		Message string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	err := fmt.Errorf("%s %s: HTTP %d: %s", method, u, status, msg)
	if status >= 400 && status < 500 {
		err = fmt.Errorf("%w: %w", errRejected, err)
	}
	switch {
	case status == http.StatusNotFound && msg == "proxy not found":
		return fmt.Errorf("%w (%w)", ErrProxyNotFound, err)
	case status == http.StatusNotFound && msg == "toxic not found":
		return fmt.Errorf("%w (%w)", errToxicNotFound, err)
	case status == http.StatusConflict && msg == "proxy already exists":
		return fmt.Errorf("%w (%w)", ErrProxyExists, err)
	}
	return err
}

// remoteProxy is a proxy as the API shows it.
type remoteProxy struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Upstream string      `json:"upstream"`
	Enabled  bool        `json:"enabled"`
	Toxics   []ToxicInfo `json:"toxics"`
}

func (p remoteProxy) info() ProxyInfo {
	info := ProxyInfo{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream, Enabled: p.Enabled}
	if len(p.Toxics) > 0 {
		info.Toxics = p.Toxics
	}
	return info
}

func proxyPath(name string) string { return "/proxies/" + url.PathEscape(name) }

// The backend operations.

func (r *Remote) list(ctx context.Context) ([]ProxyInfo, error) {
	var m map[string]remoteProxy
	if err := r.call(ctx, http.MethodGet, "/proxies", nil, &m); err != nil {
		return nil, err
	}
	out := make([]ProxyInfo, 0, len(m))
	for _, p := range m {
		out = append(out, p.info())
	}
	return out, nil
}

func (r *Remote) proxy(ctx context.Context, name string) (ProxyInfo, error) {
	var p remoteProxy
	if err := r.call(ctx, http.MethodGet, proxyPath(name), nil, &p); err != nil {
		return ProxyInfo{}, err
	}
	return p.info(), nil
}

func (r *Remote) addToxic(ctx context.Context, proxy string, t wireToxic) error {
	return r.call(ctx, http.MethodPost, proxyPath(proxy)+"/toxics", t, nil)
}

func (r *Remote) removeToxic(ctx context.Context, proxy, name string) error {
	return r.call(ctx, http.MethodDelete, proxyPath(proxy)+"/toxics/"+url.PathEscape(name), nil, nil)
}

func (r *Remote) setEnabled(ctx context.Context, proxy string, enabled bool) error {
	return r.call(ctx, http.MethodPost, proxyPath(proxy), map[string]bool{"enabled": enabled}, nil)
}

func (r *Remote) setUpstream(ctx context.Context, proxy, upstream string) error {
	return r.call(ctx, http.MethodPost, proxyPath(proxy), map[string]string{"upstream": upstream}, nil)
}

func (r *Remote) resetAll(ctx context.Context) error {
	return r.call(ctx, http.MethodPost, "/reset", nil, nil)
}

func (r *Remote) addProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	body := map[string]any{"name": name, "listen": listen, "upstream": upstream, "enabled": true}
	var p remoteProxy
	if err := r.call(ctx, http.MethodPost, "/proxies", body, &p); err != nil {
		return ProxyInfo{}, err
	}
	return p.info(), nil
}

func (r *Remote) removeProxy(ctx context.Context, name string) error {
	return r.call(ctx, http.MethodDelete, proxyPath(name), nil, nil)
}
