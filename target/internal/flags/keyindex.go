package flags

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// keyIndex keeps, per environment, the set of flag keys the store holds,
// read with one List at most once per ttl, so that a read of a key not in
// the set is answered "not found" without a database read or a Redis key
// (issue 12, finding 5: an unauthenticated flood of distinct unknown keys).
// Flags are never deleted, so a key in the set, however old, exists; a key
// created after the set was read is found once the set is older than ttl.
type keyIndex struct {
	ttl   time.Duration
	store Store
	sf    singleflight.Group

	mu   sync.RWMutex
	envs map[string]*keySet
}

type keySet struct {
	keys  map[string]struct{} // nil until a List succeeded
	built time.Time           // when keys was read
	tried time.Time           // the last List attempt, successful or not
}

func newKeyIndex(st Store, ttl time.Duration) *keyIndex {
	return &keyIndex{ttl: ttl, store: st, envs: make(map[string]*keySet)}
}

// unknown reports whether key is certainly absent from env: not in a set
// younger than ttl. It refreshes an older set (one List per environment at
// a time, at most one attempt per ttl); when no set can be had it reports
// false and the read goes its usual way.
func (x *keyIndex) unknown(ctx context.Context, env, key string) bool {
	x.mu.RLock()
	ks := x.envs[env]
	var known, fresh, retry bool
	if ks != nil {
		_, known = ks.keys[key]
		fresh = ks.keys != nil && time.Since(ks.built) < x.ttl
		retry = time.Since(ks.tried) >= x.ttl
	}
	x.mu.RUnlock()
	switch {
	case known:
		return false
	case fresh:
		return true
	case ks != nil && !retry:
		return false // the last refresh failed less than ttl ago
	}
	x.sf.Do(env, func() (any, error) {
		x.refresh(context.WithoutCancel(ctx), env)
		return nil, nil
	})
	x.mu.RLock()
	defer x.mu.RUnlock()
	ks = x.envs[env]
	if ks == nil || ks.keys == nil || time.Since(ks.built) >= x.ttl {
		return false
	}
	_, known = ks.keys[key]
	return !known
}

func (x *keyIndex) refresh(ctx context.Context, env string) {
	x.mu.RLock()
	ks := x.envs[env]
	recent := ks != nil && time.Since(ks.tried) < x.ttl
	x.mu.RUnlock()
	if recent { // another flight refreshed it just now
		return
	}
	now := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	fs, err := x.store.List(ctx, env)
	cancel()
	x.mu.Lock()
	defer x.mu.Unlock()
	next := &keySet{tried: now}
	if old := x.envs[env]; old != nil {
		next.keys, next.built = old.keys, old.built
	}
	if err == nil {
		next.keys = make(map[string]struct{}, len(fs))
		for _, f := range fs {
			next.keys[f.Key] = struct{}{}
		}
		next.built = now
	}
	x.envs[env] = next
}
