package toxics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Controller applies and removes faults on a Toxiproxy server. [Embedded]
// runs the server in-process; [Remote] drives an external toxiproxy-server
// over its HTTP API. Both are safe for concurrent use.
//
// Every call is bounded: it returns an error once ctx is done or its own
// timeout (default [DefaultTimeout]) passes, whichever comes first, even
// when Toxiproxy hangs, which it is known to do when a toxic is removed
// under traffic.
type Controller interface {
	// Apply validates f against the server's proxies and applies it, all
	// or nothing: a fault in both directions is two toxics, and if the
	// second cannot be added the first is removed before Apply returns
	// the error. An invalid fault changes nothing; the error joins
	// *FieldError values.
	Apply(ctx context.Context, f Fault) (Applied, error)
	// Remove undoes what Apply did: it removes the toxics or re-enables
	// the proxy. Toxics that are already gone (after ResetAll, say) are not
	// an error.
	Remove(ctx context.Context, a Applied) error
	// ResetAll removes every toxic from every proxy and enables every
	// proxy, whoever added them. Upstreams are left where they are.
	ResetAll(ctx context.Context) error
	// SetUpstream points the proxy at upstream (host:port). Toxiproxy
	// closes every connection open through the proxy, as a DNS flip looks
	// to a client that reconnects; the proxy's listen address stays.
	SetUpstream(ctx context.Context, proxy, upstream string) error
	// Proxies lists the server's proxies, sorted by name.
	Proxies(ctx context.Context) ([]ProxyInfo, error)
}

// DefaultTimeout bounds each Controller call when the configuration leaves
// the timeout zero.
const DefaultTimeout = 5 * time.Second

// Errors the controllers return; match them with errors.Is.
var (
	// ErrProxyNotFound: no proxy of that name on the server.
	ErrProxyNotFound = errors.New("toxics: proxy not found")
	// ErrProxyExists: AddProxy with a name already in use.
	ErrProxyExists = errors.New("toxics: proxy already exists")
	// ErrProxyDisabled: a Refused fault on a proxy that is already
	// disabled, which Remove could not undo faithfully.
	ErrProxyDisabled = errors.New("toxics: proxy already disabled")
	// ErrClosed: the controller was closed.
	ErrClosed = errors.New("toxics: controller closed")
)

// errToxicNotFound is a backend's answer when a toxic to remove is gone.
var errToxicNotFound = errors.New("toxics: toxic not found")

// errRejected marks a backend error that is Toxiproxy's definite refusal
// (a bad request, a name in use): the change did not happen. Any other
// error (a timeout, a broken connection, a 5xx) leaves the outcome unknown.
var errRejected = errors.New("rejected by Toxiproxy")

// Applied identifies what an Apply changed, for Remove.
type Applied struct {
	// Fault is the fault as applied.
	Fault Fault
	// Proxy is the proxy the fault is on.
	Proxy string
	// Toxics are the names of the toxics added, one per direction; empty
	// for Refused.
	Toxics []string
	// Disabled is true when the fault disabled the proxy (Refused).
	Disabled bool
}

// String describes what was applied, for logs.
func (a Applied) String() string {
	if a.Disabled {
		return fmt.Sprintf("%v (proxy %s disabled)", a.Fault, a.Proxy)
	}
	return fmt.Sprintf("%v (toxics %s)", a.Fault, strings.Join(a.Toxics, ", "))
}

// same reports whether a and b record the same application.
func (a Applied) same(b Applied) bool {
	return a.Proxy == b.Proxy && a.Disabled == b.Disabled && slices.Equal(a.Toxics, b.Toxics)
}

// ProxyInfo describes one proxy on a Toxiproxy server.
type ProxyInfo struct {
	Name     string
	Listen   string // the address clients dial, with the real port
	Upstream string // the address the proxy forwards to
	Enabled  bool
	Toxics   []ToxicInfo // in Toxiproxy's order: upstream chain, then downstream
}

