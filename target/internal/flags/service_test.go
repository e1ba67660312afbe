package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// These are narrow unit tests of the service's read and invalidation logic
// over hand-written fakes of our own Store and Cache interfaces. The
// behaviour against real Redis and PostgreSQL under faults is tested in
// target/internal/app.

type fakeStore struct {
	mu    sync.Mutex
	flags map[string]Flag
	err   error
	reads int
	gate  chan struct{} // when not nil, Get waits for it
}

func newFakeStore() *fakeStore {
	return &fakeStore{flags: map[string]Flag{
		"production/a": {Key: "a", Environment: "production", Version: 1},
		"production/b": {Key: "b", Environment: "production", Version: 1},
	}}
}

func (s *fakeStore) Get(ctx context.Context, env, key string) (Flag, error) {
	s.mu.Lock()
	s.reads++
	f, ok := s.flags[env+"/"+key]
	err, gate := s.err, s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	switch {
	case err != nil:
		return Flag{}, err
	case !ok:
		return Flag{}, ErrNotFound
	}
	return f, nil
}

func (s *fakeStore) List(ctx context.Context, env string) ([]Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	var fs []Flag
	for _, k := range []string{"a", "b"} {
		if f, ok := s.flags[env+"/"+k]; ok {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

func (s *fakeStore) Update(ctx context.Context, env, key string, p Patch, ifVersion int64) (Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Flag{}, s.err
	}
	f, ok := s.flags[env+"/"+key]
	if !ok {
		return Flag{}, ErrNotFound
	}
	if ifVersion != 0 && ifVersion != f.Version {
		return Flag{}, ErrVersionConflict
	}
	f = p.Apply(f)
	f.Version++
	s.flags[env+"/"+key] = f
	return f, nil
}

func (s *fakeStore) Ping(context.Context) error { return s.err }

func (s *fakeStore) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *fakeStore) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// read is a testenv.Poll condition: the store has been read.
func (s *fakeStore) read() error {
	if s.readCount() == 0 {
		return errors.New("no store read yet")
	}
	return nil
}

type fakeCache struct {
	mu     sync.Mutex
	data   map[string][]byte
	getErr error
	delErr error
	dels   int
}

func newFakeCache() *fakeCache { return &fakeCache{data: map[string][]byte{}} }

func (c *fakeCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.getErr != nil {
		return nil, c.getErr
	}
	b, ok := c.data[key]
	if !ok {
		return nil, ErrCacheMiss
	}
	return b, nil
}

func (c *fakeCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.getErr != nil {
		return c.getErr
	}
	c.data[key] = value
	return nil
}

func (c *fakeCache) Delete(ctx context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dels++
	if c.delErr != nil {
		return c.delErr
	}
	for _, k := range keys {
		delete(c.data, k)
	}
	return nil
}

func (c *fakeCache) set(getErr, delErr error) {
	c.mu.Lock()
	c.getErr, c.delErr = getErr, delErr
	c.mu.Unlock()
}

func (c *fakeCache) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.data[key]
	return ok
}

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	cfg.Environments = []string{"production", "staging"}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func version(t *testing.T, r Result) int64 {
	t.Helper()
	var f Flag
	if err := json.Unmarshal(r.Body, &f); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return f.Version
}

