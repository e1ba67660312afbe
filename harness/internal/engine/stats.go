package engine

import (
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// recordKinds maps the threshold catalog's metric types onto the
// recorder's, so every metric a threshold may name is recorded.
func recordKinds(cat verdict.Catalog) map[string]record.Kind {
	kinds := make(map[string]record.Kind, len(cat.Metrics))
	for name, m := range cat.Metrics {
		switch m.Type {
		case verdict.Counter:
			kinds[name] = record.Counter
		case verdict.Gauge:
			kinds[name] = record.Gauge
		case verdict.Rate:
			kinds[name] = record.Rate
		case verdict.Trend:
			kinds[name] = record.Trend
		}
	}
	return kinds
}

// stats answers threshold queries from the recorder, in the catalog's
// units: the recorder keeps trends in microseconds; thresholds read them
// in milliseconds (k6's convention) or seconds.
type stats struct {
	rec *record.Recorder
	cat verdict.Catalog
	now func() time.Time
}

func (s stats) Aggregate(metric string, sel verdict.Tags, agg verdict.Agg) (float64, bool) {
	sum, ok := s.rec.Summarize(record.Selector{Metric: metric, Tags: sel.Map()})
	if !ok {
		// A counter that never incremented is 0, as in k6: "stale_reads
		// count==0" must be able to pass.
		if s.cat.Metrics[metric].Type == verdict.Counter && (agg.Kind == verdict.AggCount || agg.Kind == verdict.AggRate) {
			return 0, true
		}
		return 0, false
	}
	scale := 1.0
	if sum.Kind == record.Trend {
		switch s.cat.Metrics[metric].Unit {
		case verdict.UnitMilliseconds:
			scale = 1e-3
		case verdict.UnitSeconds:
			scale = 1e-6
		}
	}
	switch agg.Kind {
	case verdict.AggCount:
		return sum.Sum, true
	case verdict.AggRate:
		if sum.Kind == record.Rate {
			return sum.Ratio(), true
		}
		secs := s.rec.Elapsed(s.now()).Seconds()
		if secs <= 0 {
			return 0, false
		}
		return sum.Sum / secs, true
	case verdict.AggValue:
		return sum.Last, true
	case verdict.AggAvg:
		return sum.Mean() * scale, true
	case verdict.AggMin:
		return sum.Min * scale, true
	case verdict.AggMax:
		return sum.Max * scale, true
	case verdict.AggMed:
		return sum.Quantile(50) * scale, true
	case verdict.AggPercentile:
		return sum.Quantile(agg.P) * scale, true
	}
	return 0, false
}

// Stats answers threshold queries over a recorder; now is the clock that
// counter rates divide by (the run's end for a finished run).
func Stats(rec *record.Recorder, cat verdict.Catalog, now func() time.Time) verdict.Stats {
	return stats{rec: rec, cat: cat, now: now}
}
