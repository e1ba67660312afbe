package flags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// ErrCircuitOpen is returned by a Cache whose circuit breaker refuses calls.
var ErrCircuitOpen = errors.New("flags: cache circuit open")

// errNoFallback marks a read that failed because Redis failed and
// Config.NoCacheFallback forbids the database fallback.
var errNoFallback = errors.New("flags: cache failed and the database fallback is disabled (unsafe)")

// Config wires a Service. The cache profiles (seed, hardened) are two
// settings of these fields, chosen in the composition root.
type Config struct {
	// Store is the source of truth. Required.
	Store Store
	// Cache is the shared cache (Redis). Nil: no shared cache, every read
	// that the in-process cache does not answer goes to the store.
	Cache Cache
	// Environments are the environments this server knows. Required; a
	// request for any other gets ErrUnknownEnvironment.
	Environments []string
	// CacheTTL is the lifetime of a Redis entry. Default 300s.
	CacheTTL time.Duration
	// CacheTTLJitter shortens each entry's TTL by a random amount in
	// [0, jitter) so that keys written together do not expire together. It
	// never lengthens a TTL. 0: every entry gets exactly CacheTTL.
	CacheTTLJitter time.Duration
	// NegativeTTL caches "no such flag" for this long, in Redis and in
	// process. 0: unknown keys always reach the store.
	NegativeTTL time.Duration
	// KeyIndexTTL keeps, per environment, the set of existing flag keys
	// (one store List, at most one per KeyIndexTTL), and answers a read of
	// a key not in the set ErrNotFound without reading the store or
	// writing Redis. A flag created after the set was read is found within
	// KeyIndexTTL (plus NegativeTTL if it was asked for before). 0: off,
	// every unknown key reaches Redis and the store.
	KeyIndexTTL time.Duration
	// MemoryTTL is how long an in-process copy is served without asking
	// Redis or the store. 0 switches the in-process cache off.
	MemoryTTL time.Duration
	// StaleTTL is how long after it was fetched an in-process copy may still
	// be served (as SourceStale) when Redis and the store both fail. 0:
	// never serve stale. Only meaningful with MemoryTTL > 0.
	StaleTTL time.Duration
	// MemoryMaxEntries bounds the in-process cache. Default 100000.
	MemoryMaxEntries int
	// Singleflight makes concurrent store reads of one key share a single
	// query, so a flushed or failed cache does not become a stampede.
	Singleflight bool
	// DurableInvalidation retries a failed cache DEL in the background until
	// it succeeds, and meanwhile reads of that key bypass Redis. false: a
	// failed DEL is logged, counted and forgotten (the stale entry lives
	// until its TTL).
	DurableInvalidation bool
	// GuardedFill makes every fill of Redis conditional on no update of
	// the environment having begun since the value was read (see
	// GuardedCache); it needs a Cache that implements GuardedCache.
	GuardedFill bool
	// InvalidationRecheck deletes the keys a second time this long after a
	// successful invalidation, erasing a value that a read racing with the
	// update wrote back from its older database snapshot. 0: no second DEL.
	InvalidationRecheck time.Duration
	// ReconcileInterval runs the cache reconciler this often: it deletes
	// Redis entries older than the database for flags updated since its
	// last round, so an invalidation lost by a crash or by an instance cut
	// off from Redis is repaired by any instance within one interval (see
	// reconciler). Needs a Store that implements RecentStore. 0: off.
	ReconcileInterval time.Duration
	// UpdateTimeout bounds a store update. The update runs under its own
	// context, not the client's: a client that hangs up mid-commit does not
	// cancel it, so the outcome is known and the caches are invalidated.
	// Default 5s (the store's own query timeout may be shorter).
	UpdateTimeout time.Duration
	// IgnoreUnknownOutcome is UNSAFE, for testing the harness only: an
	// update whose outcome is unknown invalidates nothing and runs under
	// the caller's context (the behaviour before issue 12, finding 2).
	IgnoreUnknownOutcome bool
	// NoCacheFallback is UNSAFE, for testing the harness only: a failed
	// Redis read (an error or an open circuit) becomes ErrUnavailable
	// instead of a database read, and no in-process copy is served for
	// it. A miss still reads the database. false (the default) falls back.
	NoCacheFallback bool
	// Logger receives cache and store failures (rate limited). Nil: discard.
	Logger *slog.Logger
	// Registerer receives the service's metrics. Nil: not registered.
	Registerer prometheus.Registerer
}

