package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// TestLostInvalidationIsRepairedByAnotherInstance (issue 12, finding 6):
// two hardened instances share Redis and PostgreSQL; instance A is cut off
// from Redis (a blackhole), so the DEL its update owes is pending in A's
// memory only, while instance B keeps reading the old version from Redis.
// B's reconciler sees the update in the database and deletes the entry:
// B serves the committed version within one ReconcileInterval (plus
// slack), not after the TTL. The same round is what repairs a crash: an
// instance's first round looks back a whole TTL.
func TestLostInvalidationIsRepairedByAnotherInstance(t *testing.T) {
	p, err := LookupProfile("hardened")
	if err != nil {
		t.Fatal(err)
	}
	every := p.Service.ReconcileInterval
	if every <= 0 {
		t.Fatal("the hardened profile has no reconciler")
	}
	dbURL := testenv.PostgresURL(t)
	redis := testenv.Redis(t)
	cut := testenv.NewProxy(t, "redis-a", redis.Addr())
	a := start(t, options{profile: "hardened", redisURL: "redis://" + cut.Addr() + "/0", dbURL: dbURL, memoryTTL: zero()})
	b := start(t, options{profile: "hardened", redisURL: redis.URL(), dbURL: dbURL, memoryTTL: zero()})

	const key = "flag-003"
	old := getFlag(t, b, key)
	must(t, old, 200, "")
	oldVersion := old.flag(t).Version
	testenv.Poll(t, 5*time.Second, "B's read fills Redis", func() error {
		if n := redis.Client(t).Exists(t.Context(), "feature_flags:production:"+key).Val(); n != 1 {
			return fmt.Errorf("EXISTS = %d", n)
		}
		return nil
	})

	before := metric(t, b, "flagserver_cache_reconciled_total")
	heal := cut.Blackhole(t)
	must(t, patch(t, a, key, `{"description": "written while A cannot reach Redis"}`), 200, "")
	begin := time.Now()
	if v := getFlag(t, b, key).flag(t).Version; v != oldVersion {
		// Only B's reconciler can have removed the old entry (A's DEL
		// cannot reach Redis): a round fell between the update and this
		// read (one every ReconcileInterval), so its counter moved.
		if v != oldVersion+1 || metric(t, b, "flagserver_cache_reconciled_total") <= before {
			t.Fatalf("B read version %d right after A's update, and its reconciler removed nothing; want the old %d from Redis (A's DEL cannot have reached it)", v, oldVersion)
		}
		heal()
		t.Logf("B's reconciler ran between A's update and B's read: repaired at once")
		return
	}
	testenv.PollEvery(t, 50*time.Millisecond, every+3*time.Second, "B serves the committed version", func() error {
		if v := getFlag(t, b, key).flag(t).Version; v != oldVersion+1 {
			return fmt.Errorf("version %d, want %d", v, oldVersion+1)
		}
		return nil
	})
	heal() // A delivers its pending DEL before it closes
	t.Logf("B served the committed version %.1f s after A's update (reconcile interval %s)", time.Since(begin).Seconds(), every)
	// The counter moves right after the DEL the read above may have seen.
	testenv.Poll(t, 2*time.Second, "the repair is B's reconciler's", func() error {
		if n := metric(t, b, "flagserver_cache_reconciled_total"); n <= before {
			return fmt.Errorf("flagserver_cache_reconciled_total on B = %v, want more than the %v before the update", n, before)
		}
		return nil
	})
}
