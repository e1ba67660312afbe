package toxics

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// faultRig is a real redis-server behind a proxy named "redis" on an
// embedded Toxiproxy, and a go-redis client through the proxy.
type faultRig struct {
	ctrl   *Embedded
	proxy  ProxyInfo
	direct *redis.Client // straight to Redis, for setup and checks
	client *redis.Client // through the proxy
}

// newFaultRig starts the rig; opt's Addr is set to the proxy.
func newFaultRig(t *testing.T, opt redis.Options) *faultRig {
	t.Helper()
	srv := testenv.Redis(t)
	e := newEmbedded(t, EmbeddedConfig{})
	p := addProxy(t, e, "redis", srv.Addr())
	opt.Addr = p.Listen
	c := newClient(t, opt)
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING through the proxy before any fault: %v", err)
	}
	return &faultRig{ctrl: e, proxy: p, direct: srv.Client(t), client: c}
}

func (r *faultRig) apply(t *testing.T, f Fault) Applied {
	t.Helper()
	f.Proxy = "redis"
	a, err := r.ctrl.Apply(t.Context(), f)
	if err != nil {
		t.Fatalf("Apply(%v): %v", f, err)
	}
	return a
}

func (r *faultRig) remove(t *testing.T, a Applied) {
	t.Helper()
	if err := r.ctrl.Remove(t.Context(), a); err != nil {
		t.Fatalf("Remove(%v): %v", a, err)
	}
	assertClean(t, r.ctrl)
}

// recovers waits until commands through the proxy succeed again. The pool
// may hold connections the fault broke, so give it a few tries.
func (r *faultRig) recovers(t *testing.T) {
	t.Helper()
	testenv.Poll(t, 3*time.Second, "PING through the proxy after the fault", func() error {
		return r.client.Ping(t.Context()).Err()
	})
}

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// The fault tests run in parallel: they mostly wait on timers.

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: time.Second, MaxRetries: -1, PoolSize: 1})
	ctx := t.Context()
	a := r.apply(t, Fault{Kind: Latency, Latency: 100 * time.Millisecond})

	var rtts []time.Duration
	for range 10 {
		d, err := timed(func() error { return r.client.Ping(ctx).Err() })
		if err != nil {
			t.Fatalf("PING under 100 ms latency: %v", err)
		}
		rtts = append(rtts, d)
	}
	p50 := median(rtts)
	t.Logf("PING p50 under 100 ms latency: %v", p50)
	if p50 < 95*time.Millisecond || p50 > 130*time.Millisecond {
		t.Errorf("PING p50 under 100 ms latency = %v, want within [95 ms, 130 ms] (all: %v)", p50, rtts)
	}

	r.remove(t, a)
	rtts = rtts[:0]
	for range 10 {
		d, err := timed(func() error { return r.client.Ping(ctx).Err() })
		if err != nil {
			t.Fatalf("PING after removing the latency: %v", err)
		}
		rtts = append(rtts, d)
	}
	p50 = median(rtts)
	t.Logf("PING p50 after removing it: %v", p50)
	if p50 > 20*time.Millisecond {
		t.Errorf("PING p50 after removing the latency = %v, want under 20 ms (all: %v)", p50, rtts)
	}
}

func TestFaultLatencyBothDirections(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: time.Second, MaxRetries: -1, PoolSize: 1})
	a := r.apply(t, Fault{Kind: Latency, Latency: 50 * time.Millisecond, Direction: Both})
	if len(a.Toxics) != 2 {
		t.Fatalf("Applied.Toxics = %v, want two (one per direction)", a.Toxics)
	}
	var rtts []time.Duration
	for range 5 {
		d, err := timed(func() error { return r.client.Ping(t.Context()).Err() })
		if err != nil {
			t.Fatalf("PING: %v", err)
		}
		rtts = append(rtts, d)
	}
	// 50 ms each way: at least 100 ms per round trip (one direction alone
	// would give ~50 ms). Toxiproxy delays every chunk, so a reply that
	// arrives in two chunks on a loaded machine can take 200 ms: the upper
	// bound only rules out a stuck connection.
	if p50 := median(rtts); p50 < 95*time.Millisecond || p50 > 300*time.Millisecond {
		t.Errorf("PING p50 under 50 ms latency both ways = %v, want within [95 ms, 300 ms] (all: %v)", p50, rtts)
	}
	r.remove(t, a)
	r.recovers(t)
}

func TestFaultBlackhole(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	a := r.apply(t, Fault{Kind: Blackhole})

	d, err := timed(func() error { return r.client.Ping(t.Context()).Err() })
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING into a blackhole: err = %v, want a timeout", err)
	}
	if d < 190*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("PING into a blackhole took %v, want about the 200 ms read timeout", d)
	}
	r.remove(t, a)
	r.recovers(t)
}

