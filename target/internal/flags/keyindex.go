package flags

import (
	"context"
	"sync"
	"time"
)

// keyIndex keeps, per environment, the set of flag keys the store holds,
// read with one List at most once per ttl, so that a read of a key not in
// the set is answered "not found" without a database read or a Redis key
// (issue 12, finding 5: an unauthenticated flood of distinct unknown keys).
// Flags are never deleted, so a key in the set, however old, exists.
type keyIndex struct {
	ttl   time.Duration
	store Store

	mu   sync.RWMutex
	envs map[string]*keySet
}

type keySet struct {
	keys  map[string]struct{} // nil until a List succeeded
	tried time.Time           // when the last List began, successful or not
}

func newKeyIndex(st Store, ttl time.Duration) *keyIndex {
	return &keyIndex{ttl: ttl, store: st, envs: make(map[string]*keySet)}
}

// unknown reports whether key is certainly absent from env: not in the
// last set read. It never waits for the store: a set older than ttl is
// refreshed in the background (one List per environment at a time, at
// most one attempt per ttl) and answers meanwhile, and before the first
// set is read every key goes its usual way. Keys are created only by
// seeding the database, out of band, so a new key is found once a
// refresh has run after it was created: within ttl plus one List.
func (x *keyIndex) unknown(env, key string) bool {
	x.mu.RLock()
	ks := x.envs[env]
	var known, have, due bool
	if ks != nil {
		_, known = ks.keys[key]
		have = ks.keys != nil
		due = time.Since(ks.tried) >= x.ttl
	}
	x.mu.RUnlock()
	if ks == nil || due {
		x.startRefresh(env)
	}
	return have && !known
}

// startRefresh begins one background List of env unless one began less
// than ttl ago.
func (x *keyIndex) startRefresh(env string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ks := x.envs[env]
	if ks != nil && time.Since(ks.tried) < x.ttl {
		return
	}
	next := &keySet{tried: time.Now()}
	if ks != nil {
		next.keys = ks.keys
	}
	x.envs[env] = next
	go x.refresh(env)
}

func (x *keyIndex) refresh(env string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	fs, err := x.store.List(ctx, env)
	cancel()
	if err != nil {
		return // the old set, if any, answers until the next attempt
	}
	keys := make(map[string]struct{}, len(fs))
	for _, f := range fs {
		keys[f.Key] = struct{}{}
	}
	x.mu.Lock()
	x.envs[env].keys = keys
	x.mu.Unlock()
}
