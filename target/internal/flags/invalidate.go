package flags

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// invalidator delivers cache deletes that must not be lost: those that
// failed (retried with backoff until Redis takes them; meanwhile reads of
// the key bypass Redis) and the delayed second delete of a recheck.
type invalidator struct {
	cache   Cache
	recheck time.Duration
	m       *metrics
	log     *slog.Logger

	mu      sync.Mutex
	items   map[string]pendingDelete
	seq     uint64
	nbypass atomic.Int64 // items with bypass set; read without the lock on every cache read

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type pendingDelete struct {
	seq    uint64
	due    time.Time
	bypass bool // a DEL failed: Redis may hold an old value
}

func newInvalidator(c Cache, recheck time.Duration, m *metrics, log *slog.Logger) *invalidator {
	inv := &invalidator{
		cache: c, recheck: recheck, m: m, log: log,
		items: make(map[string]pendingDelete),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go inv.run()
	return inv
}

// bypass reports whether reads of key must skip Redis. Safe on a nil
// invalidator.
func (inv *invalidator) bypass(key string) bool {
	if inv == nil || inv.nbypass.Load() == 0 {
		return false
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.items[key].bypass
}

// after records the outcome of an update's delete: failed keys are retried
// now and bypass Redis until delivered; delivered keys get a second delete
// after the recheck delay.
func (inv *invalidator) after(keys []string, failed bool) {
	if !failed && inv.recheck <= 0 {
		return
	}
	due := time.Now()
	if !failed {
		due = due.Add(inv.recheck)
	}
	inv.mu.Lock()
	for _, k := range keys {
		inv.seq++
		it := inv.items[k]
		if failed && !it.bypass {
			inv.nbypass.Add(1)
		}
		it = pendingDelete{seq: inv.seq, due: due, bypass: failed || it.bypass}
		inv.items[k] = it
	}
	inv.m.pending.Set(float64(inv.nbypass.Load()))
	inv.mu.Unlock()
	select {
	case inv.wake <- struct{}{}:
	default:
	}
}

func (inv *invalidator) run() {
	defer close(inv.done)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 50 * time.Millisecond
	bo.MaxInterval = 2 * time.Second
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := inv.deliverDue(context.Background(), bo)
		timer.Reset(next)
		select {
		case <-inv.stop:
			return
		case <-inv.wake:
		case <-timer.C:
		}
	}
}

// deliverDue sends one DEL for every due key and returns how long to wait
// before the next attempt.
func (inv *invalidator) deliverDue(ctx context.Context, bo *backoff.ExponentialBackOff) time.Duration {
	now := time.Now()
	inv.mu.Lock()
	var keys []string
	seqs := make(map[string]uint64)
	next := time.Hour
	for k, it := range inv.items {
		if !it.due.After(now) {
			keys = append(keys, k)
			seqs[k] = it.seq
		} else {
			next = min(next, it.due.Sub(now))
		}
	}
	inv.mu.Unlock()
	if len(keys) == 0 {
		return next
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := inv.cache.Delete(ctx, keys...)
	cancel()
	if err != nil {
		inv.m.invFailures.Inc()
		wait := bo.NextBackOff()
		inv.log.Debug("pending cache invalidation failed; will retry", "keys", len(keys), "retry_in", wait, "err", err)
		return min(next, wait)
	}
	bo.Reset()
	inv.mu.Lock()
	for _, k := range keys {
		// A later update of the key re-queued it: keep that one.
		if it, ok := inv.items[k]; ok && it.seq == seqs[k] {
			if it.bypass {
				inv.nbypass.Add(-1)
			}
			delete(inv.items, k)
		}
	}
	inv.m.pending.Set(float64(inv.nbypass.Load()))
	inv.mu.Unlock()
	return next
}

// close stops the loop and then delivers every queued key, recheck or not,
// retrying with backoff until they are all delivered or ctx ends (a circuit
// breaker may need a second to let a call through).
func (inv *invalidator) close(ctx context.Context) error {
	close(inv.stop)
	<-inv.done
	inv.mu.Lock()
	for k, it := range inv.items {
		it.due = time.Time{}
		inv.items[k] = it
	}
	inv.mu.Unlock()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 50 * time.Millisecond
	for {
		inv.deliverDue(ctx, bo)
		inv.mu.Lock()
		left := len(inv.items)
		inv.mu.Unlock()
		if left == 0 {
			return nil
		}
		t := time.NewTimer(bo.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return &undeliveredError{n: left}
		case <-t.C:
		}
	}
}

type undeliveredError struct{ n int }

func (e *undeliveredError) Error() string {
	return fmt.Sprintf("flags: %d cache invalidations could not be delivered before shutdown; those keys may be stale until their TTL", e.n)
}
