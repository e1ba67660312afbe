package flags

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Fallback reasons: why a read went to the database.
const (
	ReasonMiss                = "miss"                 // the key was not in Redis
	ReasonCacheError          = "cache_error"          // Redis answered with an error or timed out
	ReasonCircuitOpen         = "circuit_open"         // the breaker refused to call Redis
	ReasonPendingInvalidation = "pending_invalidation" // a failed DEL is still being retried for this key
	ReasonNoCache             = "no_cache"             // no Redis is configured
)

// metrics are the service's own series; the Redis adapter and the HTTP
// layer export theirs.
type metrics struct {
	reads        *prometheus.CounterVec
	readBySource [len(sourceNames)]prometheus.Counter
	fallbacks    *prometheus.CounterVec
	pending      prometheus.Gauge
	invFailures  prometheus.Counter
	storeErrors  *prometheus.CounterVec
	// unknownUpdates counts updates whose outcome the store left unknown
	// (and which were invalidated as if committed).
	unknownUpdates prometheus.Counter
	indexMisses    prometheus.Counter
	// reconciled counts the Redis entries the reconciler deleted for
	// holding an older version than the database; reconcileFailures its
	// rounds that could not complete.
	reconciled        prometheus.Counter
	reconcileFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagserver_reads_total",
			Help: "Flag reads answered, by where the data came from (redis, db, db-fallback, memory, stale).",
		}, []string{"source"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagserver_db_fallbacks_total",
			Help: "Reads that went to the database, by reason (miss, cache_error, circuit_open, pending_invalidation, no_cache).",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flagserver_invalidations_pending",
			Help: "Cache keys whose invalidation failed and is being retried; reads of them bypass Redis.",
		}),
		invFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flagserver_invalidation_failures_total",
			Help: "Failed attempts to delete cache keys after a database write.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagserver_store_errors_total",
			Help: "Database operations that failed, by operation.",
		}, []string{"op"}),
		unknownUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flagserver_update_outcome_unknown_total",
			Help: "Updates whose store call failed without saying whether it committed (a timeout, a lost connection); their cache keys were invalidated as if it had.",
		}),
		indexMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flagserver_unknown_key_reads_total",
			Help: "Reads of a key not in the environment's key index, answered 404 without Redis or the database.",
		}),
		reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flagserver_cache_reconciled_total",
			Help: "Redis entries deleted by the reconciler because they held an older version than the database (an invalidation lost by a crash or another instance).",
		}),
		reconcileFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flagserver_cache_reconcile_failures_total",
			Help: "Reconciler rounds that could not read the database or Redis (retried the next round, the window kept).",
		}),
	}
	for _, s := range Sources() {
		m.readBySource[s] = m.reads.WithLabelValues(s.String())
	}
	for _, r := range []string{ReasonMiss, ReasonCacheError, ReasonCircuitOpen, ReasonPendingInvalidation, ReasonNoCache} {
		m.fallbacks.WithLabelValues(r)
	}
	for _, op := range []string{"get", "list", "update"} {
		m.storeErrors.WithLabelValues(op)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.reads, m.fallbacks, m.pending, m.invFailures, m.storeErrors, m.unknownUpdates, m.indexMisses, m.reconciled, m.reconcileFailures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register flags metrics: %w", err)
			}
		}
	}
	return m, nil
}
