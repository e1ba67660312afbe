package toxics

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// countingController counts the calls that reach the controller and can
// make ResetAll fail.
type countingController struct {
	Controller
	calls      atomic.Int32
	failResets atomic.Int32 // ResetAll fails while positive, counting down
}

func (c *countingController) Apply(ctx context.Context, f Fault) (Applied, error) {
	c.calls.Add(1)
	return c.Controller.Apply(ctx, f)
}

func (c *countingController) Remove(ctx context.Context, a Applied) error {
	c.calls.Add(1)
	return c.Controller.Remove(ctx, a)
}

func (c *countingController) ResetAll(ctx context.Context) error {
	c.calls.Add(1)
	if c.failResets.Add(-1) >= 0 {
		return errors.New("injected ResetAll failure")
	}
	return c.Controller.ResetAll(ctx)
}

func (c *countingController) SetUpstream(ctx context.Context, proxy, upstream string) error {
	c.calls.Add(1)
	return c.Controller.SetUpstream(ctx, proxy, upstream)
}

func (c *countingController) Proxies(ctx context.Context) ([]ProxyInfo, error) {
	c.calls.Add(1)
	return c.Controller.Proxies(ctx)
}

// sessionRig is an embedded Toxiproxy with the three proxies of the stack,
// in front of addresses nobody dials.
func sessionRig(t *testing.T) (*Embedded, *countingController, *Session) {
	t.Helper()
	e := newEmbedded(t, EmbeddedConfig{})
	for _, name := range []string{"redis", "redis-replica", "postgres"} {
		addProxy(t, e, name, "127.0.0.1:1")
	}
	cc := &countingController{Controller: e}
	return e, cc, NewSession(cc, slog.New(slog.NewTextHandler(t.Output(), nil)))
}

// threeFaults applies a toxic fault, a two-way one and a refused one.
func threeFaults(t *testing.T, ctx context.Context, s *Session) {
	t.Helper()
	for _, f := range []Fault{
		{Proxy: "redis", Kind: Latency, Latency: 100 * time.Millisecond},
		{Proxy: "postgres", Kind: Blackhole},
		{Proxy: "redis-replica", Kind: Refused},
	} {
		if _, err := s.Apply(ctx, f); err != nil {
			t.Fatalf("Apply(%v): %v", f, err)
		}
	}
}

func TestSessionCleanupAfterCancel(t *testing.T) {
	t.Parallel()
	e, cc, s := sessionRig(t)
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	threeFaults(t, ctx, s)
	if n := len(s.Active()); n != 3 {
		t.Fatalf("Active() has %d faults, want 3", n)
	}
	cancel() // Ctrl-C

	if err := s.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup after cancel: %v", err)
	}
	assertClean(t, e)
	if n := len(s.Active()); n != 0 {
		t.Errorf("Active() after Cleanup has %d faults", n)
	}
	before := cc.calls.Load()
	if err := s.Cleanup(ctx); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if n := cc.calls.Load() - before; n != 0 {
		t.Errorf("second Cleanup made %d controller calls, want none", n)
	}
}

func TestSessionCleanupOnPanic(t *testing.T) {
	t.Parallel()
	e, _, s := sessionRig(t)
	ctx := t.Context()
	run := func() {
		defer func() { _ = s.Cleanup(ctx) }()
		if err := s.Begin(ctx); err != nil {
			t.Error(err)
			return
		}
		threeFaults(t, ctx, s)
		panic("boom")
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic", r)
			}
		}()
		run()
	}()
	assertClean(t, e)
}

// TestSessionCleanupRetries makes ResetAll fail during the first Cleanup:
// it reports the error and keeps what it could not be sure of, and the
// next Cleanup finishes the job.
func TestSessionCleanupRetries(t *testing.T) {
	t.Parallel()
	e, cc, s := sessionRig(t)
	ctx := t.Context()
	threeFaults(t, ctx, s)
	// Leave a toxic of someone else's too: only ResetAll removes it.
	if err := e.addToxic(ctx, "redis", wireToxic{Name: "foreign", Type: "latency", Stream: "upstream", Toxicity: 1}); err != nil {
		t.Fatal(err)
	}
	cc.failResets.Store(1)
	if err := s.Cleanup(ctx); err == nil {
		t.Fatal("Cleanup with a failing ResetAll succeeded")
	}
	if got := len(proxyNamed(t, e, "redis").Toxics); got != 1 {
		t.Errorf("after the failed Cleanup proxy redis has %d toxics, want only the foreign one", got)
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
	assertClean(t, e)
}

// TestSessionRestoresTopology moves a proxy and crashes a server through a
// session: Cleanup moves the proxy back and restarts the server.
func TestSessionRestoresTopology(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e, _, s := sessionRig(t)
	r := startRedis(t, RedisConfig{})
	for _, up := range []string{"127.0.0.1:2", "127.0.0.1:3"} {
		if err := s.SetUpstream(ctx, "postgres", up); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUpstream(ctx, "nope", "127.0.0.1:2"); !errors.Is(err, ErrProxyNotFound) {
		t.Errorf("SetUpstream of an unknown proxy: %v, want ErrProxyNotFound", err)
	}
	if err := s.Crash(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Running() {
		t.Fatal("Crash left the server running")
	}
	if err := s.Cleanup(context.WithoutCancel(ctx)); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := proxyNamed(t, e, "postgres").Upstream; got != "127.0.0.1:1" {
		t.Errorf("after Cleanup proxy postgres leads to %s, want back to 127.0.0.1:1", got)
	}
	if !r.Running() {
		t.Error("after Cleanup the crashed server is down")
	}
	if _, err := redisDo(ctx, r.Addr(), "PING"); err != nil {
		t.Errorf("PING the restarted server: %v", err)
	}

	// A cold restart through the session needs no undo.
	if err := s.ColdRestart(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Errorf("Cleanup after ColdRestart: %v", err)
	}
}
