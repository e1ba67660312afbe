// Package rediscache is the Redis adapter of flags.Cache, on go-redis v9.
// It owns the connection budget (timeouts, retries with backoff), an
// optional circuit breaker, a background health check that reconnects
// after an outage, and the cache's metrics. It translates go-redis errors
// into the flags sentinels so the domain never imports go-redis.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/sony/gobreaker/v2"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// Config is the connection budget and resilience settings. Zero values
// take go-redis's defaults unless stated otherwise.
type Config struct {
	// URL is a redis:// or rediss:// URL. Required.
	URL string
	// DialTimeout bounds a new connection. Default 5s (go-redis).
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one command on the socket.
	// Default 3s (go-redis).
	ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the connection pool's size. Default 10 per CPU (go-redis).
	PoolSize int
	// PoolTimeout bounds the wait for a free connection. Default
	// ReadTimeout + 1s (go-redis).
	PoolTimeout time.Duration
	// DialerRetries is how often go-redis retries a failed dial inside
	// one command. 0: go-redis's default (5, 100 ms apart).
	DialerRetries int
	// MaxRetries is how many times a failed command is retried (after the
	// first attempt) before the error is returned. 0: no retries. A miss
	// is not a failure and is never retried.
	MaxRetries int
	// RetryBackoff is the wait before retry n (1-based). Nil: no wait.
	RetryBackoff func(n int) time.Duration
	// ConnMaxLifetime closes connections after this age so that a DNS
	// change (a managed Redis failing over) is followed. 0: forever.
	ConnMaxLifetime time.Duration
	// ConnMaxLifetimeJitter spreads those closes out. 0: none.
	ConnMaxLifetimeJitter time.Duration
	// Breaker, when not nil, puts a circuit breaker in front of every
	// command: while open, calls fail in microseconds with
	// flags.ErrCircuitOpen.
	Breaker *BreakerConfig
	// HealthInterval is how often a background PING checks the server, so
	// State is current and a lost server is reconnected to without a
	// request paying for the dial. Default 1s.
	HealthInterval time.Duration
	// Logger receives connection state changes. Nil: discard.
	Logger *slog.Logger
	// Registerer receives the cache metrics. Nil: not registered.
	Registerer prometheus.Registerer
}

// BreakerConfig configures the circuit breaker (sony/gobreaker).
type BreakerConfig struct {
	// ConsecutiveFailures trips the breaker. Default 5.
	ConsecutiveFailures uint32
	// FailureRatio trips it when at least MinRequests were made in the
	// current Interval. 0: ratio not used.
	FailureRatio float64
	MinRequests  uint32
	// Interval is the closed state's counting window. Default 10s.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before one probe.
	// Default 1s.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes may run while half-open. Default 1.
	HalfOpenRequests uint32
}

