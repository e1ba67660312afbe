package flags

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// reconcileMargin widens each round's window back in time: a flag's
// updated_at is when its transaction began, and it becomes visible when
// the transaction commits, up to the store's update timeout later.
const reconcileMargin = 10 * time.Second

// reconciler makes a lost invalidation harmless across processes (issue
// 12, finding 6). An update's DEL can be lost for good: the instance that
// owed it crashed while Redis was down (its pending invalidations lived in
// its memory), or it is cut off from Redis while other instances read the
// old value there. Every ReconcileInterval each instance asks the
// database which flags were updated since its last round (the first round
// looks back a whole TTL, the longest a stale value can live) and deletes,
// with a generation bump, every Redis entry that holds an older version:
// the flag's key, and its environment's list if the list holds an older
// version of it or none. A stale entry therefore lives at most one
// interval after any instance that reaches both Redis and the database
// runs a round, whichever instance owed the DEL.
type reconciler struct {
	s     *Service
	store RecentStore
	every time.Duration
	last  time.Time // the start of the last round that completed; zero before the first
	stop  chan struct{}
	done  chan struct{}
}

func newReconciler(s *Service, st RecentStore, every time.Duration) *reconciler {
	r := &reconciler{s: s, store: st, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *reconciler) run() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), r.every)
		if err := r.round(ctx); err != nil {
			r.s.m.reconcileFailures.Inc()
			if r.s.warn.allow() {
				r.s.log.Warn("cache reconciliation failed; retried next round", "err", err)
			}
		}
		cancel()
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

func (r *reconciler) close() {
	close(r.stop)
	<-r.done
}

// round compares the flags updated since the last round with Redis and
// deletes what is older. It advances the window only when it completed.
func (r *reconciler) round(ctx context.Context) error {
	began := time.Now()
	since := r.last.Add(-reconcileMargin)
	if r.last.IsZero() {
		since = began.Add(-r.s.cfg.CacheTTL - reconcileMargin)
	}
	fs, err := r.store.UpdatedSince(ctx, since)
	if err != nil {
		return err
	}
	stale, err := r.staleKeys(ctx, fs)
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		for _, k := range stale {
			r.s.gens.bump(k, r.s.forget)
		}
		if err := r.s.cfg.Cache.Delete(ctx, stale...); err != nil {
			return err
		}
		r.s.m.reconciled.Add(float64(len(stale)))
		r.s.log.Info("cache reconciliation deleted entries older than the database", "keys", stale)
	}
	r.last = began
	return nil
}

// staleKeys returns the cache keys that hold an older version of one of
// fs than the database.
func (r *reconciler) staleKeys(ctx context.Context, fs []Flag) ([]string, error) {
	var stale []string
	lists := map[string][]Flag{}
	for _, f := range fs {
		if _, ok := r.s.envs[f.Environment]; !ok {
			continue
		}
		lists[f.Environment] = append(lists[f.Environment], f)
		ck := CacheKey(f.Environment, f.Key)
		b, err := r.s.cfg.Cache.Get(ctx, ck)
		switch {
		case errors.Is(err, ErrCacheMiss):
			continue
		case err != nil:
			return nil, err
		}
		var cached struct{ Version int64 }
		if json.Unmarshal(b, &cached) != nil || cached.Version < f.Version {
			stale = append(stale, ck)
		}
	}
	for env, updated := range lists {
		lk := ListCacheKey(env)
		b, err := r.s.cfg.Cache.Get(ctx, lk)
		switch {
		case errors.Is(err, ErrCacheMiss):
			continue
		case err != nil:
			return nil, err
		}
		var l struct {
			Flags []struct {
				Key     string
				Version int64
			}
		}
		if json.Unmarshal(b, &l) != nil {
			stale = append(stale, lk)
			continue
		}
		have := make(map[string]int64, len(l.Flags))
		for _, f := range l.Flags {
			have[f.Key] = f.Version
		}
		for _, f := range updated {
			if have[f.Key] < f.Version {
				stale = append(stale, lk)
				break
			}
		}
	}
	return stale, nil
}
