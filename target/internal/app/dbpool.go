package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flagstorm/flagstorm/target/internal/store/postgres"
	"github.com/flagstorm/flagstorm/target/internal/store/sqlite"
)

// dbPoolStat is a database pool's state, whichever the store.
type dbPoolStat struct {
	idle, inUse, max int
	waits            int64
	waited           time.Duration
}

// dbPoolStatOf reads the pool of the stores that have one.
func dbPoolStatOf(st store) (func() dbPoolStat, bool) {
	switch s := st.(type) {
	case *postgres.Store:
		return func() dbPoolStat { return fromPoolStat(s.Stat()) }, true
	case *sqlite.Store:
		// The same fields: a conversion, not a copy by hand.
		return func() dbPoolStat { return fromPoolStat(postgres.PoolStat(s.Stat())) }, true
	}
	return nil, false
}

func fromPoolStat(p postgres.PoolStat) dbPoolStat {
	return dbPoolStat{idle: p.Idle, inUse: p.Acquired, max: p.Max, waits: p.Waits, waited: p.WaitDuration}
}

// dbPoolCollector exports the database pool at scrape time: a pool too
// small for a slow database shows as waits long before requests fail on
// the 2 s query timeout.
type dbPoolCollector struct{ stat func() dbPoolStat }

var (
	dbPoolConns = prometheus.NewDesc("flagserver_db_pool_connections",
		"Connections in the database pool, by state (idle, in_use).", []string{"state"}, nil)
	dbPoolMax = prometheus.NewDesc("flagserver_db_pool_max_connections",
		"The most connections the database pool opens (DATABASE_MAX_CONNS or the profile's).", nil, nil)
	dbPoolWaits = prometheus.NewDesc("flagserver_db_pool_waits_total",
		"Queries that had to wait for a free database connection.", nil, nil)
	dbPoolWaited = prometheus.NewDesc("flagserver_db_pool_wait_seconds_total",
		"Time queries spent waiting for a free database connection.", nil, nil)
)

func (c dbPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dbPoolConns
	ch <- dbPoolMax
	ch <- dbPoolWaits
	ch <- dbPoolWaited
}

func (c dbPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	ch <- prometheus.MustNewConstMetric(dbPoolConns, prometheus.GaugeValue, float64(s.idle), "idle")
	ch <- prometheus.MustNewConstMetric(dbPoolConns, prometheus.GaugeValue, float64(s.inUse), "in_use")
	ch <- prometheus.MustNewConstMetric(dbPoolMax, prometheus.GaugeValue, float64(s.max))
	ch <- prometheus.MustNewConstMetric(dbPoolWaits, prometheus.CounterValue, float64(s.waits))
	ch <- prometheus.MustNewConstMetric(dbPoolWaited, prometheus.CounterValue, s.waited.Seconds())
}