// Cache is a flags.Cache over one Redis server.
type Cache struct {
	cfg     Config
	client  *redis.Client
	breaker *gobreaker.CircuitBreaker[[]byte]
	log     *slog.Logger
	m       *metrics

	up       atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

var loggerOnce sync.Once

// New builds a Cache. It does not connect; call Connect.
func New(cfg Config) (*Cache, error) {
	if cfg.URL == "" {
		return nil, errors.New("rediscache: config: URL is required")
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		// The parser's error quotes the URL, password included.
		return nil, fmt.Errorf("rediscache: config: REDIS_URL: %s", secret.Hide(err.Error(), cfg.URL))
	}
	if cfg.MaxRetries < 0 {
		return nil, errors.New("rediscache: config: MaxRetries must not be negative")
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	// Retries are ours (counted, with the configured backoff); go-redis's
	// own would multiply them.
	opt.MaxRetries = -1
	setIf(&opt.DialTimeout, cfg.DialTimeout)
	setIf(&opt.ReadTimeout, cfg.ReadTimeout)
	setIf(&opt.WriteTimeout, cfg.WriteTimeout)
	setIf(&opt.PoolTimeout, cfg.PoolTimeout)
	setIf(&opt.ConnMaxLifetime, cfg.ConnMaxLifetime)
	setIf(&opt.ConnMaxLifetimeJitter, cfg.ConnMaxLifetimeJitter)
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	if cfg.DialerRetries > 0 {
		opt.DialerRetries = cfg.DialerRetries
	}
	opt.DisableIdentity = true // no CLIENT SETINFO round trip on every new connection
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// go-redis logs every failed dial through a package-level logger; the
	// health check reports state changes instead.
	loggerOnce.Do(func() { redis.SetLogger(quietLogger{}) })

	c := &Cache{cfg: cfg, client: redis.NewClient(opt), log: log, stop: make(chan struct{})}
	c.m, err = newMetrics(cfg.Registerer, c)
	if err != nil {
		c.client.Close()
		return nil, err
	}
	if b := cfg.Breaker; b != nil {
		c.breaker = newBreaker(*b, c)
	}
	return c, nil
}

func setIf(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}

// Connect pings Redis once, waiting at most wait, and then starts the
// background health check. It returns the ping's error, but the Cache is
// usable either way: requests fall back to the database until Redis
// answers, and the health check reconnects in the background.
func (c *Cache) Connect(ctx context.Context, wait time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, wait)
	err := c.client.Ping(pctx).Err()
	cancel()
	c.setUp(err == nil, err)
	c.wg.Add(1)
	go c.health()
	if err != nil {
		return fmt.Errorf("rediscache: connect within %s: %w", wait, err)
	}
	return nil
}

func (c *Cache) health() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(c.cfg.HealthInterval, time.Second))
		err := c.client.Ping(ctx).Err()
		cancel()
		c.setUp(err == nil, err)
	}
}

func (c *Cache) setUp(up bool, err error) {
	was := c.up.Swap(up)
	c.m.up.Set(b2f(up))
	switch {
	case up && !was:
		c.log.Info("redis connected", "addr", c.client.Options().Addr)
	case !up && was:
		c.log.Warn("redis unreachable; serving from the database", "addr", c.client.Options().Addr, "err", err)
	}
}

// State is "up", "down" or "circuit-open".
func (c *Cache) State() string {
	if c.breaker != nil && c.breaker.State() == gobreaker.StateOpen {
		return "circuit-open"
	}
	if c.up.Load() {
		return "up"
	}
	return "down"
}

// Close stops the health check and closes the pool.
func (c *Cache) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
	return c.client.Close()
}

// Client is the underlying go-redis client, for pool statistics and tests.
func (c *Cache) Client() *redis.Client { return c.client }

// Get returns the value at key, or flags.ErrCacheMiss.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	b, err := c.do(ctx, opGet, func(ctx context.Context) ([]byte, error) {
		return c.client.Get(ctx, key).Bytes()
	})
	c.m.observe(opGet, start, err)
	return b, translate(err)
}

// Set writes value at key with ttl.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	_, err := c.do(ctx, opSet, func(ctx context.Context) ([]byte, error) {
		return nil, c.client.Set(ctx, key, value, ttl).Err()
	})
	c.m.observe(opSet, start, err)
	return translate(err)
}

// Delete removes keys.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	start := time.Now()
	_, err := c.do(ctx, opDelete, func(ctx context.Context) ([]byte, error) {
		return nil, c.client.Del(ctx, keys...).Err()
	})
	c.m.observe(opDelete, start, err)
	return translate(err)
}

// do runs one command with the configured retries, inside the breaker.
func (c *Cache) do(ctx context.Context, op int, cmd func(context.Context) ([]byte, error)) ([]byte, error) {
	run := func() ([]byte, error) { return c.retry(ctx, op, cmd) }
	if c.breaker == nil {
		return run()
	}
	return c.breaker.Execute(run)
}