const (
	defaultCacheTTL      = 300 * time.Second
	defaultUpdateTimeout = 5 * time.Second
)

// notFoundBody is what a negative cache entry holds.
var notFoundBody = []byte(`{"notFound":true}`)

// entry is one in-process cache value.
type entry struct {
	body     []byte
	notFound bool
	at       time.Time
	// expired: served only as stale (an update of unknown outcome may
	// have replaced it), never as fresh.
	expired bool
}

// Service reads flags through the caches and writes them to the store.
type Service struct {
	cfg   Config
	envs  map[string]struct{}
	log   *slog.Logger
	warn  logLimiter
	m     *metrics
	mem   *otter.Cache[string, *entry]
	sf    singleflight.Group
	gens  generations
	inv   *invalidator
	state func() string
	guard GuardedCache // nil unless GuardedFill
	index *keyIndex    // nil unless KeyIndexTTL > 0
	rec   *reconciler  // nil unless ReconcileInterval > 0 (with a cache and a RecentStore)
}

// New validates cfg and builds a Service. Close releases it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("flags: config: Store is required")
	}
	if len(cfg.Environments) == 0 {
		return nil, errors.New("flags: config: at least one environment is required")
	}
	envs := make(map[string]struct{}, len(cfg.Environments))
	for _, e := range cfg.Environments {
		if !ValidEnvironment(e) {
			return nil, fmt.Errorf("flags: config: environment %q is not a valid name (lower-case letters, digits and '-', starting with a letter)", e)
		}
		envs[e] = struct{}{}
	}
	switch {
	case cfg.CacheTTL < 0, cfg.CacheTTLJitter < 0, cfg.NegativeTTL < 0, cfg.MemoryTTL < 0, cfg.StaleTTL < 0, cfg.InvalidationRecheck < 0, cfg.UpdateTimeout < 0, cfg.KeyIndexTTL < 0, cfg.ReconcileInterval < 0:
		return nil, errors.New("flags: config: durations must not be negative")
	case cfg.MemoryMaxEntries < 0:
		return nil, errors.New("flags: config: MemoryMaxEntries must not be negative")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	if cfg.CacheTTLJitter >= cfg.CacheTTL {
		return nil, fmt.Errorf("flags: config: CacheTTLJitter (%s) must be below CacheTTL (%s)", cfg.CacheTTLJitter, cfg.CacheTTL)
	}
	if cfg.MemoryMaxEntries == 0 {
		cfg.MemoryMaxEntries = 100_000
	}
	if cfg.UpdateTimeout == 0 {
		cfg.UpdateTimeout = defaultUpdateTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, envs: envs, log: log, m: m}
	s.gens.init()
	if cfg.KeyIndexTTL > 0 {
		s.index = newKeyIndex(cfg.Store, cfg.KeyIndexTTL)
		for env := range envs {
			s.index.startRefresh(env)
		}
	}
	if cfg.MemoryTTL > 0 {
		keep := max(cfg.MemoryTTL, cfg.StaleTTL)
		s.mem, err = otter.New(&otter.Options[string, *entry]{
			MaximumSize:      cfg.MemoryMaxEntries,
			ExpiryCalculator: otter.ExpiryWriting[string, *entry](keep),
		})
		if err != nil {
			return nil, fmt.Errorf("flags: in-process cache: %w", err)
		}
	}
	s.state = func() string { return "disabled" }
	if cfg.Cache != nil {
		s.state = func() string { return "up" }
		if st, ok := cfg.Cache.(interface{ State() string }); ok {
			s.state = st.State
		}
	}
	if cfg.GuardedFill && cfg.Cache != nil {
		g, ok := cfg.Cache.(GuardedCache)
		if !ok {
			return nil, errors.New("flags: config: GuardedFill needs a cache with generations (GuardedCache)")
		}
		s.guard = g
		s.cfg.Cache = guardedDeleter{g}
		cfg.Cache = s.cfg.Cache
	}
	if cfg.Cache != nil {
		if cfg.DurableInvalidation || cfg.InvalidationRecheck > 0 {
			s.inv = newInvalidator(cfg.Cache, cfg.InvalidationRecheck, m, log)
		}
		if rs, ok := cfg.Store.(RecentStore); ok && cfg.ReconcileInterval > 0 {
			s.rec = newReconciler(s, rs, cfg.ReconcileInterval)
		}
	}
	return s, nil
}