// ToxicInfo describes one toxic as Toxiproxy reports it.
type ToxicInfo struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`   // Toxiproxy's toxic type, like "latency" or "timeout"
	Stream   string  `json:"stream"` // "upstream" or "downstream"
	Toxicity float64 `json:"toxicity"`
	// Attributes are Toxiproxy's raw attributes, in its units
	// (milliseconds; microseconds for the slicer's delay); numbers are
	// float64 as decoded from JSON.
	Attributes map[string]any `json:"attributes"`
}

// backend is the handful of primitive operations both ways of reaching
// Toxiproxy provide. The engine builds the Controller on top of them so
// that Embedded and Remote behave the same.
type backend interface {
	list(ctx context.Context) ([]ProxyInfo, error)
	addToxic(ctx context.Context, proxy string, t wireToxic) error
	// removeToxic returns an error wrapping errToxicNotFound when the toxic
	// is not there.
	removeToxic(ctx context.Context, proxy, name string) error
	setEnabled(ctx context.Context, proxy string, enabled bool) error
	setUpstream(ctx context.Context, proxy, upstream string) error
	resetAll(ctx context.Context) error
	addProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error)
	removeProxy(ctx context.Context, name string) error
}

// engine implements the Controller over a backend.
type engine struct {
	b       backend
	timeout time.Duration
	id      string // random; keeps toxic names apart from other controllers'
	seq     atomic.Uint64
}

func newEngine(b backend, timeout time.Duration) *engine {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var raw [3]byte
	_, _ = rand.Read(raw[:]) // never fails
	return &engine{b: b, timeout: timeout, id: hex.EncodeToString(raw[:])}
}

// bound limits one Controller call to the engine's timeout.
func (e *engine) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

func (e *engine) apply(ctx context.Context, f Fault) (Applied, error) {
	ctx, cancel := e.bound(ctx)
	defer cancel()
	proxies, err := e.b.list(ctx)
	if err != nil {
		return Applied{}, fmt.Errorf("apply %v: list proxies: %w", f.Kind, err)
	}
	sortProxies(proxies)
	names := make([]string, len(proxies))
	for i, p := range proxies {
		names[i] = p.Name
	}
	if err := f.Validate(names...); err != nil {
		return Applied{}, fmt.Errorf("apply %v fault to proxy %q: %w", f.Kind, f.Proxy, err)
	}
	f.Direction = f.ResolvedDirection()
	if f.Kind == Refused {
		f.Direction = DefaultDirection // not used by Refused
	}
	a := Applied{Fault: f, Proxy: f.Proxy}

	if f.Kind == Refused {
		i := slices.Index(names, f.Proxy)
		if !proxies[i].Enabled {
			return Applied{}, fmt.Errorf("apply refused fault to proxy %q: %w", f.Proxy, ErrProxyDisabled)
		}
		if err := e.b.setEnabled(ctx, f.Proxy, false); err != nil {
			// A timed-out disable may still happen: put it back.
			err = fmt.Errorf("apply refused fault: disable proxy %q: %w", f.Proxy, err)
			return Applied{}, e.undo(ctx, err, func(ctx context.Context) error {
				return e.b.setEnabled(ctx, f.Proxy, true)
			})
		}
		a.Disabled = true
		return a, nil
	}

	toxics := f.wireToxics()
	n := e.seq.Add(1)
	for i := range toxics {
		toxics[i].Name = fmt.Sprintf("flagstorm_%s_%s_%s_%d", f.Kind, toxics[i].Stream, e.id, n)
	}
	for _, t := range toxics {
		if err := e.b.addToxic(ctx, f.Proxy, t); err != nil {
			err = fmt.Errorf("apply toxic %q to proxy %q: %w", t.Name, f.Proxy, err)
			// Remove what was added and, unless Toxiproxy refused it, the
			// failed one too: an addition that timed out may have
			// happened after all. A refused one may be someone else's
			// toxic of the same name.
			undo := slices.Clone(a.Toxics)
			if !errors.Is(err, errRejected) {
				undo = append(undo, t.Name)
			}
			return Applied{}, e.undo(ctx, err, func(ctx context.Context) error {
				var errs []error
				for _, name := range undo {
					if err := e.b.removeToxic(ctx, f.Proxy, name); err != nil && !errors.Is(err, errToxicNotFound) {
						errs = append(errs, err)
					}
				}
				return errors.Join(errs...)
			})
		}
		a.Toxics = append(a.Toxics, t.Name)
	}
	return a, nil
}

// undo runs fn to take back a half-done change after err, under a context
// that survives ctx's cancellation and has a timeout of its own, and
// returns err with fn's failure, if any, attached.
func (e *engine) undo(ctx context.Context, err error, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.timeout)
	defer cancel()
	if uerr := fn(ctx); uerr != nil {
		return fmt.Errorf("%w (and undoing it failed, run ResetAll: %w)", err, uerr)
	}
	return err
}

func (e *engine) remove(ctx context.Context, a Applied) error {
	if a.Proxy == "" || (!a.Disabled && len(a.Toxics) == 0) {
		return errors.New("toxics: remove: the Applied value is empty (not returned by Apply)")
	}
	ctx, cancel := e.bound(ctx)
	defer cancel()
	if a.Disabled {
		if err := e.enable(ctx, a.Proxy); err != nil {
			return fmt.Errorf("remove refused fault: enable proxy %q: %w", a.Proxy, err)
		}
		return nil
	}
	var errs []error
	for _, name := range a.Toxics {
		if err := e.b.removeToxic(ctx, a.Proxy, name); err != nil && !errors.Is(err, errToxicNotFound) {
			errs = append(errs, fmt.Errorf("remove toxic %q from proxy %q: %w", name, a.Proxy, err))
		}
	}
	return errors.Join(errs...)
}

func (e *engine) resetAll(ctx context.Context) error {
	ctx, cancel := e.bound(ctx)
	defer cancel()
	if err := retryBind(ctx, e.b.resetAll); err != nil {
		return fmt.Errorf("reset all proxies: %w", err)
	}
	return nil
}

// enable enables the proxy, retrying while its port cannot be bound.
func (e *engine) enable(ctx context.Context, proxy string) error {
	return retryBind(ctx, func(ctx context.Context) error { return e.b.setEnabled(ctx, proxy, true) })
}

// retryBind runs op until it succeeds, fails for another reason than a
// port in use, or ctx ends.
//
// Toxiproxy enables a proxy, and moves one to another upstream, by
// closing its listener and connections and listening again on the same
// port. Until each client's kernel acknowledges the close (microseconds,
// usually) the port cannot be bound, and Toxiproxy gives up and leaves the
// proxy disabled. Trying again a few milliseconds later works.
func retryBind(ctx context.Context, op func(context.Context) error) error {
	for {
		err := op(ctx)
		if err == nil || !isAddrInUse(err) {
			return err
		}
		if werr := sleepCtx(ctx, pollInterval); werr != nil {
			return fmt.Errorf("%w (the proxy's port stayed in use: %w)", werr, err)
		}
	}
}

// isAddrInUse reports whether err says a port was in use; from Remote it
// is only the text of Toxiproxy's answer.
func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func (e *engine) setUpstream(ctx context.Context, proxy, upstream string) error {
	if err := checkAddr(upstream, true); err != nil {
		return fmt.Errorf("move proxy %q to %s: %w", proxy, upstream, err)
	}
	ctx, cancel := e.bound(ctx)
	defer cancel()
	err := e.b.setUpstream(ctx, proxy, upstream)
	if err != nil && isAddrInUse(err) {
		// Toxiproxy has set the new upstream but could not listen again
		// (see retryBind): the proxy is disabled until enabled.
		err = e.enable(ctx, proxy)
	}
	if err != nil {
		return fmt.Errorf("move proxy %q to %s: %w", proxy, upstream, err)
	}
	return nil
}

func (e *engine) proxies(ctx context.Context) ([]ProxyInfo, error) {
	ctx, cancel := e.bound(ctx)
	defer cancel()
	ps, err := e.b.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list proxies: %w", err)
	}
	sortProxies(ps)
	return ps, nil
}

func sortProxies(ps []ProxyInfo) {
	slices.SortFunc(ps, func(a, b ProxyInfo) int { return strings.Compare(a.Name, b.Name) })
}

func (e *engine) addProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error) {
	if name == "" {
		return ProxyInfo{}, errors.New("toxics: add proxy: missing name")
	}
	if err := checkAddr(listen, false); err != nil {
		return ProxyInfo{}, fmt.Errorf("add proxy %q: listen %w", name, err)
	}
	if err := checkAddr(upstream, true); err != nil {
		return ProxyInfo{}, fmt.Errorf("add proxy %q: upstream %w", name, err)
	}
	ctx, cancel := e.bound(ctx)
	defer cancel()
	p, err := e.b.addProxy(ctx, name, listen, upstream)
	if err != nil {
		return ProxyInfo{}, fmt.Errorf("add proxy %q on %s to %s: %w", name, listen, upstream, err)
	}
	return p, nil
}

func (e *engine) removeProxy(ctx context.Context, name string) error {
	ctx, cancel := e.bound(ctx)
	defer cancel()
	if err := e.b.removeProxy(ctx, name); err != nil {
		return fmt.Errorf("remove proxy %q: %w", name, err)
	}
	return nil
}