func TestFaultRefused(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{MaxRetries: -1, DialerRetries: 1})
	a := r.apply(t, Fault{Kind: Refused})
	if !a.Disabled || len(a.Toxics) != 0 {
		t.Fatalf("Applied = %+v, want Disabled and no toxics", a)
	}
	if proxyNamed(t, r.ctrl, "redis").Enabled {
		t.Error("proxy still enabled under a refused fault")
	}
	c, err := net.DialTimeout("tcp", r.proxy.Listen, time.Second)
	if err == nil {
		_ = c.Close()
		t.Fatal("dial to a refused proxy succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to a refused proxy: %v, want connection refused", err)
	}
	if err := r.client.Ping(t.Context()).Err(); err == nil {
		t.Error("PING through a refused proxy succeeded")
	}
	if _, err := r.ctrl.Apply(t.Context(), Fault{Proxy: "redis", Kind: Refused}); !errors.Is(err, ErrProxyDisabled) {
		t.Errorf("second refused fault: err = %v, want ErrProxyDisabled", err)
	}
	r.remove(t, a)
	r.recovers(t)
	if got := proxyNamed(t, r.ctrl, "redis").Listen; got != r.proxy.Listen {
		t.Errorf("the proxy came back on %s, want its old address %s", got, r.proxy.Listen)
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
	a := r.apply(t, Fault{Kind: Reset})
	// On connections opened before the toxic, Toxiproxy closes (EOF);
	// on new ones it resets (RST). Both fail the command.
	for i := range 3 {
		if err := r.client.Ping(t.Context()).Err(); err == nil {
			t.Fatalf("PING %d under reset_peer succeeded", i)
		}
	}
	r.remove(t, a)
	r.recovers(t)
}

func TestFaultBandwidth(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: 10 * time.Second, MaxRetries: -1, PoolSize: 1})
	ctx := t.Context()
	value := strings.Repeat("x", 100_000)
	if err := r.direct.Set(ctx, "big", value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := r.apply(t, Fault{Kind: Bandwidth, RateKBps: 100})
	// 100 KB at 100 KB/s: about a second.
	d, err := timed(func() error { return r.client.Get(ctx, "big").Err() })
	if err != nil {
		t.Fatalf("GET of 100 KB under 100 KB/s: %v", err)
	}
	if d < 800*time.Millisecond || d > 5*time.Second {
		t.Errorf("GET of 100 KB under 100 KB/s took %v, want about 1 s", d)
	}
	r.remove(t, a)
	d, err = timed(func() error { return r.client.Get(ctx, "big").Err() })
	if err != nil || d > 200*time.Millisecond {
		t.Errorf("GET of 100 KB after removing the limit: %v in %v, want success under 200 ms", err, d)
	}
}

func TestFaultLimitData(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
	ctx := t.Context()
	if err := r.direct.Set(ctx, "k", strings.Repeat("y", 5000), 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := r.apply(t, Fault{Kind: LimitData, Bytes: 1000})
	// The reply is 5 KB; the connection is closed after 1000 bytes of it.
	err := r.client.Get(ctx, "k").Err()
	if err == nil {
		t.Fatal("GET of 5 KB through a 1000-byte limit succeeded")
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Errorf("GET of 5 KB through a 1000-byte limit: %v, want the connection closed", err)
	}
	r.remove(t, a)
	r.recovers(t)
	if err := r.client.Get(ctx, "k").Err(); err != nil {
		t.Errorf("GET after removing the limit: %v", err)
	}
}

func TestFaultSlicerAndSlowClose(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{ReadTimeout: 2 * time.Second, MaxRetries: -1})
	ctx := t.Context()
	value := strings.Repeat("z", 10_000)
	if err := r.direct.Set(ctx, "k", value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fault{
		{Kind: Slicer, AverageSize: 100, SizeVariation: 50, SliceDelay: 100 * time.Microsecond, Direction: Both},
		{Kind: SlowClose, CloseDelay: 100 * time.Millisecond},
	} {
		a := r.apply(t, f)
		for range 3 {
			got, err := r.client.Get(ctx, "k").Result()
			if err != nil || got != value {
				t.Fatalf("GET under %v: %d bytes, %v; want the 10 KB value", f, len(got), err)
			}
		}
		r.remove(t, a)
	}
	r.recovers(t)
}

// TestFaultToxicityPerConnection shows what toxicity means: Toxiproxy
// decides per connection, so a half-toxic fault hits whole connections:
// some answer every PING late, the others none.
func TestFaultToxicityPerConnection(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, redis.Options{})
	a := r.apply(t, Fault{Kind: Latency, Latency: 50 * time.Millisecond, Toxicity: 0.5})
	const conns, pings = 20, 3
	slow, fast, mixed := 0, 0, 0
	for range conns {
		c, err := net.DialTimeout("tcp", r.proxy.Listen, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ds []time.Duration
		for range pings {
			d, err := timed(func() error { return rawPing(c, 2*time.Second) })
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		_ = c.Close()
		// A toxic connection can never answer sooner than the latency; a
		// clean one can answer late when the machine stalls.
		switch {
		case slices.Min(ds) >= 45*time.Millisecond:
			slow++
		case slices.Max(ds) < 45*time.Millisecond:
			fast++
		default:
			mixed++
		}
	}
	t.Logf("toxicity 0.5 over %d connections: %d slow, %d fast, %d mixed", conns, slow, fast, mixed)
	if slow == 0 || fast == 0 {
		t.Errorf("toxicity 0.5: %d slow and %d fast connections, want some of each", slow, fast)
	}
	// Decided per request, most connections would be mixed.
	if mixed > 2 {
		t.Errorf("%d of %d connections were slow for some PINGs only, want whole connections affected", mixed, conns)
	}
	r.remove(t, a)
}

// rawPing sends PING on c and reads the reply, within timeout.
func rawPing(c net.Conn, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7) // "+PONG\r\n"
	_, err := io.ReadFull(c, buf)
	return err
}
