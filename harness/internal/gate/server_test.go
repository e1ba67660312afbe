package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

// The tests in this file pin the HTTP contract with Argo Rollouts and
// Flagger. They run against a RECORDED Prometheus: an httptest server that
// answers /api/v1/query in Prometheus's own JSON shape with values chosen
// per query. The verdict logic itself is proven against a real Prometheus
// in TestGateAgainstRealPrometheus.

func newTestServer(t *testing.T, values map[string]map[string]float64) (*httptest.Server, *testenv.FakePrometheus, *prometheus.Registry) {
	t.Helper()
	prom := &testenv.FakePrometheus{Values: values}
	ps := httptest.NewServer(prom)
	t.Cleanup(ps.Close)
	q, err := NewQuerier(ps.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Flagger.Canary = `namespace="{{.Namespace}}",app="{{.Name}}",track="canary"`
	cfg.Flagger.Baseline = `namespace="{{.Namespace}}",app="{{.Name}}-primary",track="baseline"`
	g, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs, reg := serveGate(t, g)
	return hs, prom, reg
}

// serveGate serves g's HTTP API, with its metrics in a registry of its
// own, until the test ends.
func serveGate(t *testing.T, g *Gate) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := NewServer(g, ServerConfig{}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs, reg
}

func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var (
	goValues       = testenv.CannedGateValues(nil)
	noGoValues     = testenv.CannedGateValues(map[string]float64{"errors": 30})     // 3 %: over 1 %, under the 10 % critical
	criticalValues = testenv.CannedGateValues(map[string]float64{"fallbacks": 900}) // 90 % fallbacks
	lowTraffic     = testenv.CannedGateValues(map[string]float64{"requests": 12, "cache_ops": 12, "reads": 12})
	noCanary       = map[string]map[string]float64{"canary": {}, "baseline": testenv.HealthyGateValues()} // selector matches nothing
)

// Argo Rollouts' web provider posts jsonBody with Content-Type
// application/json and reads the JSON body on a 2xx only.
func TestGateArgoContract(t *testing.T) {
	const body = `{"canary":"{app=\"flagserver\",track=\"canary\"}","baseline":"app=\"flagserver\",track=\"baseline\""}`
	for _, tc := range []struct {
		name    string
		values  map[string]map[string]float64
		verdict Verdict
		crit    bool
		failed  string
	}{
		{"go", goValues, Go, false, ""},
		{"no-go", noGoValues, NoGo, false, "error_rate[1m]"},
		{"critical no-go", criticalValues, NoGo, true, "fallback_rate[5m]"},
		{"too little traffic", lowTraffic, Inconclusive, false, ""},
		{"no canary series", noCanary, Inconclusive, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, _, _ := newTestServer(t, tc.values)
			status, b := post(t, hs.URL+"/v1/evaluate", "application/json", body)
			if status != http.StatusOK {
				t.Fatalf("status %d %s; want 200", status, b)
			}
			var doc struct {
				Result
				Summary map[string]any `json:"summary"`
			}
			if err := json.Unmarshal([]byte(b), &doc); err != nil {
				t.Fatal(err)
			}
			// The compact object the AnalysisTemplate's jsonPath reads.
			if doc.Summary["verdict"] != tc.verdict.String() || doc.Summary["go"] != (tc.verdict == Go) ||
				doc.Summary["noGo"] != (tc.verdict == NoGo) || doc.Summary["inconclusive"] != (tc.verdict == Inconclusive) ||
				doc.Summary["critical"] != tc.crit {
				t.Errorf("summary %v; want verdict %v critical %v", doc.Summary, tc.verdict, tc.crit)
			}
			if doc.Verdict != tc.verdict || len(doc.Checks) != 10 || doc.Reason == "" || strings.Contains(doc.Reason, "\n") {
				t.Errorf("result verdict %v, %d checks, reason %q", doc.Verdict, len(doc.Checks), doc.Reason)
			}
			if tc.failed != "" && !strings.Contains(fmt.Sprint(doc.Summary["failed"]), tc.failed) {
				t.Errorf("failed %v; want %s", doc.Summary["failed"], tc.failed)
			}
			for _, c := range doc.Checks {
				if c.Reason == "" || len(c.Queries) != 4 || c.Window == "" {
					t.Errorf("check %+v lacks a reason, its queries or its window", c)
				}
			}
		})
	}
}