func (c *Cache) retry(ctx context.Context, op int, cmd func(context.Context) ([]byte, error)) ([]byte, error) {
	for n := 0; ; n++ {
		b, err := cmd(ctx)
		if err == nil || errors.Is(err, redis.Nil) || n >= c.cfg.MaxRetries || ctx.Err() != nil {
			return b, err
		}
		c.m.retries[op].Inc()
		if c.cfg.RetryBackoff != nil {
			t := time.NewTimer(c.cfg.RetryBackoff(n + 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, err
			case <-t.C:
			}
		}
	}
}

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return flags.ErrCacheMiss
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return fmt.Errorf("%w: %w", flags.ErrCircuitOpen, err)
	default:
		return fmt.Errorf("redis: %w", err)
	}
}

func newBreaker(b BreakerConfig, c *Cache) *gobreaker.CircuitBreaker[[]byte] {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.Interval == 0 {
		b.Interval = 10 * time.Second
	}
	if b.OpenTimeout == 0 {
		b.OpenTimeout = time.Second
	}
	return gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: max(b.HalfOpenRequests, 1),
		Interval:    b.Interval,
		Timeout:     b.OpenTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if n.ConsecutiveFailures >= b.ConsecutiveFailures {
				return true
			}
			return b.FailureRatio > 0 && n.Requests >= b.MinRequests &&
				float64(n.TotalFailures)/float64(n.Requests) >= b.FailureRatio
		},
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, redis.Nil) },
		// A caller giving up says nothing about Redis.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.m.circuit.Set(float64(to))
			c.log.Warn("redis circuit breaker changed state", "from", from.String(), "to", to.String())
		},
	})
}

// quietLogger drops go-redis's internal log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fillScript sets KEYS[1] only while KEYS[2] (the environment's
// invalidation generation) still holds ARGV[3] ("" for absent), so a value
// read from the database before an invalidation is never written after it;
// and never over a newer version: when KEYS[1] holds a flag whose
// "version" is above the new value's (or the new value is a "not found"
// while a flag is there), the fill is skipped. Flags never go away and
// versions only grow, so a fill from an older database snapshot can never
// replace what a fresher reader wrote. Lists carry no version of their own
// and are guarded by the generation alone.
var fillScript = redis.NewScript(`
local g = redis.call('GET', KEYS[2])
if not ((g == false and ARGV[3] == '') or g == ARGV[3]) then
  return 0
end
local cur = redis.call('GET', KEYS[1])
if cur then
  local okc, c = pcall(cjson.decode, cur)
  local okn, n = pcall(cjson.decode, ARGV[1])
  if okc and okn and type(c) == 'table' and type(n) == 'table' and type(c.version) == 'number' then
    if n.notFound == true or (type(n.version) == 'number' and c.version > n.version) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// Generation returns guard's invalidation generation, "" before the first.
func (c *Cache) Generation(ctx context.Context, guard string) (string, error) {
	start := time.Now()
	b, err := c.do(ctx, opGet, func(ctx context.Context) ([]byte, error) {
		b, err := c.client.Get(ctx, guard).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		return b, err
	})
	c.m.observe(opGet, start, err)
	return string(b), translate(err)
}

// SetIfGeneration writes value at key with ttl only if guard's generation
// is still gen and key holds no newer version of the flag; skipped reports
// that an invalidation or a newer value came first.
func (c *Cache) SetIfGeneration(ctx context.Context, key string, value []byte, ttl time.Duration, guard, gen string) (skipped bool, err error) {
	start := time.Now()
	b, err := c.do(ctx, opSet, func(ctx context.Context) ([]byte, error) {
		n, err := fillScript.Run(ctx, c.client, []string{key, guard}, value, ttl.Milliseconds(), gen).Int()
		if n == 0 && err == nil {
			return []byte{0}, nil
		}
		return nil, err
	})
	c.m.observe(opSet, start, err)
	return len(b) == 1, translate(err)
}

// Invalidate deletes keys and advances guard's generation in one
// transaction (MULTI/EXEC).
func (c *Cache) Invalidate(ctx context.Context, guard string, keys ...string) error {
	start := time.Now()
	_, err := c.do(ctx, opDelete, func(ctx context.Context) ([]byte, error) {
		_, err := c.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, keys...)
			p.Incr(ctx, guard)
			return nil
		})
		return nil, err
	})
	c.m.observe(opDelete, start, err)
	return translate(err)
}
