package k6_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/k6"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// The fixtures follow k6's published --out json format, field by field:
// https://grafana.com/docs/k6/latest/results-output/real-time/json/ (and
// https://k6.io/docs/results-visualization/json/ before it). Each line is
// an object with "type" ("Metric" or "Point"), "metric" (the name) and
// "data": for a Metric its "type" (counter, gauge, rate, trend),
// "contains" ("time" for timings, else "default" or "data"), "tainted",
// "thresholds" and "submetrics"; for a Point its "time" (RFC 3339 with
// nanoseconds and the zone), "value" (milliseconds for time metrics) and
// "tags" (tag name to value, or null).
type fixture struct {
	lines []string
}

func (f *fixture) metric(name, typ, contains string) {
	f.add(map[string]any{"type": "Metric", "metric": name, "data": map[string]any{
		"type": typ, "contains": contains, "tainted": nil, "thresholds": []string{}, "submetrics": nil,
	}})
}

func (f *fixture) point(name string, at time.Time, value float64, tags map[string]string) {
	var t any // null when there are no tags, as k6 writes vus
	if tags != nil {
		t = tags
	}
	f.add(map[string]any{"type": "Point", "metric": name, "data": map[string]any{
		"time": at.Format(time.RFC3339Nano), "value": value, "tags": t,
	}})
}

func (f *fixture) add(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	f.lines = append(f.lines, string(b))
}

// request writes one HTTP request's samples as k6 emits them: http_reqs,
// the timings (http_req_duration among them), http_req_failed, all with
// the request's tags and expected_response.
func (f *fixture) request(end time.Time, ms float64, tags map[string]string, failed bool) {
	t := map[string]string{"proto": "HTTP/1.1", "expected_response": "true", "group": ""}
	if failed {
		t["expected_response"] = "false"
	}
	for k, v := range tags {
		t[k] = v
	}
	f.point("http_reqs", end, 1, t)
	f.point("http_req_duration", end, ms, t)
	f.point("http_req_blocked", end, 0.01, t)
	f.point("http_req_waiting", end, ms*0.9, t)
	fail := 0.0
	if failed {
		fail = 1
	}
	f.point("http_req_failed", end, fail, t)
}

