package metric

import (
	"fmt"
	"math"
	"time"
)

// Kind is one of k6's four metric types; it decides what a sample means
// and which aggregations a threshold may use.
type Kind uint8

const (
	KindCounter Kind = iota + 1 // a sum: count, rate (per second of run time)
	KindGauge                   // the last value: value, min, max
	KindRate                    // the fraction of non-zero samples: rate
	KindTrend                   // a distribution: avg, min, max, med, p(N)
)

var kindNames = [...]string{KindCounter: "counter", KindGauge: "gauge", KindRate: "rate", KindTrend: "trend"}

// String is k6's name of the type: "counter", "gauge", "rate" or "trend".
func (k Kind) String() string { return enumName(kindNames[:], KindCounter, k, "Kind") }

// ParseKind parses "counter", "gauge", "rate" or "trend".
func ParseKind(s string) (Kind, error) {
	if k, ok := parseEnum(kindNames[:], KindCounter, s); ok {
		return k, nil
	}
	return 0, fmt.Errorf("metric: unknown metric type %q (want counter, gauge, rate or trend)", s)
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
func (u Unit) String() string { return enumName(unitSymbols[:], UnitNone, u, "Unit") }

// ParseUnit parses a unit's symbol: "", "ms", "s" or "B".
func ParseUnit(s string) (Unit, error) {
	if u, ok := parseEnum(unitSymbols[:], UnitNone, s); ok {
		return u, nil
	}
	return 0, fmt.Errorf("metric: unknown unit %q (want ms, s, B or nothing)", s)
}

// enumName is v's name in names, whose valid values run from first to
// the end, or typ(v) for any other value.
func enumName[T ~uint8](names []string, first, v T, typ string) string {
	if v >= first && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// parseEnum is the value from first on whose name in names is s.
func parseEnum[T ~uint8](names []string, first T, s string) (T, bool) {
	for v := int(first); v < len(names); v++ {
		if names[v] == s {
			return T(v), true
		}
	}
	return 0, false
}

// IsTime reports whether the unit measures time.
func (u Unit) IsTime() bool { return u == UnitMilliseconds || u == UnitSeconds }

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
