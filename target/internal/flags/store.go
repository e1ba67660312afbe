package flags

import (
	"context"
	"errors"
	"time"
)

// Errors shared by every Store and Cache implementation. Adapters translate
// their library's errors into these at the boundary.
var (
	ErrNotFound           = errors.New("flags: flag not found")
	ErrUnknownEnvironment = errors.New("flags: unknown environment")
	ErrVersionConflict    = errors.New("flags: version conflict")
	ErrCacheMiss          = errors.New("flags: cache miss")
	ErrUnavailable        = errors.New("flags: no backend could answer")
	// ErrNotCommitted marks a store error that certainly changed nothing
	// (the database could not even be reached): unlike other errors of an
	// update, its outcome is known.
	ErrNotCommitted = errors.New("flags: nothing was written")
)

// Store is the source of truth. Implementations: store/postgres and
// store/sqlite.
type Store interface {
	// Get returns one flag, or ErrNotFound.
	Get(ctx context.Context, env, key string) (Flag, error)
	// List returns every flag of env ordered by key; an environment with no
	// flags gives an empty slice.
	List(ctx context.Context, env string) ([]Flag, error)
	// Update applies p in one transaction, increments Version and sets
	// UpdatedAt. If ifVersion is not zero and differs from the stored
	// version it changes nothing and returns ErrVersionConflict. Unknown
	// flags give ErrNotFound. The returned flag is the committed row.
	Update(ctx context.Context, env, key string, p Patch, ifVersion int64) (Flag, error)
	// Ping reports whether the store can answer.
	Ping(ctx context.Context) error
}

// RecentStore is a Store that lists the flags updated after a time, in
// every environment: what the cache reconciler (Config.ReconcileInterval)
// compares with Redis. store/postgres implements it.
type RecentStore interface {
	UpdatedSince(ctx context.Context, since time.Time) ([]Flag, error)
}

// Cache is a shared byte cache (Redis). Get returns ErrCacheMiss for an
// absent key; any other error means the cache itself failed.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, keys ...string) error
}
