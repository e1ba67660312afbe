package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/k6"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// ndjson writes k6's --out json lines (the format is documented at
// https://grafana.com/docs/k6/latest/results-output/real-time/json/: one
// object per line, "type" Metric or Point, "metric", and for a Point
// "data" with "time", "value" and "tags").
type ndjson struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *ndjson) point(metric string, at time.Time, value float64, tags map[string]string) {
	b, err := json.Marshal(map[string]any{"type": "Point", "metric": metric, "data": map[string]any{
		"time": at.Format(time.RFC3339Nano), "value": value, "tags": tags,
	}})
	if err != nil {
		panic(err)
	}
	w.mu.Lock()
	w.buf.Write(b)
	w.buf.WriteByte('\n')
	w.mu.Unlock()
}

// request writes one request's samples, as the engine recorded it.
func (w *ndjson) request(scenario, name, method, phase, source string, status int, intended, sent, done time.Time, failed bool) {
	tags := map[string]string{"scenario": scenario, "name": name, "method": method, "status": itoa(status), "expected_response": "true"}
	if phase != "" {
		tags["phase"] = phase
	}
	if source != "" {
		tags["source"] = source
	}
	f := 0.0
	if failed {
		f, tags["expected_response"] = 1, "false"
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	w.point("http_reqs", done, 1, tags)
	w.point("http_req_duration", done, ms(done.Sub(intended)), tags)
	w.point("http_req_service_time", done, ms(done.Sub(sent)), tags)
	w.point("http_req_failed", done, f, tags)
	w.point("checks", done, 1-f, map[string]string{"scenario": scenario, "name": name, "phase": phase})
	w.point("iterations", done, 1, map[string]string{"scenario": scenario})
}

func (w *ndjson) write(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(path, w.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// k6Results is a k6 run of scenarioFile's shape: twenty requests, one
// failed when failed is set.
func k6Results(t *testing.T, failed bool) string {
	t.Helper()
	var w ndjson
	zero := time.Now().Add(-time.Minute)
	w.point(k6.RunStartMetric, zero, float64(zero.UnixMilli()), map[string]string{"scenario": "default"})
	for i := range 20 {
		at := zero.Add(time.Duration(i) * 100 * time.Millisecond)
		w.request("default", "get", "GET", "steady", "db", 200, at, at, at.Add(3*time.Millisecond), failed && i == 7)
	}
	return w.write(t)
}

// export k6 and judge, outcome by outcome (the rows of the binary's one
// exit-code table; TestExitCodeOfEveryCommand has the other commands').
func TestK6ExitCodes(t *testing.T) {
	pass := scenarioFile(t, "  http_reqs: [\"count>0\"]\n  http_req_failed: [\"rate==0\"]\n")
	stale := scenarioFile(t, "  stale_reads: [\"count==0\"]\n  http_req_failed: [\"rate==0\"]\n")
	ok, failing := k6Results(t, false), k6Results(t, true)
	truncated := filepath.Join(t.TempDir(), "truncated.json")
	data, _ := os.ReadFile(ok)
	os.WriteFile(truncated, data[:len(data)-40], 0o644)
	script := filepath.Join(t.TempDir(), "script.js")
	// --summary-export's shape: https://k6.io/docs/results-visualization/json/ ("Summary export").
	summary := func(failed float64) string {
		path := filepath.Join(t.TempDir(), "summary.json")
		os.WriteFile(path, []byte(`{"metrics": {"http_reqs{traffic:load}": {"count": 20, "rate": 2},
  "http_req_failed{traffic:load}": {"passes": 0, "fails": 20, "value": `+strconv.FormatFloat(failed, 'f', -1, 64)+`, "thresholds": {"rate==0": false}}}}`), 0o644)
		return path
	}
	tests := []struct {
		name string
		args []string
		want int
		out  string // in stdout or stderr
	}{
		{"export k6 of a file k6 carries whole", []string{"export", "k6", pass, "-o", script}, ExitOK, ""},
		{"export k6 of a file with what k6 cannot carry", []string{"export", "k6", stale}, ExitUsage, "stale_reads"},
		{"export k6 --allow-partial", []string{"export", "k6", stale, "--allow-partial"}, ExitOK, "export const options"},
		{"export without a format", []string{"export", pass}, ExitUsage, "k6"},
		{"export k6 of an invalid file", []string{"export", "k6", filepath.Join(t.TempDir(), "none.yaml")}, ExitUsage, ""},
		{"judge passes", []string{"judge", pass, "--k6-json", ok}, ExitOK, "PASS"},
		{"judge fails a threshold", []string{"judge", pass, "--k6-json", failing}, ExitFailed, "http_req_failed"},
		{"judge without an oracle on stale_reads", []string{"judge", stale, "--k6-json", ok}, ExitInconclusive, "no oracle"},
		{"judge a truncated file", []string{"judge", pass, "--k6-json", truncated}, ExitUsage, "truncated"},
		{"judge without results", []string{"judge", pass}, ExitUsage, "--k6-json"},
		{"judge a summary export", []string{"judge", pass, "--summary-export", summary(0)}, ExitOK, "summary only"},
		{"judge a summary export that fails", []string{"judge", pass, "--summary-export", summary(0.05)}, ExitFailed, "http_req_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			got := Main(t.Context(), tc.args, func(string) string { return "" }, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.want, stdout.String(), stderr.String())
			}
			if all := stdout.String() + stderr.String(); !strings.Contains(all, tc.out) {
				t.Errorf("output does not say %q:\n%s", tc.out, all)
			}
		})
	}
	if b, err := os.ReadFile(script); err != nil || !bytes.Contains(b, []byte("export const options")) {
		t.Errorf("-o wrote no script: %v", err)
	}
}

// Judging a run's own data round-trips: a real short run against a
// flagserver, its requests written as k6 NDJSON as they happened, judged
// by flagstorm judge, gives the verdict the run's recorder gets from the
// same judge, threshold by threshold.
func TestJudgeRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3 s run against a real flagserver")
	}
	url := flagserverURL(t)
	file := filepath.Join(t.TempDir(), "roundtrip.yaml")
	os.WriteFile(file, []byte(`name: roundtrip
load: {executor: constant-vus, vus: 4, duration: 3s}
data:
  environments: [production]
  flags: {prefix: flag-, count: 20, pad: 3}
requests:
  - {name: list,   weight: 2, method: GET,   path: "/api/config/flags?environment={{env}}"}
  - {name: get,    weight: 6, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: miss,   weight: 1, method: GET,   path: "/api/config/flags/no-such-flag?environment={{env}}", expect: [404]}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}'}
timeline:
  - {phase: first,  at: 0s}
  - {phase: second, at: 1500ms}
thresholds:
  http_req_duration: ["p(95)<2000", "p(99.9)<3000", "avg<1000"]
  "http_req_duration{phase:second}": ["p(90)<2000", "max<5000"]
  "http_req_service_time{name:get}": ["med<2000"]
  http_req_failed: ["rate<0.5"]
  "http_reqs{phase:first}": ["count>0"]
  "http_reqs{phase:second}": ["count<1"]
  "http_reqs{name:miss,status:404}": ["count>0"]
  checks: ["rate>0.5"]
  iterations: ["count>10"]
  stale_reads: ["count==0"]
`), 0o644)
	plan, err := run.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	def, mixes, err := plan.Mixes([]string{url}, "e2e", oracle.Field{})
	if err != nil {
		t.Fatal(err)
	}
	var w ndjson
	start := time.Now()
	rec := record.New(start)
	w.point(k6.RunStartMetric, start, float64(start.UnixMicro())/1000, map[string]string{"scenario": "default"})
	res, err := engine.Run(t.Context(), engine.Config{
		Plan: plan.Load, Mix: def, Mixes: mixes, Thresholds: plan.Thresholds, Phases: plan.Phases,
		RequestTimeout: plan.Spec.RequestTimeout, MaxVUs: plan.MaxVUs, Start: start, Recorder: rec,
		Observe: func(r engine.Response) {
			failed := r.Err != nil || !r.Template.Expected(r.Status)
			w.request(r.Scenario, r.Template.Name, r.Template.Method, r.Phase, r.Source, r.Status, r.Intended, r.Sent, r.Done, failed)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	results := w.write(t)

	// The run's verdict: its own recorder, judged.
	own, err := run.JudgeExternal(t.Context(), plan, run.External{Tool: "flagstorm", Recorder: rec, Start: res.Start, End: res.End, Sources: true}, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The same requests through k6's format and flagstorm judge.
	out := t.TempDir()
	var stdout, stderr strings.Builder
	code := Main(t.Context(), []string{"judge", file, "--k6-json", results, "--out", out}, func(string) string { return "" }, &stdout, &stderr)
	if code != own.Judgement.ExitCode() || own.Report.Verdict != "fail" {
		t.Errorf("judge exit %d, the run's verdict %s (exit %d); want fail both\n%s\n%s", code, own.Report.Verdict, own.Judgement.ExitCode(), stdout.String(), stderr.String())
	}
	for _, f := range []string{"summary.json", "junit.xml", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("judge wrote no %s: %v", f, err)
		}
	}
	read, err := k6.ReadResults(results)
	if err != nil {
		t.Fatal(err)
	}
	judged, err := run.JudgeExternal(t.Context(), plan, run.External{Tool: "k6", Recorder: read.Recorder, Start: read.Start, End: read.End, Sources: read.Sources}, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := own.Judgement.Summary.Results, judged.Judgement.Summary.Results
	if len(a) != len(b) {
		t.Fatalf("%d thresholds judged, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].Verdict() != b[i].Verdict() {
			t.Errorf("%s: %v from k6's format, %v from the run", a[i].Threshold, b[i].Verdict(), a[i].Verdict())
		}
		// HDR histograms at 3 significant digits, fed values rounded to
		// the nanosecond: the same within 0.2 %.
		if x, y := a[i].Observed, b[i].Observed; math.Abs(x-y) > 0.002*math.Abs(x)+1e-9 {
			t.Errorf("%s observed %v from k6's format, %v from the run", a[i].Threshold, y, x)
		}
	}
	if reqs, _ := rec.Totals(); reqs < 20 {
		t.Errorf("only %d requests in the run", reqs)
	}
	if n := len(a); n != countThresholds(plan.Thresholds) {
		t.Errorf("%d results", n)
	}
}

func countThresholds(ts []verdict.Threshold) int { return len(ts) }
