package report

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// WriteJSON writes summary.json: the shape of k6's end-of-test summary
// (what handleSummary receives), so tools that read k6 summaries read
// ours, plus a "flagstorm" object with what k6 has no place for.
//
//	{
//	  "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": [], "checks": []},
//	  "state": {"testRunDurationMs": 60000},
//	  "metrics": {
//	    "http_req_duration": {
//	      "type": "trend", "contains": "time", "unit": "ms",
//	      "values": {"avg": 9.84, "max": 2013.77, "med": 2.2, "min": 0.41, "p(90)": 4.9, "p(95)": 7.12, "p(99)": 312.4},
//	      "thresholds": {"p(95)<50": {"ok": true, "verdict": "pass"}}
//	    },
//	    "http_req_duration{phase:outage}": {..., "thresholds": {"p(95)<50": {"ok": false, "verdict": "fail"}}},
//	    "http_req_failed": {"type": "rate", "contains": "default", "unit": "", "values": {"fails": 167119, "passes": 50, "rate": 0.000299}},
//	    "http_reqs": {"type": "counter", "contains": "default", "unit": "", "values": {"count": 167169, "rate": 2786.15}},
//	    "vus": {"type": "gauge", "contains": "default", "unit": "", "values": {"max": 50, "min": 50, "value": 50}}
//	  },
//	  "flagstorm": {
//	    "schemaVersion": 1,
//	    "scenario": "redis-outage", "description": "...", "profile": "seed", "targetURL": "http://...",
//	    "start": "2025-06-03T09:14:07Z", "durationMs": 60000,
//	    "verdict": "fail", "exitCode": 1, "abort": "", "partial": false,
//	    "phases": [{"name": "outage", "startMs": 20000, "endMs": 40000, "fault": "...",
//	                "applied": "2025-06-03T09:14:27.004Z", "removed": "2025-06-03T09:14:47.002Z"}],
//	    "thresholds": [{"key": "http_req_duration{phase:outage}", "submetric": "http_req_duration{phase:outage}",
//	                    "expr": "p(95)<50", "verdict": "fail", "observed": 812, "observedText": "812.00ms",
//	                    "limit": 50, "unit": "ms", "abortOnFail": false}],
//	    "series": [{"second": 0, "requests": 4200, "failed": 0, "p50Ms": 2.1, "p95Ms": 6.2, "p99Ms": 11.5}],
//	    "notes": ["..."]
//	  }
//	}
//
// Metrics are keyed by metric and selector, as k6 keys submetrics; the
// values are Metric.Values in the metric's unit, which "unit" names
// ("ms", "s", "B" or ""). "contains" is k6's: "time" only for
// milliseconds, which is what k6 tools assume of time; a metric in
// seconds (staleness_seconds, recovery_time) says "default" and "unit":
// "s". Every threshold appears under its submetric's "thresholds", keyed
// by its canonical expression, with k6's "ok" (true only for a pass: a
// threshold without data is not ok, where k6 would call it ok) and
// flagstorm's "verdict" ("pass", "fail" or "nodata"); a submetric with
// thresholds but no samples is listed with empty values.
//
// "partial" is true for a run cut short by a signal: the report holds what
// was recorded until then, "partialReason" says where ("interrupted in
// phase outage at t=12.3s of 60s planned (hangup signal received)"), and
// the verdict is "interrupted", never "pass", whatever the thresholds
// (each shown as measured).
//
// In "flagstorm": times are RFC 3339 with nanoseconds, durations and
// offsets are milliseconds (the "Ms" suffix); "key" is the threshold key
// as the scenario wrote it and "submetric" its canonical form (the key
// of "metrics"); "observed" is null when there was no data, "start",
// "applied" and "removed" when unknown or never happened; "series" has
// one point per second of the run by intended start. A value that is not
// a finite number is null. Keys of maps are sorted, so equal runs give
// equal bytes; "<" and ">" are written as they are, not escaped.
func WriteJSON(w io.Writer, r Run) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(summaryJSON(r))
}

// SchemaVersion is the version of the "flagstorm" object of summary.json.
// It changes when a field changes meaning or goes away, not when one is
// added.
const SchemaVersion = 1

type jsonSummary struct {
	RootGroup jsonGroup             `json:"root_group"`
	State     jsonState             `json:"state"`
	Metrics   map[string]jsonMetric `json:"metrics"`
	Flagstorm jsonFlagstorm         `json:"flagstorm"`
}

type jsonGroup struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	ID     string `json:"id"`
	Groups []any  `json:"groups"`
	Checks []any  `json:"checks"`
}

type jsonState struct {
	TestRunDurationMs number `json:"testRunDurationMs"`
}

type jsonMetric struct {
	Type       string                   `json:"type"`
	Contains   string                   `json:"contains"`
	Unit       string                   `json:"unit"`
	Values     map[string]number        `json:"values"`
	Thresholds map[string]jsonThreshold `json:"thresholds,omitempty"`
}

type jsonThreshold struct {
	OK      bool            `json:"ok"`
	Verdict verdict.Verdict `json:"verdict"`
}

type jsonFlagstorm struct {
	SchemaVersion int                 `json:"schemaVersion"`
	Scenario      string              `json:"scenario"`
	Description   string              `json:"description"`
	Profile       string              `json:"profile"`
	TargetURL     string              `json:"targetURL"`
	Start         *time.Time          `json:"start"`
	DurationMs    number              `json:"durationMs"`
	Verdict       string              `json:"verdict"`
	ExitCode      int                 `json:"exitCode"`
	Abort         string              `json:"abort"`
	Partial       bool                `json:"partial"`
	PartialReason string              `json:"partialReason,omitempty"`
	Phases        []jsonPhase         `json:"phases"`
	Thresholds    []jsonThresholdFull `json:"thresholds"`
	Series        []jsonPoint         `json:"series"`
	Notes         []string            `json:"notes"`
}

