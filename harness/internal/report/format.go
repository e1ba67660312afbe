package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// fmtValue writes a value measured in unit for people: times scaled to
// µs, ms, s or minutes, bytes in SI multiples, plain numbers as they are.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmtTime(v)
	case "s":
		return fmtTime(v * 1000)
	case "B":
		return fmtBytes(v)
	}
	return fmtNumber(v) + unit
}

// fmtTime writes a time given in milliseconds, with two decimals in the
// largest unit that keeps it at or above 1: "812.34µs", "3.21ms", "2.04s",
// "1m5.30s".
func fmtTime(ms float64) string {
	if !finite(ms) {
		return "n/a"
	}
	a := math.Abs(ms)
	switch {
	case a == 0:
		return "0s"
	case a < 1:
		return strconv.FormatFloat(ms*1000, 'f', 2, 64) + "µs"
	case a < 1000:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	case a < 60_000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	}
	sign := ""
	if ms < 0 {
		sign = "-"
	}
	m := math.Floor(a / 60_000)
	return sign + strconv.FormatFloat(m, 'f', 0, 64) + "m" + strconv.FormatFloat((a-m*60_000)/1000, 'f', 2, 64) + "s"
}

// fmtBytes writes a number of bytes in SI multiples, as k6 does: "812 B",
// "41.3 MB".
func fmtBytes(b float64) string {
	if !finite(b) {
		return "n/a"
	}
	const units = "kMGTPE"
	a := math.Abs(b)
	if a < 1000 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	i := 0
	for a >= 999.95 && i < len(units) {
		a /= 1000
		b /= 1000
		i++
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + " " + units[i-1:i] + "B"
}

// fmtNumber writes a plain number: integers whole, small fractions with
// six significant digits, anything else with two decimals.
func fmtNumber(v float64) string {
	switch a := math.Abs(v); {
	case !finite(v):
		return "n/a"
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a < 1:
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtPercent writes a fraction as a percentage: "1.25%".
func fmtPercent(frac float64) string {
	if !finite(frac) {
		return "n/a"
	}
	return strconv.FormatFloat(frac*100, 'f', 2, 64) + "%"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// stat is one aggregate of a metric, ready to show.
type stat struct {
	Name  string // "avg", "p(95)", "count"
	Value string // "3.21ms"
}

// trendStatOrder is the order of a trend's aggregates, as k6 prints them;
// any other p(N) follows in increasing N.
var trendStatOrder = []string{"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}

// trendStats returns a trend's aggregates in display order.
func trendStats(m Metric) []stat {
	var out []stat
	for _, k := range trendStatOrder {
		if v, ok := m.Values[k]; ok {
			out = append(out, stat{k, fmtValue(v, m.Unit)})
		}
	}
	var extra []string
	for k := range m.Values {
		if !slices.Contains(trendStatOrder, k) {
			extra = append(extra, k)
		}
	}
	slices.SortFunc(extra, func(a, b string) int {
		pa, oka := percentileOf(a)
		pb, okb := percentileOf(b)
		if oka && okb && pa != pb {
			return cmp.Compare(pa, pb)
		}
		return strings.Compare(a, b)
	})
	for _, k := range extra {
		out = append(out, stat{k, fmtValue(m.Values[k], m.Unit)})
	}
	return out
}

// percentileOf reads N from "p(N)".
func percentileOf(k string) (float64, bool) {
	s, ok := strings.CutPrefix(k, "p(")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ")")
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseFloat(s, 64)
	return p, err == nil
}

// brief is a one-line value of a metric, k6's compact form: "48213
// 803.55/s", "1.25%  150 out of 12000", "50  min=50 max=50", or a
// trend's aggregates, space-separated.
func brief(m Metric) string {
	if m.Kind == "trend" {
		var parts []string
		for _, s := range trendStats(m) {
			parts = append(parts, s.Name+"="+s.Value)
		}
		return strings.Join(parts, " ")
	}
	main, detail := briefParts(m)
	if main == "" || detail == "" {
		return main + detail
	}
	return main + "  " + detail
}

// briefParts splits the value of a counter, gauge or rate into its main
// figure (count, value, percentage) and the rest (rate per second,
// min and max, passes out of samples).
func briefParts(m Metric) (main, detail string) {
	v := m.Values
	has := func(k string) bool { _, ok := v[k]; return ok }
	switch m.Kind {
	case "counter":
		if has("count") {
			main = fmtValue(v["count"], m.Unit)
		}
		if has("rate") {
			detail = fmtValue(v["rate"], m.Unit) + "/s"
		}
		return main, detail
	case "rate":
		if has("rate") {
			main = fmtPercent(v["rate"])
		}
		if has("passes") && has("fails") {
			detail = fmtNumber(v["passes"]) + " out of " + fmtNumber(v["passes"]+v["fails"])
		}
		return main, detail
	case "gauge":
		if has("value") {
			main = fmtValue(v["value"], m.Unit)
		}
		var mm []string
		for _, k := range []string{"min", "max"} {
			if has(k) {
				mm = append(mm, k+"="+fmtValue(v[k], m.Unit))
			}
		}
		return main, strings.Join(mm, " ")
	}
	// A kind this package does not know: every value, sorted.
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, k+"="+fmtValue(v[k], m.Unit))
	}
	return strings.Join(parts, " "), ""
}

// observed writes a result's observed value with its unit, or "no data".
func observed(r verdict.Result) string {
	if r.NoData {
		return "no data"
	}
	return r.Threshold.Format(r.Observed)
}

// limit writes a threshold's limit with its unit: "50ms", "0.01 (1%)",
// "10/s", "5s".
func limit(t verdict.Threshold) string {
	l := t.Expr.Limit
	n := strconv.FormatFloat(l, 'g', -1, 64)
	switch {
	case t.Type == verdict.Rate:
		return n + " (" + strconv.FormatFloat(l*100, 'g', -1, 64) + "%)"
	case t.Type == verdict.Counter && t.Expr.Agg.Kind == verdict.AggRate:
		return n + t.Unit.String() + "/s"
	}
	return n + t.Unit.String()
}

// condition writes what must hold, with the unit: "p(95) < 50ms".
func condition(t verdict.Threshold) string {
	return fmt.Sprintf("%s %s %s", t.Expr.Agg, t.Expr.Op, limit(t))
}
