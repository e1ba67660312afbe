package flags

import (
	"context"
	"encoding/json"
	"errors"
)

// Service answers reads from the cache, falling back to the store, and
// writes to the store first, then invalidates the cache.
type Service struct {
	Store *Store
	Cache *Cache
	// NoFallback, when true (DEFECT=error-on-redis), returns Redis's error
	// instead of reading the database.
	NoFallback bool
}

// List returns every flag of env, sorted by key.
func (s *Service) List(ctx context.Context, env string) ([]Flag, error) {
	return readThrough(ctx, s, env, listName, func(ctx context.Context) ([]Flag, error) {
		return s.Store.List(ctx, env)
	})
}

// Flag returns one flag, or ErrNotFound.
func (s *Service) Flag(ctx context.Context, env, key string) (Flag, error) {
	return readThrough(ctx, s, env, key, func(ctx context.Context) (Flag, error) {
		return s.Store.Flag(ctx, env, key)
	})
}

// Update writes p to the database and then invalidates the flag and its
// environment's list. A nil error means the write is committed, whatever
// Redis does.
func (s *Service) Update(ctx context.Context, env, key string, p Patch) (Flag, error) {
	f, err := s.Store.Update(ctx, env, key, p)
	if err != nil {
		return Flag{}, err
	}
	s.Cache.Invalidate(context.WithoutCancel(ctx), env, key, listName)
	return f, nil
}

// readThrough serves name from the cache, or loads it and fills the cache
// if the generation has not changed in between.
func readThrough[T any](ctx context.Context, s *Service, env, name string, load func(context.Context) (T, error)) (T, error) {
	data, gen, err := s.Cache.Get(ctx, env, name)
	switch {
	case errors.Is(err, errPending):
		return load(ctx) // the cached value may be stale: do not read or fill it
	case err != nil && s.NoFallback:
		var zero T
		return zero, err
	case err != nil:
		return load(ctx) // Redis is failing: the database answers
	case data != nil:
		var v T
		if json.Unmarshal(data, &v) == nil {
			return v, nil
		}
		// An unreadable entry: load and overwrite it.
	}
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	if data, err := json.Marshal(v); err == nil {
		s.Cache.Fill(ctx, env, name, gen, data)
	}
	return v, nil
}
