package flags

import (
	"context"
	"errors"
	"strings"
	"time"
)

// GuardedCache is a Cache that can make a fill conditional, across every
// instance sharing it: each environment has an invalidation generation
// that every update advances together with its deletes, and a value read
// from the database is written only if the generation has not moved since
// the read began. Without it, a read that fetched a flag just before an
// update committed can write the old version back after the update's DEL,
// where it stays until the TTL (the race the seed profile has).
type GuardedCache interface {
	Cache
	Generation(ctx context.Context, guard string) (string, error)
	SetIfGeneration(ctx context.Context, key string, value []byte, ttl time.Duration, guard, gen string) (skipped bool, err error)
	Invalidate(ctx context.Context, guard string, keys ...string) error
}

// GuardKey is the Redis key of an environment's invalidation generation.
func GuardKey(env string) string { return "feature_flags_generation:" + env }

// envOf returns the environment of a cache key (feature_flags:{env} or
// feature_flags:{env}:{key}).
func envOf(ck string) string {
	rest := strings.TrimPrefix(ck, "feature_flags:")
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// guardedDeleter makes every Delete of a guarded cache an Invalidate, so
// the invalidator's retries advance the generation too.
type guardedDeleter struct{ GuardedCache }

func (g guardedDeleter) Delete(ctx context.Context, keys ...string) error {
	byEnv := map[string][]string{}
	for _, k := range keys {
		byEnv[envOf(k)] = append(byEnv[envOf(k)], k)
	}
	var errs []error
	for env, ks := range byEnv {
		errs = append(errs, g.Invalidate(ctx, GuardKey(env), ks...))
	}
	return errors.Join(errs...)
}
