package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/load"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// These tests drive real HTTP servers on loopback; each run is bounded to
// a few seconds.

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func mix(t *testing.T, url string, ts ...request.Template) *request.Mix {
	t.Helper()
	m, err := request.NewMix([]string{url}, ts, request.Pools{Environments: []string{"production"}, Flags: []string{"flag-001", "flag-002"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func thresholds(t *testing.T, specs map[string][]string) []verdict.Threshold {
	t.Helper()
	in := map[string][]verdict.Spec{}
	for k, exprs := range specs {
		for _, e := range exprs {
			in[k] = append(in[k], verdict.Spec{Threshold: e})
		}
	}
	ts, err := verdict.Parse(in, verdict.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestClosedModelPassAndFail(t *testing.T) {
	var hits atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Flag-Source", "memory")
		if r.URL.Path == "/broken" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	cfg := Config{
		Plan: load.Plan{Scenarios: []load.Scenario{{Name: "default", Executor: load.ConstantVUs{VUs: 5, Duration: 2 * time.Second}}}},
		Mix: mix(t, srv.URL,
			request.Template{Name: "get", Weight: 9, Path: "/api/config/flags/{{flag}}?environment={{env}}"},
			request.Template{Name: "broken", Weight: 1, Path: "/broken"}),
		Thresholds: thresholds(t, map[string][]string{
			"http_req_duration":                {"p(95)<1000"},
			"http_req_failed{name:get}":        {"rate==0"},
			"http_req_failed{name:broken}":     {"rate==0"},
			"http_req_duration{source:memory}": {"max<5000"},
			"http_req_duration{phase:nothere}": {"p(95)<5"},
		}),
		Phases: []Phase{{Name: "steady"}},
	}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum := verdict.EvaluateAll(cfg.Thresholds, Stats(res.Recorder, func() time.Time { return res.End }))
	got := map[string]verdict.Verdict{}
	for _, r := range sum.Results {
		got[r.Threshold.Submetric()+" "+r.Threshold.Expr.String()] = r.Verdict()
	}
	want := map[string]verdict.Verdict{
		"http_req_duration p(95)<1000":              verdict.Pass,
		"http_req_failed{name:get} rate==0":         verdict.Pass,
		"http_req_failed{name:broken} rate==0":      verdict.Fail,
		"http_req_duration{source:memory} max<5000": verdict.Pass,
		"http_req_duration{phase:nothere} p(95)<5":  verdict.NoData,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if sum.Verdict != verdict.Fail {
		t.Errorf("overall verdict %v, want fail", sum.Verdict)
	}
	s, _ := res.Recorder.Summarize(record.Selector{Metric: record.HTTPReqs})
	if int64(s.Sum) != hits.Load() || s.Sum < 100 {
		t.Errorf("recorded %v requests, server saw %d", s.Sum, hits.Load())
	}
}

// The open model measures from the intended time: a server that stalls
// makes arrivals drop (no free VU) instead of silently queueing, and the
// latency of those that ran includes the stall.
func TestOpenModelCountsDroppedAgainstASlowServer(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // the deliberately slow server
		w.Write([]byte("{}"))
	})
	cfg := Config{
		Plan: load.Plan{Scenarios: []load.Scenario{{Name: "open", Executor: load.ConstantArrivalRate{
			Rate: 50, TimeUnit: time.Second, Duration: 2 * time.Second, PreAllocatedVUs: 5, MaxVUs: 5}}}},
		Mix: mix(t, srv.URL, request.Template{Name: "get", Weight: 1, Path: "/x"}),
	}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 5 VUs × (2 s / 0.3 s) ≈ 35 requests can run; the rest of the 100
	// arrivals must be counted as dropped, none queued.
	reqs, _ := res.Recorder.Summarize(record.Selector{Metric: record.HTTPReqs})
	dropped, _ := res.Recorder.Summarize(record.Selector{Metric: "dropped_iterations"})
	if total := reqs.Sum + dropped.Sum; total != 100 {
		t.Errorf("requests %v + dropped %v = %v, want the 100 scheduled arrivals", reqs.Sum, dropped.Sum, total)
	}
	if dropped.Sum < 50 {
		t.Errorf("dropped %v arrivals; a 300 ms server with 5 VUs cannot take 50/s", dropped.Sum)
	}
	d, _ := res.Recorder.Summarize(record.Selector{Metric: record.HTTPReqDuration})
	if p50 := d.Quantile(50); p50 < 300 {
		t.Errorf("p50 %v ms, below the server's 300 ms stall", p50)
	}
	// The VUs are held by the stall when the vus gauge is sampled (each
	// second): it must count them, not read 0 as it did when written only
	// at the scenario's start and end. Not exactly 5: a VU may be between
	// two arrivals at that instant.
	if vus, _ := res.Recorder.Summarize(record.Selector{Metric: "vus"}); vus.Max < 1 || vus.Max > 5 {
		t.Errorf("vus max %v, want the busy VUs (1 to 5)", vus.Max)
	}
}

func TestAbortOnFailStopsEarly(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	})
	in := map[string][]verdict.Spec{"http_req_failed": {{Threshold: "rate<0.1", AbortOnFail: true}}}
	ts, err := verdict.Parse(in, verdict.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Plan:       load.Plan{Scenarios: []load.Scenario{{Name: "default", Executor: load.ConstantVUs{VUs: 2, Duration: 60 * time.Second}}}},
		Mix:        mix(t, srv.URL, request.Template{Name: "get", Weight: 1, Path: "/x"}),
		Thresholds: ts,
	}
	begin := time.Now()
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Aborted == nil {
		t.Fatal("the run was not aborted")
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("abortOnFail took %v to stop a 60 s run; it is evaluated every 2 s", took)
	}
}

func TestCancelledRunIsInterrupted(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	ctx, cancel := context.WithCancel(t.Context())
	cfg := Config{
		Plan: load.Plan{Scenarios: []load.Scenario{{Name: "default", Executor: load.ConstantVUs{VUs: 2, Duration: time.Minute}}}},
		Mix:  mix(t, srv.URL, request.Template{Name: "get", Weight: 1, Path: "/x"}),
		Progress: func(s Status) {
			if s.Elapsed > time.Second {
				cancel()
			}
		},
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Error("a cancelled run is not marked interrupted")
	}
}

// A counter that never incremented is 0, not "no data": "stale_reads
// count==0" passes on a run without stale reads. Trends without samples
// stay no data.
func TestUnincrementedCounterIsZero(t *testing.T) {
	rec := record.New(time.Unix(0, 0))
	st := Stats(rec, func() time.Time { return time.Unix(10, 0) })
	if v, ok := st.Aggregate("stale_reads", nil, verdict.Agg{Kind: verdict.AggCount}); !ok || v != 0 {
		t.Errorf("stale_reads count = %v, %v; want 0, true", v, ok)
	}
	if _, ok := st.Aggregate("http_req_duration", nil, verdict.Agg{Kind: verdict.AggPercentile, P: 95}); ok {
		t.Error("a trend without samples must stay no data")
	}
}