func (f *fixture) write(t *testing.T, gz bool) string {
	t.Helper()
	data := []byte(strings.Join(f.lines, "\n") + "\n")
	name := "results.json"
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		data, name = b.Bytes(), "results.gz"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var t0 = time.Date(2026, 12, 8, 10, 0, 0, 0, time.FixedZone("", 2*3600))

// sample is a k6 run of redis-outage's shape: readers in three phases,
// the control scenario's Toxiproxy calls, metrics flagstorm does not
// judge, and tags with odd characters.
func sample() *fixture {
	f := &fixture{}
	f.metric("vus", "gauge", "default")
	f.point("vus", t0, 5, nil)
	f.metric(k6.RunStartMetric, "gauge", "default")
	f.point(k6.RunStartMetric, t0.Add(2*time.Second), float64(t0.Add(time.Second).UnixMilli()), map[string]string{"scenario": "readers"})
	f.metric("http_reqs", "counter", "default")
	f.metric("http_req_duration", "trend", "time")
	f.metric("my_custom_trend", "trend", "time")
	zero := t0.Add(time.Second)
	for s := range 60 {
		phase := "steady"
		switch {
		case s >= 40:
			phase = "recovery"
		case s >= 20:
			phase = "outage"
		}
		for i := range 10 {
			end := zero.Add(time.Duration(s)*time.Second + time.Duration(i*90)*time.Millisecond + 5*time.Millisecond)
			ms := 2.0 + float64(i)/10
			if phase == "outage" {
				ms = 40 + float64(i)
			}
			tags := map[string]string{"scenario": "readers", "name": "get", "method": "GET", "status": "200", "phase": phase,
				"url": "http://127.0.0.1:8080/api/config/flags/flag-001?environment=production", "traffic": "load",
				"check": "expected status", "weird tag": `quote" and ü and {braces}, commas:colons`}
			f.request(end, ms, tags, false)
			f.point("checks", end, 1, map[string]string{"scenario": "readers", "name": "get", "phase": phase, "check": "expected status"})
			f.point("iterations", end, 1, map[string]string{"scenario": "readers", "traffic": "load"})
			f.point("my_custom_trend", end, 1, map[string]string{"scenario": "readers"})
		}
	}
	// A request whose name is k6's default (its URL), and one failed.
	f.request(zero.Add(59*time.Second), 3, map[string]string{"scenario": "readers", "name": "http://127.0.0.1:8080/healthz", "method": "GET", "status": "0", "phase": "recovery"}, true)
	ctl := func(at time.Duration, step, phase string) {
		tags := map[string]string{"scenario": k6.ControlScenario, "traffic": "control", "step": step, "method": "POST", "status": "200"}
		if phase != "" {
			tags["phase"] = phase
		}
		f.request(zero.Add(at), 1, tags, false)
	}
	ctl(-500*time.Millisecond, "reset", "")
	ctl(20*time.Second+2*time.Millisecond, "apply", "outage")
	ctl(20*time.Second+3*time.Millisecond, "apply", "outage")
	ctl(40*time.Second+2*time.Millisecond, "remove", "outage")
	ctl(40*time.Second+4*time.Millisecond, "remove", "outage")
	f.point("dropped_iterations", zero.Add(30*time.Second), 3, map[string]string{"scenario": "readers"})
	return f
}

func TestReadResults(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		t.Run(name, func(t *testing.T) {
			res, err := k6.ReadResults(sample().write(t, gz))
			if err != nil {
				t.Fatal(err)
			}
			zero := t0.Add(time.Second)
			if !res.Start.Equal(zero) || res.StartFrom != k6.RunStartMetric {
				t.Errorf("start %v from %s, want %v from the run-start gauge", res.Start, res.StartFrom, zero)
			}
			rec := res.Recorder
			sum := func(metric string, tags map[string]string) record.Summary {
				s, _ := rec.Summarize(record.Selector{Metric: metric, Tags: tags})
				return s
			}
			if got := sum("http_reqs", nil).Sum; got != 601 {
				t.Errorf("http_reqs = %v, want 601 (the control requests count in no metric)", got)
			}
			if got := sum("http_req_duration", map[string]string{"phase": "outage"}); got.Count != 200 || math.Abs(got.Quantile(95)-49) > 0.1 {
				t.Errorf("http_req_duration{phase:outage}: %d samples, p95 %v; want 200 and 49", got.Count, got.Quantile(95))
			}
			if got := sum("http_req_service_time", map[string]string{"phase": "steady"}).Count; got != 200 {
				t.Errorf("http_req_service_time{phase:steady} has %d samples, want 200 (k6 times from the send)", got)
			}
			if got := sum("http_req_failed", nil); got.Sum != 1 || got.Count != 601 {
				t.Errorf("http_req_failed: %v of %v", got.Sum, got.Count)
			}
			if got := sum("http_reqs", map[string]string{"name": "get"}).Sum; got != 600 {
				t.Errorf("http_reqs{name:get} = %v (the URL-named request has no name)", got)
			}
			if got := sum("checks", map[string]string{"phase": "recovery"}); got.Count != 200 || got.Ratio() != 1 {
				t.Errorf("checks{phase:recovery}: %+v", got)
			}
			if got := sum("dropped_iterations", nil).Sum; got != 3 {
				t.Errorf("dropped_iterations = %v", got)
			}
			if res.Ignored["http_req_blocked"] != 601 || res.Ignored["my_custom_trend"] != 600 || res.Ignored["vus"] != 0 {
				t.Errorf("ignored %v", res.Ignored)
			}
			if res.Sources {
				t.Error("no request has a source tag")
			}
			buckets := rec.Buckets()
			if len(buckets) != 60 || buckets[25].Requests != 10 || buckets[58].Failed != 1 { // the failed request started at 58.997 s
				t.Errorf("%d buckets; second 25: %d requests; second 58: %d failed", len(buckets), buckets[25].Requests, buckets[58].Failed)
			}
			spec, err := scenarios.BuiltinNamed("redis-outage")
			if err != nil {
				t.Fatal(err)
			}
			ev := res.Events(spec)
			if len(ev) != 3 || ev[0].Applied.IsZero() != true || !ev[1].Applied.Equal(zero.Add(20*time.Second+2*time.Millisecond)) || !ev[1].Removed.Equal(zero.Add(40*time.Second+4*time.Millisecond)) {
				t.Errorf("events %+v", ev)
			}
			if notes := strings.Join(res.Notes(), "\n"); !strings.Contains(notes, "http_req_blocked (601)") || !strings.Contains(notes, "5 control request(s)") {
				t.Errorf("notes:\n%s", notes)
			}
		})
	}
}

