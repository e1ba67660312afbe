package rediscache

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/target/internal/flags"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGetSetDelete(t *testing.T) {
	r := testenv.Redis(t)
	c := newCache(t, Config{URL: r.URL()})
	ctx := t.Context()
	if _, err := c.Get(ctx, "k"); !errors.Is(err, flags.ErrCacheMiss) {
		t.Fatalf("Get of an absent key: %v, want ErrCacheMiss", err)
	}
	if err := c.Set(ctx, "k", []byte("v"), 300*time.Second); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Get(ctx, "k"); err != nil || string(b) != "v" {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if ttl := r.Client(t).TTL(ctx, "k").Val(); ttl <= 299*time.Second || ttl > 300*time.Second {
		t.Errorf("TTL %v, want 300s", ttl)
	}
	if err := c.Delete(ctx, "k", "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, flags.ErrCacheMiss) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	r := testenv.Redis(t)
	p := testenv.NewProxy(t, "redis", r.Addr())
	reg := prometheus.NewRegistry()
	c := newCache(t, Config{
		URL: "redis://" + p.Addr() + "/0", DialTimeout: time.Second, DialerRetries: 1,
		MaxRetries: 3, RetryBackoff: func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond },
		Registerer: reg,
	})
	p.Disable(t)
	begin := time.Now()
	_, err := c.Get(t.Context(), "k")
	took := time.Since(begin)
	if err == nil || errors.Is(err, flags.ErrCacheMiss) {
		t.Fatalf("Get with Redis refusing: %v, want a failure", err)
	}
	if took < 600*time.Millisecond {
		t.Errorf("three retries waiting 100, 200 and 300 ms took %v", took)
	}
	if got := testutil.ToFloat64(c.m.retries[opGet]); got != 3 {
		t.Errorf("retries counted: %v, want 3", got)
	}
	if got := testutil.ToFloat64(c.m.ops[opGet][resError]); got != 1 {
		t.Errorf("errors counted: %v, want 1", got)
	}
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	r := testenv.Redis(t)
	p := testenv.NewProxy(t, "redis", r.Addr())
	c := newCache(t, Config{
		URL: "redis://" + p.Addr() + "/0", DialTimeout: 25 * time.Millisecond,
		ReadTimeout: 15 * time.Millisecond, WriteTimeout: 15 * time.Millisecond, DialerRetries: 1,
		Breaker: &BreakerConfig{ConsecutiveFailures: 5, OpenTimeout: 200 * time.Millisecond},
	})
	ctx := t.Context()
	if err := c.Connect(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	remove := p.Blackhole(t)
	for i := 0; i < 5; i++ {
		if _, err := c.Get(ctx, "k"); err == nil || errors.Is(err, flags.ErrCircuitOpen) {
			t.Fatalf("call %d under a blackhole: %v, want a timeout", i, err)
		}
	}
	begin := time.Now()
	_, err := c.Get(ctx, "k")
	if !errors.Is(err, flags.ErrCircuitOpen) {
		t.Fatalf("after 5 failures: %v, want ErrCircuitOpen", err)
	}
	if took := time.Since(begin); took > 20*time.Millisecond {
		t.Errorf("a call refused by the open breaker took %v; it should not touch the network", took)
	}
	if s := c.State(); s != "circuit-open" {
		t.Errorf("State = %q, want circuit-open", s)
	}
	remove()
	testenv.Poll(t, 5*time.Second, "breaker closes after Redis recovers", func() error {
		if _, err := c.Get(ctx, "k"); !errors.Is(err, flags.ErrCacheMiss) {
			return fmt.Errorf("Get: %v, want ErrCacheMiss", err)
		}
		return nil
	})
}

func TestConnectGivesUpAndHealthCheckReconnects(t *testing.T) {
	r := testenv.Redis(t)
	p := testenv.NewProxy(t, "redis", r.Addr())
	p.Disable(t)
	c := newCache(t, Config{URL: "redis://" + p.Addr() + "/0", DialTimeout: 100 * time.Millisecond, DialerRetries: 1, HealthInterval: 50 * time.Millisecond})
	begin := time.Now()
	if err := c.Connect(t.Context(), 500*time.Millisecond); err == nil {
		t.Fatal("Connect succeeded with Redis refusing")
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Connect took %v; it must give up after its wait (500 ms)", took)
	}
	if s := c.State(); s != "down" {
		t.Errorf("State = %q, want down", s)
	}
	p.Enable(t)
	testenv.Poll(t, 5*time.Second, "health check sees Redis up", func() error {
		if s := c.State(); s != "up" {
			return fmt.Errorf("State = %q", s)
		}
		return nil
	})
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no URL":           {},
		"bad URL":          {URL: "http://x"},
		"negative retries": {URL: "redis://127.0.0.1:1/0", MaxRetries: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	// A malformed URL's error names the problem, never the password.
	_, err := New(Config{URL: "redis://:hunter22@127.0.0.1:port/0"})
	if err == nil || strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("malformed URL: %v; want an error naming REDIS_URL without its password", err)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := testenv.Redis(t)
	c := newCache(t, Config{URL: r.URL(), Registerer: reg, Breaker: &BreakerConfig{}})
	c.Get(t.Context(), "k")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestGuardedFillLosesToAnInvalidation(t *testing.T) {
	r := testenv.Redis(t)
	c := newCache(t, Config{URL: r.URL()})
	ctx := t.Context()
	const guard = "feature_flags_generation:production"
	gen, err := c.Generation(ctx, guard)
	if err != nil || gen != "" {
		t.Fatalf("first generation %q, %v; want empty", gen, err)
	}
	// A reader noted the generation, then an update invalidated: its fill
	// of the old value must be refused.
	if err := c.Invalidate(ctx, guard, "feature_flags:production:a", "feature_flags:production"); err != nil {
		t.Fatal(err)
	}
	skipped, err := c.SetIfGeneration(ctx, "feature_flags:production:a", []byte("old"), time.Minute, guard, gen)
	if err != nil || !skipped {
		t.Fatalf("fill after an invalidation: skipped %v, %v; want skipped", skipped, err)
	}
	if _, err := c.Get(ctx, "feature_flags:production:a"); !errors.Is(err, flags.ErrCacheMiss) {
		t.Fatalf("the stale fill was written: %v", err)
	}
	// A reader that noted the current generation fills.
	gen, _ = c.Generation(ctx, guard)
	if gen != "1" {
		t.Fatalf("generation after one invalidation %q, want 1", gen)
	}
	skipped, err = c.SetIfGeneration(ctx, "feature_flags:production:a", []byte("new"), time.Minute, guard, gen)
	if err != nil || skipped {
		t.Fatalf("fill at the current generation: skipped %v, %v", skipped, err)
	}
	if b, err := c.Get(ctx, "feature_flags:production:a"); err != nil || string(b) != "new" {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if ttl := r.Client(t).PTTL(ctx, "feature_flags:production:a").Val(); ttl <= 59*time.Second {
		t.Errorf("guarded fill TTL %v, want 1m", ttl)
	}
}

// A fill from an older database snapshot never replaces a newer version
// another reader wrote (issue 12: version-aware compare-and-set); an
// equal or newer version does, and a "not found" never replaces a flag.
func TestGuardedFillNeverOverwritesANewerVersion(t *testing.T) {
	r := testenv.Redis(t)
	c := newCache(t, Config{URL: r.URL()})
	ctx := t.Context()
	const guard, key = "feature_flags_generation:production", "feature_flags:production:a"
	fill := func(v string) bool {
		t.Helper()
		skipped, err := c.SetIfGeneration(ctx, key, []byte(v), time.Minute, guard, "")
		if err != nil {
			t.Fatal(err)
		}
		return skipped
	}
	for _, tt := range []struct {
		value      string
		skipped    bool
		holdsAfter string
	}{
		{`{"key":"a","version":5}`, false, `{"key":"a","version":5}`},
		{`{"key":"a","version":4}`, true, `{"key":"a","version":5}`},
		{`{"notFound":true}`, true, `{"key":"a","version":5}`},
		{`{"key":"a","version":5,"enabled":true}`, false, `{"key":"a","version":5,"enabled":true}`},
		{`{"key":"a","version":6}`, false, `{"key":"a","version":6}`},
	} {
		if got := fill(tt.value); got != tt.skipped {
			t.Errorf("fill %s: skipped %v, want %v", tt.value, got, tt.skipped)
		}
		if b, err := c.Get(ctx, key); err != nil || string(b) != tt.holdsAfter {
			t.Errorf("after fill %s: Redis holds %q, %v; want %s", tt.value, b, err, tt.holdsAfter)
		}
	}
}