type jsonPhase struct {
	Name    string     `json:"name"`
	StartMs number     `json:"startMs"`
	EndMs   number     `json:"endMs"`
	Fault   string     `json:"fault"`
	Applied *time.Time `json:"applied"`
	Removed *time.Time `json:"removed"`
}

type jsonThresholdFull struct {
	Key          string          `json:"key"`
	Submetric    string          `json:"submetric"`
	Expr         string          `json:"expr"`
	Verdict      verdict.Verdict `json:"verdict"`
	Observed     *number         `json:"observed"`
	ObservedText string          `json:"observedText"`
	Limit        number          `json:"limit"`
	Unit         string          `json:"unit"`
	AbortOnFail  bool            `json:"abortOnFail"`
	// Reason says why an inconclusive threshold could not be judged.
	Reason string `json:"reason,omitempty"`
}

type jsonPoint struct {
	Second   int    `json:"second"`
	Requests int64  `json:"requests"`
	Failed   int64  `json:"failed"`
	P50Ms    number `json:"p50Ms"`
	P95Ms    number `json:"p95Ms"`
	P99Ms    number `json:"p99Ms"`
}

// number is a float64 that writes null when it is not finite, which
// encoding/json would refuse.
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

func (n *number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = number(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = number(f)
	return err
}

func ms(d time.Duration) number { return number(float64(d) / float64(time.Millisecond)) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// contains is k6's "contains" of a metric in unit.
func contains(unit string) string {
	switch unit {
	case "ms":
		return "time"
	case "B":
		return "data"
	}
	return "default"
}

func summaryJSON(r Run) jsonSummary {
	out := jsonSummary{
		// k6's root group: no groups or checks; the id is k6's, the MD5
		// of the empty path.
		RootGroup: jsonGroup{ID: "d41d8cd98f00b204e9800998ecf8427e", Groups: []any{}, Checks: []any{}},
		State:     jsonState{TestRunDurationMs: ms(r.Duration)},
		Metrics:   map[string]jsonMetric{},
	}
	for _, m := range r.Metrics {
		jm := jsonMetric{Type: m.Kind, Contains: contains(m.Unit), Unit: m.Unit, Values: map[string]number{}}
		for k, v := range m.Values {
			jm.Values[k] = number(v)
		}
		out.Metrics[m.Key()] = jm
	}
	for _, res := range r.Thresholds.Results {
		t := res.Threshold
		key := t.Submetric()
		jm, ok := out.Metrics[key]
		if !ok {
			unit := t.Unit.String()
			jm = jsonMetric{Type: t.Type.String(), Contains: contains(unit), Unit: unit, Values: map[string]number{}}
		}
		if jm.Thresholds == nil {
			jm.Thresholds = map[string]jsonThreshold{}
		}
		expr := t.Expr.String()
		jt := jsonThreshold{OK: res.Verdict() == verdict.Pass, Verdict: res.Verdict()}
		if prev, dup := jm.Thresholds[expr]; dup {
			// The same expression twice on one submetric (keys written
			// differently): the worse judgement stands.
			jt = worse(prev, jt)
		}
		jm.Thresholds[expr] = jt
		out.Metrics[key] = jm
	}

	f := jsonFlagstorm{
		SchemaVersion: SchemaVersion,
		Scenario:      r.Scenario,
		Description:   r.Description,
		Profile:       r.Profile,
		TargetURL:     r.TargetURL,
		Start:         timePtr(r.Start),
		DurationMs:    ms(r.Duration),
		Verdict:       r.verdict(),
		ExitCode:      r.ExitCode,
		Abort:         r.Abort,
		Partial:       r.Partial,
		PartialReason: r.PartialReason,
		Phases:        []jsonPhase{},
		Thresholds:    []jsonThresholdFull{},
		Series:        []jsonPoint{},
		Notes:         append([]string{}, r.Notes...),
	}
	for _, p := range r.Phases {
		f.Phases = append(f.Phases, jsonPhase{
			Name: p.Name, StartMs: ms(p.Start), EndMs: ms(p.End), Fault: p.Fault,
			Applied: timePtr(p.Applied), Removed: timePtr(p.Removed),
		})
	}
	for _, res := range r.Thresholds.Results {
		t := res.Threshold
		jt := jsonThresholdFull{
			Key: t.Key, Submetric: t.Submetric(), Expr: t.Expr.String(), Verdict: res.Verdict(),
			ObservedText: observed(res), Limit: number(t.Expr.Limit), Unit: t.Unit.String(),
			AbortOnFail: t.AbortOnFail, Reason: res.Reason,
		}
		if !res.NoData {
			o := number(res.Observed)
			jt.Observed = &o
		}
		f.Thresholds = append(f.Thresholds, jt)
	}
	for _, p := range r.Series {
		f.Series = append(f.Series, jsonPoint{
			Second: p.Second, Requests: p.Requests, Failed: p.Failed,
			P50Ms: ms(p.P50), P95Ms: ms(p.P95), P99Ms: ms(p.P99),
		})
	}
	out.Flagstorm = f
	return out
}

// worse returns the judgement that counts against the run more: a
// failure over no data over a pass.
func worse(a, b jsonThreshold) jsonThreshold {
	rank := func(v verdict.Verdict) int {
		switch v {
		case verdict.Fail:
			return 2
		case verdict.NoData:
			return 1
		}
		return 0
	}
	if rank(b.Verdict) > rank(a.Verdict) {
		return b
	}
	return a
}
