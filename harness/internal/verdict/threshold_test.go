package verdict

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/metric"
)

func specs(exprs ...string) []Spec {
	out := make([]Spec, len(exprs))
	for i, e := range exprs {
		out[i] = Spec{Threshold: e}
	}
	return out
}

func TestParseScenarioThresholds(t *testing.T) {
	in := map[string][]Spec{
		"http_req_duration":                              specs("p(95)<50"),
		"http_req_duration{phase:outage}":                specs("p(95)<50", "p(99)<100"),
		"http_req_duration{name:get,source:db-fallback}": specs("avg<20"),
		"http_req_failed":                                specs("rate==0"),
		"stale_reads":                                    specs("count==0"),
		"recovery_time":                                  specs("value<5"),
		"checks":                                         {{Threshold: "rate>0.99", AbortOnFail: true, DelayAbortEval: 10 * time.Second}},
	}
	got, err := Parse(in, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	want := []Threshold{
		{Key: "checks", Metric: "checks", Type: Rate, Expr: Expr{Agg{Kind: AggRate}, OpGreater, 0.99}, AbortOnFail: true, DelayAbortEval: 10 * time.Second},
		{Key: "http_req_duration", Metric: "http_req_duration", Type: Trend, Unit: UnitMilliseconds, Expr: Expr{pct(95), OpLess, 50}},
		{Key: "http_req_duration{name:get,source:db-fallback}", Metric: "http_req_duration", Tags: Tags{{Name: "name", Value: "get"}, {Name: "source", Value: "db-fallback"}},
			Type: Trend, Unit: UnitMilliseconds, Expr: Expr{Agg{Kind: AggAvg}, OpLess, 20}},
		{Key: "http_req_duration{phase:outage}", Metric: "http_req_duration", Tags: Tags{{Name: "phase", Value: "outage"}},
			Type: Trend, Unit: UnitMilliseconds, Expr: Expr{pct(95), OpLess, 50}},
		{Key: "http_req_duration{phase:outage}", Index: 1, Metric: "http_req_duration", Tags: Tags{{Name: "phase", Value: "outage"}},
			Type: Trend, Unit: UnitMilliseconds, Expr: Expr{pct(99), OpLess, 100}},
		{Key: "http_req_failed", Metric: "http_req_failed", Type: Rate, Expr: Expr{Agg{Kind: AggRate}, OpEq, 0}},
		{Key: "recovery_time", Metric: "recovery_time", Type: Gauge, Unit: UnitSeconds, Expr: Expr{Agg{Kind: AggValue}, OpLess, 5}},
		{Key: "stale_reads", Metric: "stale_reads", Type: Counter, Expr: Expr{Agg{Kind: AggCount}, OpEq, 0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseOrder(t *testing.T) {
	// Two spellings of one submetric sort together, by key as written,
	// then by index.
	in := map[string][]Spec{
		"http_req_duration{ phase : outage }": specs("p(99)<100", "avg<10"),
		"http_req_duration{phase:outage}":     specs("p(95)<50"),
		"http_req_duration":                   specs("max<1000"),
		"vus":                                 specs("value>0"),
		"checks":                              specs("rate>0.9"),
	}
	got, err := Parse(in, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, th := range got {
		lines = append(lines, fmt.Sprintf("%s %d %s", th.Key, th.Index, th))
	}
	want := []string{
		"checks 0 checks rate>0.9",
		"http_req_duration 0 http_req_duration max<1000",
		"http_req_duration{ phase : outage } 0 http_req_duration{phase:outage} p(99)<100",
		"http_req_duration{ phase : outage } 1 http_req_duration{phase:outage} avg<10",
		"http_req_duration{phase:outage} 0 http_req_duration{phase:outage} p(95)<50",
		"vus 0 vus value>0",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestParseAggregationByType checks every aggregation against every
// metric type.
func TestParseAggregationByType(t *testing.T) {
	cat := Catalog{Metrics: map[string]Metric{
		"a_counter": {Type: Counter}, "a_gauge": {Type: Gauge}, "a_rate": {Type: Rate}, "a_trend": {Type: Trend},
	}}
	legal := map[string][]string{
		"a_counter": {"count", "rate"},
		"a_gauge":   {"value", "min", "max"},
		"a_rate":    {"rate"},
		"a_trend":   {"avg", "min", "max", "med", "p(N)"},
	}
	choices := map[string]string{
		"a_counter": "count or rate",
		"a_gauge":   "value, min or max",
		"a_rate":    "rate",
		"a_trend":   "avg, min, max, med or p(N)",
	}
	aggs := map[string]string{
		"count": "count", "rate": "rate", "value": "value", "avg": "avg",
		"min": "min", "max": "max", "med": "med", "p(N)": "p(99.9)",
	}
	for metric, typ := range cat.Metrics {
		for kind, agg := range aggs {
			t.Run(metric+"/"+kind, func(t *testing.T) {
				expr := agg + "<1"
				_, err := Parse(map[string][]Spec{metric: specs(expr)}, cat)
				if slices.Contains(legal[metric], kind) {
					if err != nil {
						t.Errorf("%s on a %s: %v", expr, typ.Type, err)
					}
					return
				}
				want := fmt.Sprintf("threshold %q on %s: %s is not an aggregation of a %s metric (use %s)",
					expr, metric, agg, typ.Type, choices[metric])
				if err == nil || err.Error() != want {
					t.Errorf("%s on a %s: error %v, want %q", expr, typ.Type, err, want)
				}
			})
		}
	}
}

func TestParseErrors(t *testing.T) {
	in := map[string][]Spec{
		"stale_reads":                     specs("avg<5", "count==0"),
		"http_req_duraton":                specs("p(95)<50"),
		"http_req_duration{phsae:outage}": specs("p(95)<50"),
		"nonsense_metric":                 specs("p95<5"),
		"http_req_failed":                 {{Threshold: "rate<0.01", DelayAbortEval: time.Second}},
		"http_reqs":                       nil,
		"http_req_waiting{phase:":         specs("avg<1"),
		"checks":                          specs("rate>0.99", "rate>"),
	}
	_, err := Parse(in, DefaultCatalog())
	if err == nil {
		t.Fatal("Parse accepted bad thresholds")
	}
	var got []Error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *Error
		if !errors.As(e, &pe) {
			t.Fatalf("%v is not an *Error", e)
		}
		got = append(got, *pe)
	}
	want := []Error{
		{Key: "checks", Index: 1, Expr: "rate>", Msg: "missing limit after rate>: write a number, as in rate>50"},
		{Key: "http_req_duration{phsae:outage}", Index: -1, Msg: `unknown tag "phsae" (did you mean phase?)`},
		{Key: "http_req_duraton", Index: -1, Msg: `unknown metric "http_req_duraton" (did you mean http_req_duration?)`},
		{Key: "http_req_failed", Index: 0, Expr: "rate<0.01", Msg: "delayAbortEval 1s has no effect without abortOnFail: true"},
		{Key: "http_req_waiting{phase:", Index: -1, Msg: "unbalanced braces: '{' without '}'"},
		{Key: "http_reqs", Index: -1, Msg: `no threshold expressions: write at least one, such as "count>0"`},
		{Key: "nonsense_metric", Index: -1, Msg: `unknown metric "nonsense_metric" (known: checks, data_received, data_sent, dropped_iterations, ` +
			`http_req_duration, http_req_failed, http_req_service_time, http_req_waiting, http_reqs, iterations, late_iterations, ` +
			`lost_writes, nonmonotonic_reads, recovery_time, stale_reads, staleness_seconds, target_ready_time, vus, vus_max)`},
		{Key: "nonsense_metric", Index: 0, Expr: "p95<5", Msg: `unknown aggregation "p95": write percentiles as p(95)`},
		{Key: "stale_reads", Index: 0, Expr: "avg<5", Msg: "avg is not an aggregation of a counter metric (use count or rate)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		`threshold "avg<5" on stale_reads: avg is not an aggregation of a counter metric (use count or rate)`,
		`threshold key "http_req_duraton": unknown metric "http_req_duraton" (did you mean http_req_duration?)`,
	} {
		if !strings.Contains(err.Error(), line) {
			t.Errorf("error text lacks %q:\n%s", line, err)
		}
	}
}

func TestParseCatalogTags(t *testing.T) {
	cat := Catalog{Metrics: map[string]Metric{"m": {Type: Trend}}}
	if _, err := Parse(map[string][]Spec{"m{anything:x}": specs("avg<1")}, cat); err != nil {
		t.Errorf("nil Catalog.Tags should allow any tag: %v", err)
	}
	cat.Tags = []string{"phase", "source"}
	_, err := Parse(map[string][]Spec{"m{zzz:x}": specs("avg<1")}, cat)
	if want := `unknown tag "zzz": thresholds select on phase or source`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	_, err = Parse(map[string][]Spec{"x": specs("avg<1")}, Catalog{})
	if want := "the catalog has none"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestDefaultCatalog: the view holds exactly metric's catalog.
func TestDefaultCatalog(t *testing.T) {
	cat := DefaultCatalog()
	want := map[string]Metric{}
	for _, d := range metric.All() {
		want[d.Name] = Metric{d.Kind, d.Unit}
	}
	if diff := cmp.Diff(want, cat.Metrics); diff != "" {
		t.Errorf("DefaultCatalog().Metrics (-metric +view):\n%s", diff)
	}
	if diff := cmp.Diff(metric.TagNames(), cat.Tags); diff != "" {
		t.Errorf("DefaultCatalog().Tags (-metric +view):\n%s", diff)
	}
	if m := cat.Metrics["http_req_duration"]; m != (Metric{Trend, UnitMilliseconds}) {
		t.Errorf("http_req_duration = %+v, want a trend in ms", m)
	}
	cat.Metrics["custom"] = Metric{Type: Gauge}
	cat.Tags[0] = "changed"
	if c := DefaultCatalog(); c.Tags[0] == "changed" {
		t.Error("DefaultCatalog shares its tags between calls")
	} else if _, ok := c.Metrics["custom"]; ok {
		t.Error("DefaultCatalog shares its map between calls")
	}
}

// TestAggregationsByKind: every kind has aggregations, and the example of
// every catalogued metric is one of its kind's.
func TestAggregationsByKind(t *testing.T) {
	for _, d := range metric.All() {
		e, err := ParseExpr(d.Example)
		if err != nil {
			t.Errorf("%s: example %q: %v", d.Name, d.Example, err)
			continue
		}
		if !allows(d.Kind, e.Agg) {
			t.Errorf("%s: example %q is not an aggregation of a %s", d.Name, d.Example, d.Kind)
		}
	}
	if aggsOf(MetricType(0)) != nil {
		t.Error("an unknown kind has aggregations")
	}
}
