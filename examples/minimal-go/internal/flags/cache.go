package flags

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// TTL is how long a cached answer lives in Redis.
const TTL = 300 * time.Second

// listName is the cache name of an environment's list of flags.
const listName = "all"

// errPending means the cache must not be used for a name: its last
// invalidation failed and has not been retried successfully yet.
var errPending = errors.New("flags: invalidation pending")

// dataKey is where a flag ("minimal:{env}:{key}") or the list of an
// environment ("minimal:{env}:all") is cached.
func dataKey(env, name string) string { return "minimal:" + env + ":" + name }

// genKey holds the environment's generation: a random token replaced by
// every invalidation. A fill only happens if the token it read before
// reading the database is still there, so a reader holding a row older than
// a write cannot put it back after the write's invalidation.
func genKey(env string) string { return "minimal-gen:" + env }

// fillScript sets KEYS[1] to ARGV[2] for ARGV[3] seconds if the generation
// KEYS[2] is still ARGV[1] (an absent generation reads as "").
var fillScript = redis.NewScript(`
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`)

// CacheConfig configures a [Cache].
type CacheConfig struct {
	// Redis is the client's configuration, used as given: its timeouts and
	// retries decide how long a failing Redis can hold up a request.
	Redis *redis.Options
	// Breaker, when true, puts a circuit breaker in front of Redis: after 50
	// consecutive failures every call fails at once for 1 s, then one call
	// probes. False (DEFECT=slow-fallback) calls Redis every time.
	Breaker bool
	// ForgetFailedInvalidations, when true (DEFECT=stale-after-outage),
	// only logs a failed invalidation: the old value stays in Redis.
	// False remembers it, bypasses the cache for its keys and retries it
	// in the background until it succeeds.
	ForgetFailedInvalidations bool
	// RetryInterval is how often failed invalidations are retried
	// (default 100 ms).
	RetryInterval time.Duration
	// Log receives breaker changes and invalidation failures (nil: discard).
	Log *slog.Logger
}

// Cache is Redis in front of the store. Its methods never block longer
// than the Redis client's timeouts and are safe for concurrent use.
type Cache struct {
	rdb     *redis.Client
	breaker *gobreaker.CircuitBreaker[any] // nil: no breaker
	forget  bool
	log     *slog.Logger

	mu      sync.Mutex
	pending map[pendingKey]uint64 // names whose invalidation failed -> when (a sequence number)
	seq     uint64

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type pendingKey struct{ env, name string }

// NewCache returns a cache and starts its invalidation retrier; Close
// stops it.
func NewCache(cfg CacheConfig) *Cache {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		rdb:     redis.NewClient(cfg.Redis),
		forget:  cfg.ForgetFailedInvalidations,
		log:     log,
		pending: map[pendingKey]uint64{},
	}
	if cfg.Breaker {
		c.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
			Name:    "redis",
			Timeout: time.Second,
			// 50 consecutive failures; it was 3. Every read asks Redis, and
			// on a busy machine a goroutine that gets the CPU more than 20 ms
			// after its command was sent times out although the reply is
			// there: a CPU stall fails a few calls in a row, not a Redis
			// fault. Each false trip sent every read to the database for 1 s
			// (postgres-slow, PostgreSQL 100 ms slow: the breaker opened
			// about 20 times in 30 s, readers waited 250-500 ms; 20 in a row
			// still tripped it a few times a run). At 1000 reads/s a Redis
			// fault still trips it within about 100 ms.
			ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= 50 },
			IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				log.Info("redis circuit breaker", "from", from.String(), "to", to.String())
			},
		})
	}
	every := cfg.RetryInterval
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.wg.Go(func() { c.retryLoop(ctx, every) })
	return c
}

// Close stops the retrier (forgetting what is still pending) and closes
// the client.
func (c *Cache) Close() error {
	c.stop()
	c.wg.Wait()
	return c.rdb.Close()
}

// call runs fn through the breaker, if there is one.
func (c *Cache) call(fn func() (any, error)) (any, error) {
	if c.breaker == nil {
		return fn()
	}
	return c.breaker.Execute(fn)
}

// Get returns the cached value of name in env (nil on a miss) and the
// environment's generation, to pass to Fill. It returns errPending if
// the cache must not be used for name, or Redis's error.
func (c *Cache) Get(ctx context.Context, env, name string) (data []byte, gen string, err error) {
	c.mu.Lock()
	_, pending := c.pending[pendingKey{env, name}]
	c.mu.Unlock()
	if pending {
		return nil, "", errPending
	}
	res, err := c.call(func() (any, error) {
		return c.rdb.MGet(ctx, dataKey(env, name), genKey(env)).Result()
	})
	if err != nil {
		return nil, "", fmt.Errorf("redis get %s: %w", dataKey(env, name), err)
	}
	vals := res.([]any)
	if s, ok := vals[1].(string); ok {
		gen = s
	}
	if s, ok := vals[0].(string); ok {
		data = []byte(s)
	}
	return data, gen, nil
}

// Fill caches data for name if the generation is still gen. A failure is
// only counted by the breaker: the answer was served from the database.
func (c *Cache) Fill(ctx context.Context, env, name, gen string, data []byte) {
	_, _ = c.call(func() (any, error) {
		return fillScript.Run(ctx, c.rdb, []string{dataKey(env, name), genKey(env)}, gen, data, int(TTL.Seconds())).Result()
	})
}

// Invalidate deletes names in env and replaces the generation. If Redis
// fails, the names are remembered as pending (bypassed by Get) and
// retried in the background, unless ForgetFailedInvalidations is set.
func (c *Cache) Invalidate(ctx context.Context, env string, names ...string) {
	_, err := c.call(func() (any, error) { return nil, c.invalidate(ctx, env, names) })
	if err == nil {
		return
	}
	if c.forget {
		c.log.Warn("cache invalidation failed; the old value stays cached", "environment", env, "names", names, "err", err)
		return
	}
	c.mu.Lock()
	for _, n := range names {
		c.seq++
		c.pending[pendingKey{env, n}] = c.seq
	}
	c.mu.Unlock()
	c.log.Debug("cache invalidation failed; retrying in the background", "environment", env, "names", names, "err", err)
}

func (c *Cache) invalidate(ctx context.Context, env string, names []string) error {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = dataKey(env, n)
	}
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, genKey(env), rand.Text(), 0)
		p.Del(ctx, keys...)
		return nil
	})
	return err
}

func (c *Cache) retryLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.retryPending(ctx)
		}
	}
}

// retryPending retries every pending invalidation once, directly (not
// through the breaker). A name is forgotten only if no newer failure
// re-marked it while the retry ran.
func (c *Cache) retryPending(ctx context.Context) {
	c.mu.Lock()
	snapshot := maps.Clone(c.pending)
	c.mu.Unlock()
	byEnv := map[string][]string{}
	for k := range snapshot {
		byEnv[k.env] = append(byEnv[k.env], k.name)
	}
	for env, names := range byEnv {
		if err := c.invalidate(ctx, env, names); err != nil {
			continue
		}
		c.mu.Lock()
		for _, n := range names {
			k := pendingKey{env, n}
			if c.pending[k] == snapshot[k] {
				delete(c.pending, k)
			}
		}
		left := len(c.pending)
		c.mu.Unlock()
		c.log.Info("retried cache invalidation", "environment", env, "names", names, "still_pending", left)
	}
}