func TestReadSources(t *testing.T) {
	errDown := errors.New("connection refused")
	tests := []struct {
		name string
		cfg  func(st *fakeStore, c *fakeCache) Config
		prep func(t *testing.T, s *Service, st *fakeStore, c *fakeCache)
		want []Source // sources of consecutive reads of production/a
	}{
		{"no cache reads the store", func(st *fakeStore, c *fakeCache) Config { return Config{Store: st} }, nil,
			[]Source{SourceDB, SourceDB}},
		{"miss then hit", func(st *fakeStore, c *fakeCache) Config { return Config{Store: st, Cache: c} }, nil,
			[]Source{SourceDB, SourceRedis}},
		{"cache error falls back", func(st *fakeStore, c *fakeCache) Config { return Config{Store: st, Cache: c} },
			func(t *testing.T, s *Service, st *fakeStore, c *fakeCache) { c.set(errDown, nil) },
			[]Source{SourceDBFallback, SourceDBFallback}},
		{"circuit open falls back", func(st *fakeStore, c *fakeCache) Config { return Config{Store: st, Cache: c} },
			func(t *testing.T, s *Service, st *fakeStore, c *fakeCache) { c.set(ErrCircuitOpen, nil) },
			[]Source{SourceDBFallback}},
		{"memory after first read", func(st *fakeStore, c *fakeCache) Config {
			return Config{Store: st, Cache: c, MemoryTTL: time.Hour}
		}, nil, []Source{SourceDB, SourceMemory, SourceMemory}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, c := newFakeStore(), newFakeCache()
			s := newService(t, tt.cfg(st, c))
			if tt.prep != nil {
				tt.prep(t, s, st, c)
			}
			var got []Source
			for range tt.want {
				r, err := s.Get(t.Context(), "production", "a")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.Source)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStaleOnErrorOnlyAfterFreshTimeAndWithinStaleTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		s := newService(t, Config{Store: st, MemoryTTL: time.Second, StaleTTL: time.Minute})
		if _, err := s.Get(t.Context(), "production", "a"); err != nil {
			t.Fatal(err)
		}
		st.setErr(errors.New("database down"))
		time.Sleep(2 * time.Second)
		r, err := s.Get(t.Context(), "production", "a")
		if err != nil || r.Source != SourceStale {
			t.Fatalf("within StaleTTL with the store down: source %v, err %v; want stale copy", r.Source, err)
		}
		time.Sleep(time.Minute)
		if _, err := s.Get(t.Context(), "production", "a"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("after StaleTTL with the store down: err %v, want ErrUnavailable", err)
		}
	})
}

func TestUpdateInvalidatesAndNextReadSeesNewVersion(t *testing.T) {
	st, c := newFakeStore(), newFakeCache()
	s := newService(t, Config{Store: st, Cache: c, MemoryTTL: time.Hour})
	for range 2 {
		if _, err := s.Get(t.Context(), "production", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(t.Context(), "production"); err != nil {
			t.Fatal(err)
		}
	}
	on := true
	if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 1); err != nil {
		t.Fatal(err)
	}
	if c.has(CacheKey("production", "a")) || c.has(ListCacheKey("production")) {
		t.Error("both cache keys must be deleted after an update")
	}
	r, err := s.Get(t.Context(), "production", "a")
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, r); v != 2 || r.Source != SourceDB {
		t.Errorf("read after update: version %d from %v, want 2 from db", v, r.Source)
	}
	if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 1); !errors.Is(err, ErrVersionConflict) {
		t.Errorf("stale If-Match: err %v, want ErrVersionConflict", err)
	}
}

// A read that fetched version 1 from the store before an update committed
// must not write version 1 into the caches after the update invalidated
// them: that would serve stale data for the whole TTL.
func TestReadRacingUpdateDoesNotCacheOldValue(t *testing.T) {
	st, c := newFakeStore(), newFakeCache()
	s := newService(t, Config{Store: st, Cache: c, MemoryTTL: time.Hour})
	gate := make(chan struct{})
	st.gate = gate
	done := make(chan Result)
	go func() {
		r, err := s.Get(context.Background(), "production", "a")
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	// Wait until the read is inside the store (holding version 1).
	testenv.Poll(t, 5*time.Second, "the read reaches the store", st.read)
	st.mu.Lock()
	st.gate = nil
	st.mu.Unlock()
	on := true
	if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 0); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if v := version(t, <-done); v != 1 {
		t.Fatalf("racing read returned version %d, want the 1 it read", v)
	}
	if c.has(CacheKey("production", "a")) {
		t.Error("the racing read wrote its old value to Redis after the update")
	}
	r, err := s.Get(t.Context(), "production", "a")
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, r); v != 2 {
		t.Errorf("read after update returned version %d from %v, want 2", v, r.Source)
	}
}

func TestDurableInvalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, c := newFakeStore(), newFakeCache()
		reg := prometheus.NewRegistry()
		s := newService(t, Config{Store: st, Cache: c, DurableInvalidation: true, Registerer: reg})
		if _, err := s.Get(t.Context(), "production", "a"); err != nil { // fills Redis with version 1
			t.Fatal(err)
		}
		c.set(nil, errors.New("partitioned"))
		on := true
		if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 0); err != nil {
			t.Fatalf("update must succeed while Redis fails: %v", err)
		}
		// Redis still holds version 1, but the key bypasses it.
		r, err := s.Get(t.Context(), "production", "a")
		if err != nil {
			t.Fatal(err)
		}
		if v := version(t, r); v != 2 || r.Source != SourceDBFallback {
			t.Errorf("read while the DEL is pending: version %d from %v, want 2 from db-fallback", v, r.Source)
		}
		if got := testutil.ToFloat64(s.m.pending); got != 2 {
			t.Errorf("pending invalidations gauge = %v, want 2 (flag and list keys)", got)
		}
		c.set(nil, nil) // Redis heals; the retry delivers the DEL.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if c.has(CacheKey("production", "a")) {
			t.Error("the pending DEL was never delivered")
		}
		if got := testutil.ToFloat64(s.m.pending); got != 0 {
			t.Errorf("pending invalidations gauge = %v after delivery, want 0", got)
		}
		r, err = s.Get(t.Context(), "production", "a")
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != SourceDB {
			t.Errorf("after delivery reads use Redis again; got source %v, want db (a miss)", r.Source)
		}
	})
}