// Close stops the background invalidation (after one last attempt to
// deliver pending deletes, bounded by ctx) and the in-process cache.
func (s *Service) Close(ctx context.Context) error {
	var err error
	if s.rec != nil {
		s.rec.close()
	}
	if s.inv != nil {
		err = s.inv.close(ctx)
	}
	if s.mem != nil {
		s.mem.StopAllGoroutines()
	}
	return err
}

// Get returns one flag's JSON document.
func (s *Service) Get(ctx context.Context, env, key string) (Result, error) {
	if err := s.check(env, key); err != nil {
		return Result{}, err
	}
	if s.index != nil && s.index.unknown(env, key) {
		s.m.indexMisses.Inc()
		return Result{}, ErrNotFound
	}
	e, src, err := s.read(ctx, CacheKey(env, key), func(ctx context.Context) ([]byte, error) {
		f, err := s.cfg.Store.Get(ctx, env, key)
		if err != nil {
			s.countStoreError("get", err)
			return nil, err
		}
		return json.Marshal(f)
	})
	if err != nil {
		return Result{Source: src}, err
	}
	return Result{Body: e.body, Source: src}, nil
}

// List returns the JSON document of every flag in env.
func (s *Service) List(ctx context.Context, env string) (Result, error) {
	if err := s.check(env, ""); err != nil {
		return Result{}, err
	}
	e, src, err := s.read(ctx, ListCacheKey(env), func(ctx context.Context) ([]byte, error) {
		fs, err := s.cfg.Store.List(ctx, env)
		if err != nil {
			s.countStoreError("list", err)
			return nil, err
		}
		if fs == nil {
			fs = []Flag{}
		}
		return json.Marshal(List{Environment: env, Flags: fs})
	})
	if err != nil {
		return Result{Source: src}, err
	}
	return Result{Body: e.body, Source: src}, nil
}

// Evaluate decides a flag for a user.
func (s *Service) Evaluate(ctx context.Context, env, key, userID string) (Evaluation, Source, error) {
	if !ValidUserID(userID) {
		return Evaluation{}, 0, &FieldError{Field: "userId", Msg: "must be 1-128 characters of letters, digits, '.', '_', '@', ':' or '-'"}
	}
	r, err := s.Get(ctx, env, key)
	if err != nil {
		return Evaluation{}, r.Source, err
	}
	var f Flag
	if err := json.Unmarshal(r.Body, &f); err != nil {
		return Evaluation{}, r.Source, fmt.Errorf("flags: decode cached flag %q: %w", key, err)
	}
	return Evaluate(f, userID), r.Source, nil
}

