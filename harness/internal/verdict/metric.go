package verdict

import (
	"github.com/flagstorm/flagstorm/internal/metric"
)

// MetricType is a metric's kind, k6's four types; it decides which
// aggregations a threshold may use. It is metric.Kind under the name
// this package's callers use.
type MetricType = metric.Kind

// The kinds, as metric defines them.
const (
	Counter = metric.KindCounter // a sum: count, rate (per second of run time)
	Gauge   = metric.KindGauge   // the last value: value, min, max
	Rate    = metric.KindRate    // the fraction of non-zero samples: rate
	Trend   = metric.KindTrend   // a distribution: avg, min, max, med, p(N)
)

// Unit is what a metric's values, and so a threshold's limit, are
// measured in: metric.Unit.
type Unit = metric.Unit

// The units, as metric defines them.
const (
	UnitNone         = metric.UnitNone
	UnitMilliseconds = metric.UnitMilliseconds
	UnitSeconds      = metric.UnitSeconds
	UnitBytes        = metric.UnitBytes
)

// aggsOf lists the aggregations of metrics of type t, in the order error
// messages suggest them.
func aggsOf(t MetricType) []AggKind {
	switch t {
	case Counter:
		return []AggKind{AggCount, AggRate}
	case Gauge:
		return []AggKind{AggValue, AggMin, AggMax}
	case Rate:
		return []AggKind{AggRate}
	case Trend:
		return []AggKind{AggAvg, AggMin, AggMax, AggMed, AggPercentile}
	}
	return nil
}

// allows reports whether a is an aggregation of metrics of type t.
func allows(t MetricType, a Agg) bool {
	for _, k := range aggsOf(t) {
		if k == a.Kind {
			return true
		}
	}
	return false
}

// Metric is what Parse needs to know of a metric: a view of its
// metric.Desc.
type Metric struct {
	Type MetricType
	Unit Unit
}

// Catalog is what Parse checks threshold keys against. The one catalog
// is metric's; DefaultCatalog is its view, and a Catalog built by hand
// serves tests of the rules by type.
type Catalog struct {
	// Metrics by name. A threshold on a metric not listed is an error.
	Metrics map[string]Metric
	// Tags are the tag names a selector may use; nil allows any name. A
	// selector on a tag the recorder does not keep would match nothing
	// and leave the threshold without data for ever.
	Tags []string
}

// DefaultCatalog returns metric's catalog as a Catalog: every metric
// flagstorm records and the tags it splits them by (metric.All,
// metric.TagNames). Each call returns a new Catalog.
func DefaultCatalog() Catalog {
	all := metric.All()
	cat := Catalog{Metrics: make(map[string]Metric, len(all)), Tags: metric.TagNames()}
	for _, d := range all {
		cat.Metrics[d.Name] = Metric{Type: d.Kind, Unit: d.Unit}
	}
	return cat
}