func TestSeedStyleInvalidationFailureIsLost(t *testing.T) {
	st, c := newFakeStore(), newFakeCache()
	s := newService(t, Config{Store: st, Cache: c})
	if _, err := s.Get(t.Context(), "production", "a"); err != nil {
		t.Fatal(err)
	}
	c.set(nil, errors.New("partitioned"))
	on := true
	if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 0); err != nil {
		t.Fatalf("update must succeed while Redis fails (AC3): %v", err)
	}
	c.set(nil, nil)
	r, err := s.Get(t.Context(), "production", "a")
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, r); v != 1 || r.Source != SourceRedis {
		t.Errorf("without durable invalidation Redis keeps the old value: got version %d from %v", v, r.Source)
	}
}

func TestNegativeCaching(t *testing.T) {
	st, c := newFakeStore(), newFakeCache()
	s := newService(t, Config{Store: st, Cache: c, NegativeTTL: time.Minute})
	for range 3 {
		if _, err := s.Get(t.Context(), "production", "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
	}
	if n := st.readCount(); n != 1 {
		t.Errorf("store read %d times for an unknown key, want 1", n)
	}
}

func TestSingleflightCoalescesStoreReads(t *testing.T) {
	st := newFakeStore()
	gate := make(chan struct{})
	st.gate = gate
	s := newService(t, Config{Store: st, Singleflight: true})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := s.Get(context.Background(), "production", "a"); err != nil {
				t.Error(err)
			}
		})
	}
	testenv.Poll(t, 5*time.Second, "a read reaches the store", st.read)
	close(gate)
	wg.Wait()
	if n := st.readCount(); n >= 20 {
		t.Errorf("20 concurrent reads made %d store reads; singleflight should share them", n)
	}
}