// Update writes a patch to the store and then invalidates the flag's and its
// environment's cache entries. A nil error means the change is committed in
// the store, whatever the cache did.
//
// The store update runs under its own timeout (UpdateTimeout), not ctx's
// cancellation. When the store fails in a way that leaves the outcome
// unknown (any error but ErrNotFound, ErrVersionConflict, ErrNotCommitted
// or a *FieldError: a timeout, a lost connection, a reply that never came),
// the update may have committed, so the caches are invalidated exactly as
// after a commit (durably, with DurableInvalidation) before the error is
// returned: an unnecessary DEL costs one miss, a missing one serves the old
// version for the whole TTL.
func (s *Service) Update(ctx context.Context, env, key string, p Patch, ifVersion int64) (Flag, error) {
	if err := s.check(env, key); err != nil {
		return Flag{}, err
	}
	if err := p.Validate(); err != nil {
		return Flag{}, err
	}
	if ifVersion < 0 {
		return Flag{}, &FieldError{Field: "If-Match", Msg: "version must not be negative"}
	}
	if !s.cfg.IgnoreUnknownOutcome {
		ctx = context.WithoutCancel(ctx)
	}
	uctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	f, err := s.cfg.Store.Update(uctx, env, key, p, ifVersion)
	cancel()
	var fe *FieldError
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrVersionConflict), errors.As(err, &fe):
		return Flag{}, err
	case errors.Is(err, ErrNotCommitted), s.cfg.IgnoreUnknownOutcome:
		// The database was never reached: nothing to invalidate, and the
		// in-process copies stay (they are what answers while it is down).
		s.countStoreError("update", err)
		return Flag{}, fmt.Errorf("%w: update %s/%s: %w", ErrUnavailable, env, key, err)
	default:
		s.countStoreError("update", err)
		s.m.unknownUpdates.Inc()
		s.invalidateAfterUpdate(ctx, env, key, s.demote)
		return Flag{}, fmt.Errorf("%w: update %s/%s (outcome unknown; caches invalidated): %w", ErrUnavailable, env, key, err)
	}
	s.invalidateAfterUpdate(ctx, env, key, s.forget)
	return f, nil
}

// invalidateAfterUpdate invalidates the flag's and its environment's cached
// copies: in flight and in Redis, and in process by drop (forget, after a
// commit: the copy is known to be old) or demote (after an unknown
// outcome: the copy may still be the newest, and is what answers as
// stale while the database is down).
func (s *Service) invalidateAfterUpdate(ctx context.Context, env, key string, drop func(string)) {
	keys := []string{CacheKey(env, key), ListCacheKey(env)}
	for _, k := range keys {
		s.gens.bump(k, drop)
	}
	s.invalidate(ctx, keys)
	// Again after the DEL: a read that began between the first bump and
	// the DEL may have fetched the old value from Redis and must neither
	// be remembered nor shared with readers arriving after this answer.
	for _, k := range keys {
		s.gens.bump(k, drop)
	}
}

// Ready reports the state of the backends.
func (s *Service) Ready(ctx context.Context) Readiness {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return Readiness{Database: s.cfg.Store.Ping(ctx), Cache: s.state()}
}

func (s *Service) check(env, key string) error {
	if !ValidEnvironment(env) {
		return &FieldError{Field: "environment", Msg: "must be lower-case letters, digits and '-', starting with a letter, at most 32 bytes"}
	}
	if _, ok := s.envs[env]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownEnvironment, env)
	}
	if key != "" && !ValidKey(key) {
		return &FieldError{Field: "key", Msg: "must be lower-case letters, digits, '.', '_' and '-', at most 128 bytes"}
	}
	return nil
}

// demote keeps a key's in-process copy for the stale path only (it is no
// longer served as fresh) and drops any store read in flight for it.
func (s *Service) demote(ck string) {
	if s.mem != nil {
		if e, ok := s.mem.GetIfPresent(ck); ok && !e.expired {
			d := *e
			d.expired = true
			s.mem.Set(ck, &d)
		}
	}
	if s.cfg.Singleflight {
		s.sf.Forget(ck)
	}
}

// forget drops a key's in-process copy and any store read in flight for it,
// so that a read beginning after an update cannot be answered from before it.
func (s *Service) forget(ck string) {
	if s.mem != nil {
		s.mem.Invalidate(ck)
	}
	if s.cfg.Singleflight {
		s.sf.Forget(ck)
	}
}

