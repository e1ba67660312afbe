package rediscache

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

const (
	opGet = iota
	opSet
	opDelete
	numOps
)

var opNames = [numOps]string{"get", "set", "delete"}

const (
	resHit = iota
	resMiss
	resOK
	resError
	resRejected
	numResults
)

var resultNames = [numResults]string{"hit", "miss", "ok", "error", "rejected"}

type metrics struct {
	ops      [numOps][numResults]prometheus.Counter
	duration [numOps]prometheus.Observer
	retries  [numOps]prometheus.Counter
	circuit  prometheus.Gauge
	up       prometheus.Gauge
}

// cacheBuckets include the SLO edges the scenarios gate on, and go below
// them: a healthy Redis answers in a fraction of a millisecond.
var cacheBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func newMetrics(reg prometheus.Registerer, c *Cache) (*metrics, error) {
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flagserver_cache_operations_total",
		Help: "Redis cache operations by op (get, set, delete) and result (hit, miss, ok, error, rejected by the circuit breaker).",
	}, []string{"op", "result"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "flagserver_cache_operation_duration_seconds",
		Help:    "Time of a Redis cache operation including its retries.",
		Buckets: cacheBuckets,
	}, []string{"op"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flagserver_cache_retries_total",
		Help: "Retries of failed Redis commands, by op.",
	}, []string{"op"})
	m := &metrics{
		circuit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flagserver_cache_circuit_state",
			Help: "Redis circuit breaker state: 0 closed, 1 half-open, 2 open (always 0 without a breaker).",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flagserver_cache_up",
			Help: "1 if the last health check PING to Redis succeeded.",
		}),
	}
	for o := range numOps {
		for r := range numResults {
			if o != opGet && (r == resHit || r == resMiss) {
				continue
			}
			m.ops[o][r] = ops.WithLabelValues(opNames[o], resultNames[r])
		}
		m.duration[o] = dur.WithLabelValues(opNames[o])
		m.retries[o] = retries.WithLabelValues(opNames[o])
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{ops, dur, retries, m.circuit, m.up, poolCollector{c}} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("register cache metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(op int, start time.Time, err error) {
	m.duration[op].Observe(time.Since(start).Seconds())
	r := resOK
	switch {
	case err == nil && op == opGet:
		r = resHit
	case err == nil:
	case errors.Is(err, redis.Nil):
		r = resMiss
	case errors.Is(translate(err), flags.ErrCircuitOpen):
		r = resRejected
	default:
		r = resError
	}
	m.ops[op][r].Inc()
}

// poolCollector exports go-redis's pool statistics at scrape time.
type poolCollector struct{ c *Cache }

var (
	poolConns = prometheus.NewDesc("flagserver_redis_pool_connections",
		"Connections in the go-redis pool, by state (idle, in_use).", []string{"state"}, nil)
	poolEvents = prometheus.NewDesc("flagserver_redis_pool_events_total",
		"go-redis pool events: hit (a free connection was reused), miss (a new one was dialed), timeout (no connection in PoolTimeout), stale (closed as too old or idle).", []string{"event"}, nil)
)

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolEvents
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.c.client.PoolStats()
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.IdleConns), "idle")
	ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(int64(s.TotalConns)-int64(s.IdleConns)), "in_use")
	ch <- prometheus.MustNewConstMetric(poolEvents, prometheus.CounterValue, float64(s.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(poolEvents, prometheus.CounterValue, float64(s.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(poolEvents, prometheus.CounterValue, float64(s.Timeouts), "timeout")
	ch <- prometheus.MustNewConstMetric(poolEvents, prometheus.CounterValue, float64(s.StaleConns), "stale")
}