func TestBadInput(t *testing.T) {
	s := newService(t, Config{Store: newFakeStore()})
	var fe *FieldError
	if _, err := s.Get(t.Context(), "qa", "a"); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("unknown environment: %v", err)
	}
	if _, err := s.Get(t.Context(), "production", "A:b"); !errors.As(err, &fe) || fe.Field != "key" {
		t.Errorf("bad key: %v", err)
	}
	pct := 101
	if _, err := s.Update(t.Context(), "production", "a", Patch{RolloutPercentage: &pct}, 0); !errors.As(err, &fe) || fe.Field != "rolloutPercentage" {
		t.Errorf("rollout 101: %v", err)
	}
	if _, err := s.Update(t.Context(), "production", "a", Patch{}, 0); !errors.As(err, &fe) {
		t.Errorf("empty patch: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	st := newFakeStore()
	for name, cfg := range map[string]Config{
		"no store":        {Environments: []string{"p"}},
		"no environments": {Store: st},
		"bad environment": {Store: st, Environments: []string{"Prod"}},
		"jitter over ttl": {Store: st, Environments: []string{"p"}, CacheTTL: time.Second, CacheTTLJitter: time.Second},
		"negative":        {Store: st, Environments: []string{"p"}, MemoryTTL: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestTTLJitterNeverExceedsTTL(t *testing.T) {
	s := newService(t, Config{Store: newFakeStore(), CacheTTL: 300 * time.Second, CacheTTLJitter: 30 * time.Second})
	for range 1000 {
		if d := s.ttl(); d > 300*time.Second || d <= 270*time.Second {
			t.Fatalf("ttl %v outside (270s, 300s]", d)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	newService(t, Config{Store: newFakeStore(), Registerer: reg})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// NoCacheFallback is an UNSAFE switch that breaks the fallback on purpose
// (the harness must catch it): a Redis failure is ErrUnavailable, a miss
// still reads the store, and no in-process copy papers over the failure.
func TestNoCacheFallback(t *testing.T) {
	errDown := errors.New("connection refused")
	for _, tt := range []struct {
		name   string
		getErr error
	}{
		{"cache error", errDown},
		{"circuit open", ErrCircuitOpen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, c := newFakeStore(), newFakeCache()
			s := newService(t, Config{Store: st, Cache: c, NoCacheFallback: true, MemoryTTL: time.Nanosecond, StaleTTL: time.Hour})
			r, err := s.Get(t.Context(), "production", "a")
			if err != nil || r.Source != SourceDB {
				t.Fatalf("miss: %v, source %v; want a store read", err, r.Source)
			}
			c.set(tt.getErr, nil)
			reads := st.readCount()
			_, err = s.Get(t.Context(), "production", "a")
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("with Redis failing: err %v, want ErrUnavailable", err)
			}
			if n := st.readCount() - reads; n != 0 {
				t.Errorf("with Redis failing: %d store reads, want none", n)
			}
		})
	}
}

// racingCache is a fakeCache whose next Get can be held (to stand for a
// Redis GET in flight) and whose Delete runs a hook before deleting.
type racingCache struct {
	*fakeCache
	hold     chan struct{} // the next Get waits on it, once
	held     chan struct{} // closed when that Get is waiting
	onDelete func()
}

func (c *racingCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	b, err := c.data[key], error(nil)
	if _, ok := c.data[key]; !ok {
		err = ErrCacheMiss
	}
	hold := c.hold
	c.hold = nil
	c.mu.Unlock()
	if hold != nil {
		close(c.held)
		<-hold
	}
	return b, err
}

func (c *racingCache) Delete(ctx context.Context, keys ...string) error {
	if f := c.onDelete; f != nil {
		c.onDelete = nil
		f()
	}
	return c.fakeCache.Delete(ctx, keys...)
}

// TestReadBetweenCommitAndDeleteIsForgotten: a read that begins after an
// update committed but before its DEL reaches Redis fetches the old value
// from Redis. A read beginning after the update answered must neither
// share that read (singleflight) nor find its value remembered in process:
// the update forgets in-flight reads again once the DEL is done.
func TestReadBetweenCommitAndDeleteIsForgotten(t *testing.T) {
	st := newFakeStore()
	c := &racingCache{fakeCache: newFakeCache(), held: make(chan struct{})}
	s := newService(t, Config{Store: st, Cache: c, MemoryTTL: time.Hour, Singleflight: true})
	ctx := t.Context()
	// Redis holds version 1 (a read fills it); drop the in-process copy so
	// the racing read goes to Redis.
	if r, err := s.Get(ctx, "production", "a"); err != nil || version(t, r) != 1 {
		t.Fatalf("priming read: %v", err)
	}
	s.forget(CacheKey("production", "a"))

	release := make(chan struct{})
	racing := make(chan Result, 1)
	c.onDelete = func() {
		c.mu.Lock()
		c.hold = release
		c.mu.Unlock()
		go func() {
			r, err := s.Get(context.WithoutCancel(ctx), "production", "a")
			if err != nil {
				t.Error(err)
			}
			racing <- r
		}()
		<-c.held // the racing read is inside Redis GET, holding version 1
	}
	on := true
	if _, err := s.Update(ctx, "production", "a", Patch{Enabled: &on}, 0); err != nil {
		t.Fatal(err)
	}
	// Acknowledged: every read that begins now must see version 2, and
	// must not wait for the racing read (it is held until this one ends).
	afterc := make(chan Result, 1)
	go func() {
		r, err := s.Get(context.WithoutCancel(ctx), "production", "a")
		if err != nil {
			t.Error(err)
		}
		afterc <- r
	}()
	select {
	case after := <-afterc:
		if v := version(t, after); v != 2 {
			t.Errorf("a read after the update's answer returned version %d from %v, want 2", v, after.Source)
		}
		close(release)
	case <-time.After(5 * time.Second):
		close(release)
		after := <-afterc
		t.Errorf("a read after the update's answer waited for the racing read (shared it) and returned version %d", version(t, after))
	}
	if v := version(t, <-racing); v != 1 {
		t.Fatalf("the racing read returned version %d, want the 1 it read from Redis", v)
	}
	later, err := s.Get(ctx, "production", "a")
	if err != nil {
		t.Fatal(err)
	}
	if v := version(t, later); v != 2 {
		t.Errorf("a read after the racing one returned version %d from %v (its old value was remembered), want 2", v, later.Source)
	}
}

// lostReplyStore commits every update and then reports err, as a store
// whose reply was lost (a timeout, a dropped connection) would. It records
// whether the update ran under a live context.
type lostReplyStore struct {
	*fakeStore
	err        error
	ctxErr     error
	hadTimeout bool
}

func (s *lostReplyStore) Update(ctx context.Context, env, key string, p Patch, ifVersion int64) (Flag, error) {
	s.ctxErr = ctx.Err()
	_, s.hadTimeout = ctx.Deadline()
	if _, err := s.fakeStore.Update(ctx, env, key, p, ifVersion); err != nil {
		return Flag{}, err
	}
	return Flag{}, s.err
}

// TestUpdateWithUnknownOutcomeInvalidates: an update whose store call
// fails without saying whether it committed answers ErrUnavailable but
// invalidates the caches as a committed one would (issue 12, finding 2),
// durably when the DEL fails too; a client that has gone does not cancel
// the store call, which runs under UpdateTimeout instead.
func TestUpdateWithUnknownOutcomeInvalidates(t *testing.T) {
	on := true
	for _, tt := range []struct {
		name    string
		durable bool
		delErr  error
	}{
		{"seed-style", false, nil},
		{"durable, DEL delivered", true, nil},
		{"durable, DEL fails", true, errors.New("partitioned")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &lostReplyStore{fakeStore: newFakeStore(), err: fmt.Errorf("postgres: update: %w", context.DeadlineExceeded)}
			c := newFakeCache()
			s := newService(t, Config{Store: st, Cache: c, MemoryTTL: time.Hour, DurableInvalidation: tt.durable})
			if _, err := s.Get(t.Context(), "production", "a"); err != nil { // Redis and memory hold version 1
				t.Fatal(err)
			}
			c.set(nil, tt.delErr)
			t.Cleanup(func() { c.set(nil, nil) }) // before Close, which delivers pending DELs
			gone, cancel := context.WithCancel(t.Context())
			cancel() // the client hung up before the commit
			if _, err := s.Update(gone, "production", "a", Patch{Enabled: &on}, 0); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("update with a lost reply: err %v, want ErrUnavailable", err)
			}
			if st.ctxErr != nil || !st.hadTimeout {
				t.Errorf("store update ran with ctx error %v, deadline %v; want a live context with its own timeout", st.ctxErr, st.hadTimeout)
			}
			if tt.delErr == nil && (c.has(CacheKey("production", "a")) || c.has(ListCacheKey("production"))) {
				t.Error("an update of unknown outcome left its cache keys in Redis")
			}
			r, err := s.Get(t.Context(), "production", "a")
			if err != nil {
				t.Fatal(err)
			}
			if v := version(t, r); v != 2 {
				t.Errorf("read after an update of unknown outcome that committed: version %d from %v, want 2", v, r.Source)
			}
			if got := testutil.ToFloat64(s.m.unknownUpdates); got != 1 {
				t.Errorf("flagserver_update_outcome_unknown_total = %v, want 1", got)
			}
		})
	}
	t.Run("known failures do not invalidate", func(t *testing.T) {
		st, c := newFakeStore(), newFakeCache()
		s := newService(t, Config{Store: st, Cache: c})
		if _, err := s.Get(t.Context(), "production", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 7); !errors.Is(err, ErrVersionConflict) {
			t.Fatalf("err %v, want ErrVersionConflict", err)
		}
		if _, err := s.Update(t.Context(), "production", "nope", Patch{Enabled: &on}, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
		if c.dels != 0 {
			t.Errorf("%d DELs after updates that certainly did not commit, want 0", c.dels)
		}
	})
	// The database could not be reached (connection refused): nothing was
	// written, and the in-process copies, which answer while it is down
	// (both-down), must stay.
	t.Run("an unreachable database does not invalidate", func(t *testing.T) {
		st, c := &notReachedStore{fakeStore: newFakeStore()}, newFakeCache()
		s := newService(t, Config{Store: st, Cache: c, MemoryTTL: time.Hour, DurableInvalidation: true})
		if _, err := s.Get(t.Context(), "production", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(t.Context(), "production", "a", Patch{Enabled: &on}, 0); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
		if c.dels != 0 || testutil.ToFloat64(s.m.unknownUpdates) != 0 {
			t.Errorf("%d DELs, %v unknown outcomes after an update that never reached the database; want none", c.dels, testutil.ToFloat64(s.m.unknownUpdates))
		}
	})
}

// notReachedStore fails every update before it reaches the database.
type notReachedStore struct{ *fakeStore }

func (s *notReachedStore) Update(context.Context, string, string, Patch, int64) (Flag, error) {
	return Flag{}, fmt.Errorf("postgres: update: %w: dial tcp: connection refused", ErrNotCommitted)
}
