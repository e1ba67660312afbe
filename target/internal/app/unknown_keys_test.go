package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/rediscache"
	"github.com/flagstorm/flagstorm/target/internal/store/postgres"
)

// countingStore counts the reads that reach the database.
type countingStore struct {
	*postgres.Store
	reads atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, env, key string) (flags.Flag, error) {
	s.reads.Add(1)
	return s.Store.Get(ctx, env, key)
}

func (s *countingStore) List(ctx context.Context, env string) ([]flags.Flag, error) {
	s.reads.Add(1)
	return s.Store.List(ctx, env)
}

// TestUnknownKeyFlood (issue 12, finding 5): 3,000 distinct unknown keys
// cost the hardened profile a handful of database reads and no Redis key
// each (its key index answers them); the seed profile keeps the story's
// behaviour, one database read per unknown key (and, having no negative
// cache, no Redis key either).
func TestUnknownKeyFlood(t *testing.T) {
	const unknown = 3000
	for _, tt := range []struct {
		profile  string
		maxReads int64
	}{
		{"hardened", 5},
		{"seed", unknown},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			t.Parallel()
			p, err := LookupProfile(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			pg, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pg.Close)
			if _, err := pg.Seed(t.Context(), DefaultEnvironments, 10); err != nil {
				t.Fatal(err)
			}
			redis := testenv.Redis(t)
			rc := p.Redis
			rc.URL = redis.URL()
			cache, err := rediscache.New(rc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cache.Close() })
			if err := cache.Connect(t.Context(), p.ConnectWait); err != nil {
				t.Fatal(err)
			}
			st := &countingStore{Store: pg}
			cfg := p.Service
			cfg.Store, cfg.Cache, cfg.Environments = st, cache, DefaultEnvironments
			svc, err := flags.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close(context.Background()) })

			if _, err := svc.Get(t.Context(), "production", "flag-001"); err != nil {
				t.Fatal(err)
			}
			if tt.profile == "hardened" {
				// The key index is read in the background after start:
				// wait until an unknown key costs no database read.
				// A new key each time: the negative cache must not answer.
				n := 0
				testenv.Poll(t, 5*time.Second, "hardened's key index", func() error {
					n++
					before := st.reads.Load()
					if _, err := svc.Get(t.Context(), "production", fmt.Sprintf("warm-up-%d", n)); !errors.Is(err, flags.ErrNotFound) {
						return fmt.Errorf("unknown key: err %v", err)
					}
					if n := st.reads.Load() - before; n != 0 {
						return fmt.Errorf("an unknown key still cost %d database reads", n)
					}
					return nil
				})
			}
			keysBefore := redis.Client(t).DBSize(t.Context()).Val()
			readsBefore := st.reads.Load()
			for i := range unknown {
				if _, err := svc.Get(t.Context(), "production", fmt.Sprintf("no-such-flag-%04d", i)); !errors.Is(err, flags.ErrNotFound) {
					t.Fatalf("unknown key %d: err %v, want ErrNotFound", i, err)
				}
			}
			reads := st.reads.Load() - readsBefore
			keys := redis.Client(t).DBSize(t.Context()).Val() - keysBefore
			t.Logf("%s: %d unknown keys cost %d database reads and %d new Redis keys", tt.profile, unknown, reads, keys)
			if reads > tt.maxReads {
				t.Errorf("%d database reads for %d unknown keys, want at most %d", reads, unknown, tt.maxReads)
			}
			if keys > 2 {
				t.Errorf("%d new Redis keys for %d unknown keys, want none per key", keys, unknown)
			}
			// Known keys still answer.
			if _, err := svc.Get(t.Context(), "production", "flag-002"); err != nil {
				t.Errorf("known key after the flood: %v", err)
			}
		})
	}
}
