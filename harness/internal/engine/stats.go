package engine

import (
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
)

// stats answers threshold queries from the recorder, whose summaries are
// in each metric's catalog unit already (milliseconds for http_req_*,
// seconds for staleness_seconds): no conversion here.
type stats struct {
	rec *record.Recorder
	now func() time.Time
}

func (s stats) Aggregate(name string, sel verdict.Tags, agg verdict.Agg) (float64, bool) {
	sum, ok := s.rec.Summarize(record.Selector{Metric: name, Tags: sel.Map()})
	if !ok {
		// A counter that never incremented is 0, as in k6: "stale_reads
		// count==0" must be able to pass.
		if d, known := metric.Lookup(name); known && d.Kind == metric.KindCounter && (agg.Kind == verdict.AggCount || agg.Kind == verdict.AggRate) {
			return 0, true
		}
		return 0, false
	}
	switch agg.Kind {
	case verdict.AggCount:
		return sum.Sum, true
	case verdict.AggRate:
		if sum.Kind == metric.KindRate {
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
		return sum.Mean(), true
	case verdict.AggMin:
		return sum.Min, true
	case verdict.AggMax:
		return sum.Max, true
	case verdict.AggMed:
		return sum.Quantile(50), true
	case verdict.AggPercentile:
		return sum.Quantile(agg.P), true
	}
	return 0, false
}

// Stats answers threshold queries over a recorder; now is the clock that
// counter rates divide by (the run's end for a finished run). cat is not
// consulted: metric's catalog is (see stats.cat).
func Stats(rec *record.Recorder, now func() time.Time) verdict.Stats {
	return stats{rec: rec, now: now}
}