// read answers from the in-process cache, Redis, the store, or a stale
// in-process copy, in that order. With Singleflight, everything after the
// in-process cache is one flight per key: when a hot key's in-process
// copy expires, one request refreshes it from Redis (or the store) and the
// others wait for that answer instead of each asking.
func (s *Service) read(ctx context.Context, ck string, load func(context.Context) ([]byte, error)) (*entry, Source, error) {
	var old *entry
	if s.mem != nil {
		if e, ok := s.mem.GetIfPresent(ck); ok {
			if !e.expired && time.Since(e.at) < s.cfg.MemoryTTL {
				s.m.readBySource[SourceMemory].Inc()
				if e.notFound {
					return nil, SourceMemory, ErrNotFound
				}
				return e, SourceMemory, nil
			}
			old = e
		}
	}
	var f fetched
	if s.cfg.Singleflight {
		// The flight outlives the caller who started it: one client giving
		// up must not fail every reader waiting on the same key.
		v, _, _ := s.sf.Do(ck, func() (any, error) {
			return s.fetch(context.WithoutCancel(ctx), ck, load), nil
		})
		f = v.(fetched)
	} else {
		f = s.fetch(ctx, ck, load)
	}
	switch {
	case f.err == nil:
	case errors.Is(f.err, ErrNotFound):
		s.m.readBySource[f.src].Inc()
		return nil, f.src, ErrNotFound
	case old != nil && s.cfg.StaleTTL > 0 && time.Since(old.at) < s.cfg.StaleTTL && !old.notFound && !errors.Is(f.err, errNoFallback):
		s.m.readBySource[SourceStale].Inc()
		return old, SourceStale, nil
	default:
		return nil, f.src, fmt.Errorf("%w: %w", ErrUnavailable, f.err)
	}
	s.m.readBySource[f.src].Inc()
	return f.e, f.src, nil
}

// fetched is the outcome of one fetch, shared by a flight's waiters.
type fetched struct {
	e   *entry
	src Source
	err error
}

// fetch reads Redis and, on a miss or failure, the store, filling the
// caches with what it found.
func (s *Service) fetch(ctx context.Context, ck string, load func(context.Context) ([]byte, error)) fetched {
	gen := s.gens.current(ck)
	reason := ReasonNoCache
	if s.cfg.Cache != nil {
		if s.inv.bypass(ck) {
			reason = ReasonPendingInvalidation
		} else {
			b, err := s.cfg.Cache.Get(ctx, ck)
			switch {
			case err == nil:
				e := &entry{body: b, notFound: bytes.Equal(b, notFoundBody), at: time.Now()}
				s.remember(ck, gen, e)
				if e.notFound {
					return fetched{src: SourceRedis, err: ErrNotFound}
				}
				return fetched{e: e, src: SourceRedis}
			case errors.Is(err, ErrCacheMiss):
				reason = ReasonMiss
			case errors.Is(err, ErrCircuitOpen):
				reason = ReasonCircuitOpen
			default:
				reason = ReasonCacheError
				if s.warn.allow() {
					s.log.Warn("cache get failed; reading from the database", "key", ck, "err", err)
				}
			}
		}
	}
	if s.cfg.NoCacheFallback && (reason == ReasonCacheError || reason == ReasonCircuitOpen) {
		return fetched{err: fmt.Errorf("%w (%s)", errNoFallback, reason)}
	}
	s.m.fallbacks.WithLabelValues(reason).Inc()
	src := SourceDBFallback
	if reason == ReasonMiss || reason == ReasonNoCache {
		src = SourceDB
	}
	fill := reason == ReasonMiss || reason == ReasonCacheError
	rgen := ""
	if fill && s.guard != nil {
		// The generation must be read before the database: a fill is only
		// safe if no invalidation happened after this point.
		g, err := s.guard.Generation(ctx, GuardKey(envOf(ck)))
		if err != nil {
			fill = false
		}
		rgen = g
	}
	e, err := s.load(ctx, ck, gen, fill, rgen, load)
	return fetched{e: e, src: src, err: err}
}

