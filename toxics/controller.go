package toxics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	// Marker is, for Refused on a shared server ([Remote]), the name of
	// the zero-effect toxic that records whose the disabled proxy is (see
	// [Owner]); "" elsewhere.
	Marker string
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
	return a.Proxy == b.Proxy && a.Disabled == b.Disabled && a.Marker == b.Marker && slices.Equal(a.Toxics, b.Toxics)
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
	seq     atomic.Uint64
	// shared is true for a server others use too (Remote): a Refused
	// fault marks the proxy it disables with a marker toxic.
	shared bool

	mu sync.Mutex // guards owner
	// owner is written into every toxic's name (see Owner); a random run
	// id keeps the names apart from other controllers'.
	owner Owner
}

// whose returns the engine's owner.
func (e *engine) whose() Owner {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owner
}

// setExpiry sets when the faults added from now on expire.
func (e *engine) setExpiry(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owner.Expires = t.Truncate(time.Second)
}

// newEngine returns an engine whose faults never expire: right for a
// server that lives in this process; a controller for a shared server
// sets its owner.
func newEngine(b backend, timeout time.Duration) *engine {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &engine{b: b, timeout: timeout, owner: Owner{RunID: NewRunID(), Expires: neverExpires}}
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

	n := e.seq.Add(1)
	if f.Kind == Refused {
		i := slices.Index(names, f.Proxy)
		if !proxies[i].Enabled {
			return Applied{}, fmt.Errorf("apply refused fault to proxy %q: %w", f.Proxy, ErrProxyDisabled)
		}
		// On a shared server the marker goes on first: a run killed
		// between the two steps leaves an enabled proxy with a marker
		// (harmless, swept later), never a disabled proxy nobody can tell
		// is flagstorm's.
		var marker wireToxic
		if e.shared {
			marker = e.marker(n)
			if err := e.b.addToxic(ctx, f.Proxy, marker); err != nil {
				err = fmt.Errorf("apply refused fault: mark proxy %q: %w", f.Proxy, err)
				if errors.Is(err, errRejected) {
					return Applied{}, err
				}
				return Applied{}, e.undo(ctx, err, func(ctx context.Context) error {
					return e.removeToxics(ctx, f.Proxy, marker.Name)
				})
			}
		}
		if err := e.b.setEnabled(ctx, f.Proxy, false); err != nil {
			// A timed-out disable may still happen: put it back.
			err = fmt.Errorf("apply refused fault: disable proxy %q: %w", f.Proxy, err)
			return Applied{}, e.undo(ctx, err, func(ctx context.Context) error {
				if err := e.b.setEnabled(ctx, f.Proxy, true); err != nil || marker.Name == "" {
					return err
				}
				return e.removeToxics(ctx, f.Proxy, marker.Name)
			})
		}
		a.Disabled, a.Marker = true, marker.Name
		return a, nil
	}

	toxics := f.wireToxics()
	owner := e.whose()
	for i := range toxics {
		toxics[i].Name = owner.toxicName(fmt.Sprintf("%s_%s_%d", f.Kind, toxics[i].Stream, n))
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
				return e.removeToxics(ctx, f.Proxy, undo...)
			})
		}
		a.Toxics = append(a.Toxics, t.Name)
	}
	return a, nil
}

// marker returns the n-th marker toxic: it records that a proxy was
// disabled by the engine's owner, and does nothing to the traffic.
func (e *engine) marker(n uint64) wireToxic {
	return wireToxic{
		Name: e.whose().toxicName(fmt.Sprintf("%s_%d", markerWhat, n)), Type: "noop", Stream: "downstream",
		Toxicity: 0, Attributes: map[string]int64{},
	}
}

// removeToxics removes the named toxics from proxy; one already gone is
// not an error.
func (e *engine) removeToxics(ctx context.Context, proxy string, names ...string) error {
	var errs []error
	for _, name := range names {
		if err := e.b.removeToxic(ctx, proxy, name); err != nil && !errors.Is(err, errToxicNotFound) {
			errs = append(errs, fmt.Errorf("remove toxic %q from proxy %q: %w", name, proxy, err))
		}
	}
	return errors.Join(errs...)
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
		// Enabled first: while the marker is on, a later sweep can still
		// tell the disabled proxy is flagstorm's.
		if err := e.enable(ctx, a.Proxy); err != nil {
			return fmt.Errorf("remove refused fault: enable proxy %q: %w", a.Proxy, err)
		}
		if a.Marker == "" {
			return nil
		}
		if err := e.removeToxics(ctx, a.Proxy, a.Marker); err != nil {
			return fmt.Errorf("remove refused fault: %w", err)
		}
		return nil
	}
	return e.removeToxics(ctx, a.Proxy, a.Toxics...)
}

// sweep removes the toxics of the engine's own run and the expired ones
// of any flagstorm run, and enables every disabled proxy whose marker is
// the run's own or expired, unless an unexpired marker of another run is
// on it too. It touches nothing else (see Sweeper).
func (e *engine) sweep(ctx context.Context) (Swept, error) {
	ctx, cancel := e.bound(ctx)
	defer cancel()
	proxies, err := e.b.list(ctx)
	if err != nil {
		return Swept{}, fmt.Errorf("sweep: list proxies: %w", err)
	}
	sortProxies(proxies)
	now, runID := time.Now(), e.whose().RunID
	var sw Swept
	var errs []error
	for _, p := range proxies {
		var markers []string
		held := false // an unexpired marker of another run
		for _, t := range p.Toxics {
			o, marker, ok := ParseToxicName(t.Name)
			if !ok {
				continue
			}
			mine := o.RunID == runID || o.Expired(now)
			switch {
			case marker && mine:
				markers = append(markers, t.Name)
			case marker:
				held = true
			case mine:
				if err := e.removeToxics(ctx, p.Name, t.Name); err != nil {
					errs = append(errs, fmt.Errorf("sweep: %w", err))
					continue
				}
				sw.Toxics = append(sw.Toxics, p.Name+"/"+t.Name)
			}
		}
		if len(markers) == 0 {
			continue
		}
		if !p.Enabled && !held {
			if err := e.enable(ctx, p.Name); err != nil {
				// The markers stay: the next sweep tries again.
				errs = append(errs, fmt.Errorf("sweep: enable proxy %q: %w", p.Name, err))
				continue
			}
			sw.Enabled = append(sw.Enabled, p.Name)
		}
		for _, m := range markers {
			if err := e.removeToxics(ctx, p.Name, m); err != nil {
				errs = append(errs, fmt.Errorf("sweep: %w", err))
				continue
			}
			sw.Toxics = append(sw.Toxics, p.Name+"/"+m)
		}
	}
	return sw, errors.Join(errs...)
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