// Without the exported script's run-start gauge, the run starts at the
// earliest sample.
func TestReadResultsWithoutRunStart(t *testing.T) {
	f := &fixture{}
	f.request(t0.Add(3*time.Second), 10, map[string]string{"name": "get"}, false)
	f.request(t0.Add(time.Second), 10, map[string]string{"name": "get"}, false)
	res, err := k6.ReadResults(f.write(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Start.Equal(t0.Add(time.Second)) || !res.End.Equal(t0.Add(3*time.Second)) || res.StartFrom != "the earliest sample" {
		t.Errorf("start %v end %v from %s", res.Start, res.End, res.StartFrom)
	}
}

// A file that is not k6's format fails with the line number and what is
// wrong with it; a line cut short (k6 stopped while writing) says so.
func TestReadResultsErrors(t *testing.T) {
	good := sample()
	n := len(good.lines)
	tests := []struct {
		name  string
		lines []string
		gz    bool
		want  []string
	}{
		{"truncated last line", append(good.lines[:n:n], `{"type":"Point","data":{"time":"2026-12-08T10:00:01Z","val`), false,
			[]string{":" + itoa(n+1) + ":", "truncated"}},
		{"truncated line in the middle, gzipped", []string{good.lines[0], `{"type":"Point","metric":"vus","data":{"time":`, good.lines[1]}, true,
			[]string{":2:", "truncated"}},
		{"not JSON", []string{good.lines[0], "hello"}, false, []string{":2:", "not a JSON object"}},
		{"unknown type", []string{`{"type":"Sample","metric":"vus","data":{}}`}, false, []string{":1:", `type "Sample"`}},
		{"a point without time", []string{`{"type":"Point","metric":"vus","data":{"value":1,"tags":null}}`}, false, []string{":1:", "no time"}},
		{"a bad time", []string{`{"type":"Point","metric":"vus","data":{"time":"yesterday","value":1,"tags":null}}`}, false, []string{":1:", "bad data"}},
		{"no sample at all", []string{good.lines[0]}, false, []string{"no sample"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{lines: tc.lines}
			_, err := k6.ReadResults(f.write(t, tc.gz))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// The summary export answers thresholds from its aggregates, the
// exported script's submetrics (with traffic:load) first; its threshold
// booleans mean "failed".
func TestReadSummary(t *testing.T) {
	// --summary-export's shape: https://k6.io/docs/results-visualization/json/ ("Summary export").
	data := `{
  "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": {}, "checks": {}},
  "metrics": {
    "http_reqs": {"count": 600, "rate": 9.99},
    "http_reqs{traffic:load}": {"count": 595, "rate": 9.9},
    "http_req_duration": {"avg": 12.5, "min": 1, "med": 2.5, "max": 400, "p(90)": 40, "p(95)": 48.5},
    "http_req_duration{phase:outage,traffic:load}": {"avg": 44, "min": 40, "med": 44, "max": 49, "p(90)": 48, "p(95)": 49, "p(99)": 49,
      "thresholds": {"p(95)<50": false, "p(99)<45": true}},
    "http_req_failed{traffic:load}": {"passes": 1, "fails": 599, "value": 0.0016, "thresholds": {"rate==0": true}},
    "vus": {"value": 5, "min": 1, "max": 5}
  }
}`
	path := filepath.Join(t.TempDir(), "summary.json")
	os.WriteFile(path, []byte(data), 0o644)
	s, err := k6.ReadSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(expr string) verdict.Agg {
		e, err := verdict.ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		return e.Agg
	}
	tests := []struct {
		metric string
		tags   verdict.Tags
		expr   string
		want   float64
		ok     bool
	}{
		{"http_reqs", nil, "count>0", 595, true},
		{"http_req_duration", verdict.Tags{{Name: "phase", Value: "outage"}}, "p(99)<45", 49, true},
		{"http_req_service_time", verdict.Tags{{Name: "phase", Value: "outage"}}, "med<45", 44, true},
		{"http_req_duration", nil, "p(99)<100", 0, false}, // not in summaryTrendStats
		{"http_req_failed", nil, "rate==0", 0.0016, true},
		{"vus", nil, "max<10", 5, true},
		{"http_req_duration", verdict.Tags{{Name: "phase", Value: "steady"}}, "p(95)<50", 0, false},
	}
	for _, tc := range tests {
		got, ok := s.Aggregate(tc.metric, tc.tags, parse(tc.expr))
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s%s %s = %v, %v; want %v, %v", tc.metric, tc.tags, tc.expr, got, ok, tc.want, tc.ok)
		}
	}
	want := "http_req_duration{phase:outage,traffic:load} p(99)<45; http_req_failed{traffic:load} rate==0"
	if got := strings.Join(s.Failed(), "; "); got != want {
		t.Errorf("Failed() = %q, want %q", got, want)
	}
	os.WriteFile(path, []byte(`{"type":"Point"}`), 0o644)
	if _, err := k6.ReadSummary(path); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("a file without metrics: %v", err)
	}
}