func (s *Service) load(ctx context.Context, ck string, gen uint64, fill bool, rgen string, load func(context.Context) ([]byte, error)) (*entry, error) {
	b, err := load(ctx)
	if errors.Is(err, ErrNotFound) {
		if s.cfg.NegativeTTL > 0 {
			s.remember(ck, gen, &entry{body: notFoundBody, notFound: true, at: time.Now()})
			if fill {
				s.fillCache(ctx, ck, gen, rgen, notFoundBody, s.cfg.NegativeTTL)
			}
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	e := &entry{body: b, at: time.Now()}
	s.remember(ck, gen, e)
	if fill {
		s.fillCache(ctx, ck, gen, rgen, b, s.ttl())
	}
	return e, nil
}

// fillCache writes a value the store returned to Redis, unless an update
// of the key began since the value was read.
func (s *Service) fillCache(ctx context.Context, ck string, gen uint64, rgen string, b []byte, ttl time.Duration) {
	if s.gens.current(ck) != gen {
		return
	}
	var err error
	if s.guard != nil {
		_, err = s.guard.SetIfGeneration(ctx, ck, b, ttl, GuardKey(envOf(ck)), rgen)
	} else {
		err = s.cfg.Cache.Set(ctx, ck, b, ttl)
	}
	if err != nil && s.warn.allow() {
		s.log.Warn("cache set failed; ignored", "key", ck, "err", err)
	}
}

// remember stores an in-process copy unless an update of the key began
// since the value was read.
func (s *Service) remember(ck string, gen uint64, e *entry) {
	if s.mem == nil {
		return
	}
	s.gens.ifCurrent(ck, gen, func() { s.mem.Set(ck, e) })
}

func (s *Service) ttl() time.Duration {
	if s.cfg.CacheTTLJitter <= 0 {
		return s.cfg.CacheTTL
	}
	return s.cfg.CacheTTL - rand.N(s.cfg.CacheTTLJitter)
}

func (s *Service) invalidate(ctx context.Context, keys []string) {
	if s.cfg.Cache == nil {
		return
	}
	err := s.cfg.Cache.Delete(ctx, keys...)
	if err != nil {
		s.m.invFailures.Inc()
		s.log.Warn("cache invalidation failed", "keys", keys, "durable", s.inv != nil && s.cfg.DurableInvalidation, "err", err)
	}
	if s.inv != nil {
		s.inv.after(keys, err != nil && s.cfg.DurableInvalidation)
	}
}

func (s *Service) countStoreError(op string, err error) {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrVersionConflict) {
		return
	}
	s.m.storeErrors.WithLabelValues(op).Inc()
	if s.warn.allow() {
		s.log.Warn("store read failed", "op", op, "err", err)
	}
}

// generations count the updates of each cache key. A read notes the count
// before it asks the store and fills the caches only if it has not moved,
// so a value read before an update is never cached after it.
type generations struct {
	shards [64]genShard
}

type genShard struct {
	mu sync.RWMutex
	m  map[string]uint64
}

func (g *generations) init() {
	for i := range g.shards {
		g.shards[i].m = make(map[string]uint64)
	}
}

func (g *generations) shard(k string) *genShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &g.shards[h%uint32(len(g.shards))]
}

func (g *generations) current(k string) uint64 {
	sh := g.shard(k)
	sh.mu.RLock()
	n := sh.m[k]
	sh.mu.RUnlock()
	return n
}

// bump advances k's count and runs then under the same lock, so no
// ifCurrent for the old count can run after it.
func (g *generations) bump(k string, then func(string)) {
	sh := g.shard(k)
	sh.mu.Lock()
	sh.m[k]++
	then(k)
	sh.mu.Unlock()
}

func (g *generations) ifCurrent(k string, n uint64, fn func()) {
	sh := g.shard(k)
	sh.mu.RLock()
	if sh.m[k] == n {
		fn()
	}
	sh.mu.RUnlock()
}

// logLimiter lets one message a second through, so an outage does not turn
// into a log line per request.
type logLimiter struct{ last atomic.Int64 }

func (l *logLimiter) allow() bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	return now-last >= int64(time.Second) && l.last.CompareAndSwap(last, now)
}
