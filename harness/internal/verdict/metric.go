package verdict

import (
	"fmt"
	"math"
	"time"
)

// MetricType is one of k6's four metric types; it decides which
// aggregations a threshold may use.
type MetricType uint8

const (
	Counter MetricType = iota + 1 // a sum: count, rate (per second of run time)
	Gauge                         // the last value: value, min, max
	Rate                          // the fraction of non-zero samples: rate
	Trend                         // a distribution: avg, min, max, med, p(N)
)

var metricTypeNames = [...]string{Counter: "counter", Gauge: "gauge", Rate: "rate", Trend: "trend"}

func (t MetricType) String() string {
	if t >= Counter && t <= Trend {
		return metricTypeNames[t]
	}
	return fmt.Sprintf("MetricType(%d)", uint8(t))
}

// ParseMetricType parses "counter", "gauge", "rate" or "trend".
func ParseMetricType(s string) (MetricType, error) {
	for t := Counter; t <= Trend; t++ {
		if metricTypeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("verdict: unknown metric type %q (want counter, gauge, rate or trend)", s)
}

// aggs lists the aggregations of each type, in the order error messages
// suggest them.
func (t MetricType) aggs() []AggKind {
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

// Allows reports whether a is an aggregation of metrics of type t.
func (t MetricType) Allows(a Agg) bool {
	for _, k := range t.aggs() {
		if k == a.Kind {
			return true
		}
	}
	return false
}

// Unit is what a metric's values, and so a threshold's limit, are
// measured in.
type Unit uint8

const (
	UnitNone         Unit = iota // a plain number: a count, a ratio, a number of VUs
	UnitMilliseconds             // time, k6's unit for time trends
	UnitSeconds                  // time, for metrics named or documented in seconds
	UnitBytes                    // data
)

var unitSymbols = [...]string{UnitNone: "", UnitMilliseconds: "ms", UnitSeconds: "s", UnitBytes: "B"}

// String is the unit's symbol: "ms", "s", "B", or "" for UnitNone.
func (u Unit) String() string {
	if int(u) < len(unitSymbols) {
		return unitSymbols[u]
	}
	return fmt.Sprintf("Unit(%d)", uint8(u))
}

// FromDuration converts d to the unit: fractional milliseconds or seconds.
// It returns NaN for units that are not time, which a threshold reports as
// no data rather than judging a number of the wrong kind.
func (u Unit) FromDuration(d time.Duration) float64 {
	switch u {
	case UnitMilliseconds:
		return float64(d) / float64(time.Millisecond)
	case UnitSeconds:
		return d.Seconds()
	}
	return math.NaN()
}

// Metric describes a metric thresholds may name.
type Metric struct {
	Type MetricType
	Unit Unit
}

// Catalog is what Parse checks threshold keys against.
type Catalog struct {
	// Metrics by name. A threshold on a metric not listed is an error.
	Metrics map[string]Metric
	// Tags are the tag names a selector may use; nil allows any name. A
	// selector on a tag the recorder does not keep would match nothing
	// and leave the threshold without data for ever.
	Tags []string
}

// DefaultCatalog returns the metrics flagstorm records, with k6's names
// where k6 has the metric, and the tags it splits them by. Each call
// returns a new Catalog the caller may extend.
//
// http_req_duration is measured from the request's intended start in the
// open model (no coordinated omission) and http_req_service_time from its
// actual send; in the closed model the two are equal.
func DefaultCatalog() Catalog {
	return Catalog{
		Metrics: map[string]Metric{
			"http_reqs":             {Counter, UnitNone},
			"http_req_duration":     {Trend, UnitMilliseconds},
			"http_req_waiting":      {Trend, UnitMilliseconds},
			"http_req_service_time": {Trend, UnitMilliseconds},
			"http_req_failed":       {Rate, UnitNone},
			"checks":                {Rate, UnitNone},
			"iterations":            {Counter, UnitNone},
			"dropped_iterations":    {Counter, UnitNone},
			"late_iterations":       {Counter, UnitNone},
			"vus":                   {Gauge, UnitNone},
			"vus_max":               {Gauge, UnitNone},
			"stale_reads":           {Counter, UnitNone},
			"staleness_seconds":     {Trend, UnitSeconds},
			"lost_writes":           {Counter, UnitNone},
			"recovery_time":         {Gauge, UnitSeconds},
			"target_ready_time":     {Gauge, UnitMilliseconds},
			"data_received":         {Counter, UnitBytes},
			"data_sent":             {Counter, UnitBytes},
		},
		// The tags the recorder splits series by (record.Tags).
		Tags: []string{"scenario", "name", "method", "status", "phase", "source"},
	}
}
