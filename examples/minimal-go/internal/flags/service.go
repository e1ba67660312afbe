package flags

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"
)

// Service answers reads from the cache, falling back to the store, and
// writes to the store first, then invalidates the cache. Lists have a last
// resort: an in-process copy, for when both Redis and the store fail.
type Service struct {
	Store *Store
	Cache *Cache
	// NoFallback, when true (DEFECT=error-on-redis), returns Redis's error
	// instead of reading the database.
	NoFallback bool

	lists   lastLists          // the last list read per environment
	flights singleflight.Group // database reads in progress, by flightKey
}

// flightKey names the database read of name (a flag or listName) in env
// (env quoted: it may contain "/").
func flightKey(env, name string) string { return strconv.Quote(env) + "/" + name }

// List returns every flag of env, sorted by key. If Redis has no usable
// answer and the database fails too, it returns the last list this
// process read for env, kept current by this process's writes (see
// [lastLists]); it errors only if there is none. The copy is never used
// while the database answers.
func (s *Service) List(ctx context.Context, env string) ([]Flag, error) {
	gen := s.lists.readStarts(env)
	var dbErr error
	fs, err := readThrough(ctx, s, env, listName, func(ctx context.Context) ([]Flag, error) {
		fs, err := fromDatabase(ctx, s, env, listName, func(ctx context.Context) ([]Flag, error) {
			return s.Store.List(ctx, env)
		})
		dbErr = err
		return fs, err
	})
	switch {
	case err == nil:
		s.lists.keep(env, gen, fs)
	case dbErr != nil: // Redis missed or failed, and so did the database
		if last, ok := s.lists.get(env); ok {
			return last, nil
		}
	}
	return fs, err
}

// Flag returns one flag, or ErrNotFound.
func (s *Service) Flag(ctx context.Context, env, key string) (Flag, error) {
	return readThrough(ctx, s, env, key, func(ctx context.Context) (Flag, error) {
		return fromDatabase(ctx, s, env, key, func(ctx context.Context) (Flag, error) {
			return s.Store.Flag(ctx, env, key)
		})
	})
}

// Update writes p to the database and then invalidates the flag and its
// environment's list. A nil error means the write is committed, whatever
// Redis does.
//
// The in-process copy of the list is updated before returning, so a list
// answered from it is never older than this write.
func (s *Service) Update(ctx context.Context, env, key string, p Patch) (Flag, error) {
	ticket := s.lists.writeStarts(env, key)
	f, err := s.Store.Update(ctx, env, key, p)
	if err != nil {
		s.lists.writeEnds(env, key, ticket, nil)
		return Flag{}, err
	}
	// A database read that began before this commit may still be running:
	// readers from now on must not join it (fromDatabase). Before writeEnds,
	// so that a list read joining the old flight is not kept as the copy.
	s.flights.Forget(flightKey(env, key))
	s.flights.Forget(flightKey(env, listName))
	s.lists.writeEnds(env, key, ticket, &f)
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

// fromDatabase runs load, the database read of name (a flag or listName) in
// env, sharing one query among concurrent callers (singleflight). While
// Redis is down every read comes to the database, and when the database is
// slow the readers of an invalidated list would otherwise each send a query
// and queue for connections (redis-blackhole, redis-outage, postgres-slow).
// A write forgets the flights of its names once committed (Update), so a
// reader never joins a query older than a write this process acknowledged.
func fromDatabase[T any](ctx context.Context, s *Service, env, name string, load func(context.Context) (T, error)) (T, error) {
	v, err, _ := s.flights.Do(flightKey(env, name), func() (any, error) {
		// Not the first caller's context: its client leaving must not fail
		// the others. Bounded instead, since no caller can cancel it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return load(ctx)
	})
	return v.(T), err
}
