package toxics

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// The test binary run as a child process by a test.
		os.Exit(helperMain(os.Getenv(helperEnv)))
	}
	// go-redis logs every failed dial; under faults that is noise.
	redis.SetLogger(quietLogger{})
	// Toxiproxy's bandwidth toxic logs through zerolog's global logger.
	zlog.Logger = zerolog.Nop()
	testenv.Main(m)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// newEmbedded returns an embedded Toxiproxy closed in t.Cleanup.
func newEmbedded(t testing.TB, cfg EmbeddedConfig) *Embedded {
	t.Helper()
	e, err := NewEmbedded(cfg)
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	stopInCleanup(t, 10*time.Second, "Close", e.Close)
	return e
}

// stopInCleanup calls stop, named what, in t.Cleanup with d to finish;
// its error fails the test.
func stopInCleanup(t testing.TB, d time.Duration, what string, stop func(context.Context) error) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// addProxy adds a proxy on a free loopback port.
func addProxy(t testing.TB, c interface {
	AddProxy(ctx context.Context, name, listen, upstream string) (ProxyInfo, error)
}, name, upstream string) ProxyInfo {
	t.Helper()
	p, err := c.AddProxy(t.Context(), name, "127.0.0.1:0", upstream)
	if err != nil {
		t.Fatalf("AddProxy(%q): %v", name, err)
	}
	return p
}

// startRedis starts a redis-server of this package, stopped in t.Cleanup.
func startRedis(t testing.TB, cfg RedisConfig) *RedisServer {
	t.Helper()
	r, err := StartRedis(t.Context(), cfg)
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	stopInCleanup(t, 15*time.Second, "Stop", r.Stop)
	return r
}

// newClient returns a go-redis client for addr, closed in t.Cleanup.
func newClient(t testing.TB, opt redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(&opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// proxyNamed returns the named proxy from the controller's list.
func proxyNamed(t testing.TB, c Controller, name string) ProxyInfo {
	t.Helper()
	ps, err := c.Proxies(t.Context())
	if err != nil {
		t.Fatalf("Proxies: %v", err)
	}
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no proxy %q in %+v", name, ps)
	return ProxyInfo{}
}

// assertClean fails unless every proxy is enabled and has no toxic.
func assertClean(t testing.TB, c Controller) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := c.Proxies(ctx)
	if err != nil {
		t.Fatalf("Proxies: %v", err)
	}
	for _, p := range ps {
		if !p.Enabled || len(p.Toxics) > 0 {
			t.Errorf("proxy %q not clean: enabled=%v toxics=%+v", p.Name, p.Enabled, p.Toxics)
		}
	}
}

// fieldErrors returns the fields named by the *FieldError values in err's
// tree, in order.
func fieldErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e.Field)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