func TestGateArgoBadRequests(t *testing.T) {
	hs, prom, _ := newTestServer(t, goValues)
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"empty body", "application/json", ``, 400, "body"},
		{"not json", "application/json", `{canary`, 400, "body"},
		{"two objects", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\""} {}`, 400, "body"},
		{"unknown field", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\"","cnary":"x"}`, 400, "cnary"},
		{"wrong type", "application/json", `{"canary":1,"baseline":"a=\"c\""}`, 400, "canary"},
		{"no canary", "application/json", `{"baseline":"a=\"c\""}`, 400, "canary"},
		{"bad canary", "application/json", `{"canary":"{a=b}","baseline":"a=\"c\""}`, 400, "canary"},
		{"empty matcher", "application/json", `{"canary":"{a=~\".*\"}","baseline":"a=\"c\""}`, 400, "canary"},
		{"reserved label", "application/json", `{"canary":"{__name__=\"x\"}","baseline":"a=\"c\""}`, 400, "canary"},
		{"bad regex", "application/json", `{"canary":"a=~\"(\"","baseline":"a=\"c\""}`, 400, "canary"},
		{"no baseline", "application/json", `{"canary":"a=\"b\""}`, 400, "baseline"},
		{"same series", "application/json", `{"canary":"a=\"b\"","baseline":"{a='b'}"}`, 400, "baseline"},
		{"bad override", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"latency":{"critical":"10ms"}}}`, 400, "config.latency.critical"},
		{"window override", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"shortWindow":"10m"}}`, 400, "config.shortWindow"},
		{"unknown override", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"errorRate":{"maxx":0.1}}}`, 400, "config.errorRate.maxx"},
		{"override type", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"minSamples":"ten"}}`, 400, "config.minSamples"},
		{"form", "application/x-www-form-urlencoded", `canary=x`, 415, "Content-Type"},
		{"too large", "application/json", `{"canary":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := post(t, hs.URL+"/v1/evaluate", tc.contentType, tc.body)
			var e apiError
			if err := json.Unmarshal([]byte(b), &e); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if status != tc.status || e.Field != tc.field || e.Error == "" || e.Code == "" {
				t.Errorf("%d %+v; want %d naming field %q", status, e, tc.status, tc.field)
			}
		})
	}
	if n := prom.Queries.Load(); n != 0 {
		t.Errorf("bad requests reached Prometheus %d times", n)
	}
	// A valid override is applied.
	status, b := post(t, hs.URL+"/v1/evaluate", "application/json",
		`{"canary":"a=\"b\"","baseline":"a=\"c\"","config":{"minSamples":5000,"latency":{"max":"80ms"}}}`)
	if status != 200 || !strings.Contains(b, `"windows":["1m","5m"]`) || !strings.Contains(b, `"minSamples":5000`) || !strings.Contains(b, `"verdict":"inconclusive"`) {
		t.Errorf("override: %d %s", status, b)
	}
	// Wrong method and unknown paths.
	res, err := http.Get(hs.URL + "/v1/evaluate")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/evaluate: %d; want 405", res.StatusCode)
	}
}

func TestGateArgoPrometheusDown(t *testing.T) {
	hs, prom, _ := newTestServer(t, goValues)
	prom.Down.Store(true)
	status, b := post(t, hs.URL+"/v1/evaluate", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\""}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(b, "PROMETHEUS_UNAVAILABLE") {
		t.Errorf("%d %s; want 503 PROMETHEUS_UNAVAILABLE", status, b)
	}
}

// flaggerPayload is what Flagger posts (CanaryWebhookPayload), with the
// webhook's metadata.
func flaggerPayload(metadata string) string {
	return `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"5bd94b65d7","metadata":` + metadata + `}`
}

func TestGateFlaggerContract(t *testing.T) {
	const meta = `{"canary":"{app=\"podinfo\",track=\"canary\"}","baseline":"{app=\"podinfo-primary\",track=\"baseline\"}"}`
	type want struct {
		status int
		prefix string
	}
	for _, tc := range []struct {
		name   string
		values map[string]map[string]float64
		hooks  map[Hook]want
	}{
		{"go", goValues, map[Hook]want{
			HookPreRollout: {200, "go:"}, HookRollout: {200, "go:"},
			HookConfirmRollout: {200, "go:"}, HookConfirmTrafficIncrease: {200, "go:"}, HookConfirmPromotion: {200, "go:"},
			HookRollback: {409, "no rollback: go:"}, HookPostRollout: {200, "acknowledged"}, HookEvent: {200, "acknowledged"},
		}},
		{"no-go", noGoValues, map[Hook]want{
			HookPreRollout: {412, "no-go:"}, HookRollout: {412, "no-go:"},
			HookConfirmRollout:         {200, "go:"}, // the baseline alone is healthy
			HookConfirmTrafficIncrease: {423, "hold: no-go:"}, HookConfirmPromotion: {423, "hold: no-go:"},
			HookRollback: {409, "no rollback: no-go:"},
		}},
		{"critical", criticalValues, map[Hook]want{
			HookRollout: {412, "no-go (critical):"}, HookConfirmPromotion: {423, "hold: no-go (critical):"},
			HookRollback: {200, "rollback: no-go (critical):"},
		}},
		{"inconclusive", lowTraffic, map[Hook]want{
			HookPreRollout: {412, "inconclusive:"}, HookRollout: {412, "inconclusive:"},
			HookConfirmTrafficIncrease: {423, "hold: inconclusive:"}, HookRollback: {409, "no rollback: inconclusive:"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs, _, _ := newTestServer(t, tc.values)
			for hook, w := range tc.hooks {
				status, b := post(t, hs.URL+"/v1/flagger/"+string(hook), "application/json", flaggerPayload(meta))
				if status != w.status || !strings.HasPrefix(b, w.prefix) || strings.Count(b, "\n") != 1 {
					t.Errorf("%s: %d %q; want %d, one line starting %q", hook, status, b, w.status, w.prefix)
				}
			}
		})
	}
}

func TestGateFlaggerPrometheusDownIsNever5xx(t *testing.T) {
	hs, prom, _ := newTestServer(t, goValues)
	prom.Down.Store(true)
	for _, hook := range Hooks {
		status, b := post(t, hs.URL+"/v1/flagger/"+string(hook), "application/json", flaggerPayload(`{}`))
		want := http.StatusFailedDependency
		if hook == HookPostRollout || hook == HookEvent {
			want = http.StatusOK
		}
		if status != want || status >= 500 {
			t.Errorf("%s: %d %q; want %d", hook, status, b, want)
		}
	}
}

func TestGateFlaggerTemplatesAndBadRequests(t *testing.T) {
	hs, _, _ := newTestServer(t, goValues)
	// No metadata: the selectors come from the config's templates.
	status, b := post(t, hs.URL+"/v1/flagger/rollout", "application/json", `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"x"}`)
	if status != 200 {
		t.Errorf("templates: %d %q", status, b)
	}
	// An unknown top-level field (a future Flagger) is ignored.
	status, b = post(t, hs.URL+"/v1/flagger/rollout", "application/json", `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"x","iteration":3}`)
	if status != 200 {
		t.Errorf("future field: %d %q", status, b)
	}
	for _, tc := range []struct {
		name, hook, body string
		status           int
		want             string
	}{
		{"unknown hook", "pre-flight", flaggerPayload(`{}`), 404, "unknown Flagger hook"},
		{"no name", "rollout", `{"namespace":"test","phase":"Progressing"}`, 400, "name"},
		{"injection", "rollout", `{"name":"x\",track=~\".*","namespace":"test"}`, 400, "name"},
		{"bad namespace", "rollout", `{"name":"podinfo","namespace":"Test_NS"}`, 400, "namespace"},
		{"unknown metadata", "rollout", flaggerPayload(`{"cmd":"hey -z 1m"}`), 400, "metadata.cmd"},
		{"bad selector", "rollout", flaggerPayload(`{"canary":"app"}`), 400, "metadata.canary"},
		{"bad config", "rollout", flaggerPayload(`{"config":"minSamples: 0"}`), 400, "metadata.config.minSamples"},
		{"not json", "rollout", `name=podinfo`, 400, "body"},
		{"too large", "rollout", flaggerPayload(`{"x":"` + strings.Repeat("a", MaxBodyBytes) + `"}`), 413, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := post(t, hs.URL+"/v1/flagger/"+tc.hook, "application/json", tc.body)
			if status != tc.status || !strings.Contains(b, tc.want) || strings.Count(b, "\n") != 1 {
				t.Errorf("%d %q; want %d naming %q on one line", status, b, tc.status, tc.want)
			}
		})
	}
	// A config override in the metadata is applied.
	status, b = post(t, hs.URL+"/v1/flagger/rollout", "application/json", flaggerPayload(`{"config":"minSamples: 5000"}`))
	if status != 412 || !strings.Contains(b, "minimum 5000") {
		t.Errorf("metadata config: %d %q; want 412 too little traffic", status, b)
	}
}

func TestGateServerHealthAndMetrics(t *testing.T) {
	hs, _, reg := newTestServer(t, goValues)
	res, err := http.Get(hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	post(t, hs.URL+"/v1/evaluate", "application/json", `{"canary":"a=\"b\"","baseline":"a=\"c\""}`)
	post(t, hs.URL+"/v1/flagger/rollout", "application/json", flaggerPayload(`{}`))
	if got := testutil.ToFloat64(mustVec(t, reg, "argo", "go")); got != 1 {
		t.Errorf("argo go verdicts %v; want 1", got)
	}
	if got := testutil.ToFloat64(mustVec(t, reg, "flagger", "go")); got != 1 {
		t.Errorf("flagger go verdicts %v; want 1", got)
	}
	problems, err := testutil.CollectAndLint(mustMetrics(t).verdicts)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint verdicts: %v %v", err, problems)
	}
	problems, err = testutil.CollectAndLint(mustMetrics(t).duration)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint duration: %v %v", err, problems)
	}
	body := scrapeMetrics(t, hs.URL)
	if !strings.Contains(body, "flagstorm_gate_evaluation_duration_seconds_bucket") {
		t.Errorf("/metrics lacks the duration histogram")
	}
}

func mustMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(SourceCLI, nil, time.Millisecond)
	return m
}

// mustVec returns the verdict counter child from a registry's gather.
func mustVec(t *testing.T, reg *prometheus.Registry, source, verdict string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "flagstorm_gate_verdicts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source && labels["verdict"] == verdict {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no verdict series for %s/%s", source, verdict)
	return nil
}
