package verdict

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeStats answers from a table keyed by "submetric agg"; a missing key
// is a submetric without samples. It is safe for concurrent use.
type fakeStats struct {
	mu   sync.Mutex
	vals map[string]float64
	asks []string
}

func (f *fakeStats) Aggregate(metric string, sel Tags, agg Agg) (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := metric + sel.String() + " " + agg.String()
	f.asks = append(f.asks, k)
	v, ok := f.vals[k]
	return v, ok
}

func (f *fakeStats) set(k string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vals[k] = v
}

func mustParse(t *testing.T, in map[string][]Spec) []Threshold {
	t.Helper()
	ts, err := Parse(in, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestEvaluate(t *testing.T) {
	stats := &fakeStats{vals: map[string]float64{
		"http_req_duration p(95)":                         12.345,
		"http_req_duration{phase:outage} p(95)":           61,
		"http_req_duration{phase:outage} p(99)":           99.999,
		"http_req_failed rate":                            0,
		"http_req_failed{phase:outage} rate":              0.0125,
		"stale_reads count":                               3,
		"recovery_time value":                             4.2,
		"data_received count":                             1048576,
		"http_reqs rate":                                  1234.5678,
		"checks rate":                                     0.99995,
		"vus value":                                       50,
		"staleness_seconds max":                           math.NaN(),
		"http_req_duration{name:get,source:db} avg":       math.Inf(1),
		"http_req_duration{phase:outage,source:db} p(50)": 1,
	}}
	tests := []struct {
		key, expr string
		verdict   Verdict
		line      string
	}{
		{"http_req_duration", "p(95)<50", Pass, "✓ http_req_duration p(95)<50 observed 12.35ms"},
		{"http_req_duration{phase:outage}", "p(95)<50", Fail, "✗ http_req_duration{phase:outage} p(95)<50 observed 61.00ms"},
		{"http_req_duration{phase:outage}", "p(99)<100", Pass, "✓ http_req_duration{phase:outage} p(99)<100 observed 100.00ms"},
		{"http_req_duration{phase:recovery}", "p(95)<50", NoData, "? http_req_duration{phase:recovery} p(95)<50 no data"},
		{"http_req_failed", "rate==0", Pass, "✓ http_req_failed rate==0 observed 0 (0%)"},
		{"http_req_failed{phase:outage}", "rate==0", Fail, "✗ http_req_failed{phase:outage} rate==0 observed 0.0125 (1.25%)"},
		{"stale_reads", "count==0", Fail, "✗ stale_reads count==0 observed 3"},
		{"lost_writes", "count==0", NoData, "? lost_writes count==0 no data"},
		{"recovery_time", "value<5", Pass, "✓ recovery_time value<5 observed 4.20s"},
		{"data_received", "count>0", Pass, "✓ data_received count>0 observed 1048576B"},
		{"http_reqs", "rate>=1000", Pass, "✓ http_reqs rate>=1000 observed 1234.57/s"},
		{"checks", "rate>0.9999", Pass, "✓ checks rate>0.9999 observed 0.99995 (99.995%)"},
		{"vus", "value==50", Pass, "✓ vus value==50 observed 50"},
		{"staleness_seconds", "max<1", NoData, "? staleness_seconds max<1 no data"},
		{"http_req_duration{source:db,name:get}", "avg<20", Fail, "✗ http_req_duration{name:get,source:db} avg<20 observed +Infms"},
		{"http_req_duration{source:db,phase:outage}", "p(50)!=0", Pass, "✓ http_req_duration{phase:outage,source:db} p(50)!=0 observed 1.00ms"},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.expr, func(t *testing.T) {
			ts := mustParse(t, map[string][]Spec{tt.key: specs(tt.expr)})
			r := ts[0].Evaluate(stats)
			if got := r.Verdict(); got != tt.verdict {
				t.Errorf("verdict %v, want %v (%+v)", got, tt.verdict, r)
			}
			if r.Pass && r.NoData {
				t.Errorf("Pass and NoData both set: %+v", r)
			}
			if tt.verdict == NoData && r.Observed != 0 {
				t.Errorf("NoData with Observed %v", r.Observed)
			}
			if got := r.String(); got != tt.line {
				t.Errorf("String() = %q\n           want %q", got, tt.line)
			}
		})
	}
}

func TestEvaluateAll(t *testing.T) {
	ts := mustParse(t, map[string][]Spec{
		"http_req_duration":               specs("p(95)<50"),
		"http_req_duration{phase:outage}": specs("p(95)<50"),
		"stale_reads":                     specs("count==0"),
	})
	tests := []struct {
		name                   string
		vals                   map[string]float64
		passed, failed, noData int
		verdict                Verdict
	}{
		{"all pass", map[string]float64{
			"http_req_duration p(95)": 10, "http_req_duration{phase:outage} p(95)": 20, "stale_reads count": 0,
		}, 3, 0, 0, Pass},
		{"one fails", map[string]float64{
			"http_req_duration p(95)": 10, "http_req_duration{phase:outage} p(95)": 200, "stale_reads count": 0,
		}, 2, 1, 0, Fail},
		{"no data is not a pass", map[string]float64{
			"http_req_duration p(95)": 10, "stale_reads count": 0,
		}, 2, 0, 1, NoData},
		{"a failure outranks no data", map[string]float64{
			"http_req_duration p(95)": 10, "stale_reads count": 1,
		}, 1, 1, 1, Fail},
		{"nothing recorded", nil, 0, 0, 3, NoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := EvaluateAll(ts, &fakeStats{vals: tt.vals})
			got := []int{s.Passed, s.Failed, s.NoData}
			if diff := cmp.Diff([]int{tt.passed, tt.failed, tt.noData}, got); diff != "" {
				t.Errorf("passed, failed, no data (-want +got):\n%s", diff)
			}
			if s.Verdict != tt.verdict {
				t.Errorf("verdict %v, want %v", s.Verdict, tt.verdict)
			}
			if len(s.Results) != len(ts) {
				t.Fatalf("%d results for %d thresholds", len(s.Results), len(ts))
			}
			for i, r := range s.Results {
				if r.Threshold.String() != ts[i].String() {
					t.Errorf("result %d is for %s, want %s", i, r.Threshold, ts[i])
				}
			}
		})
	}
	if s := EvaluateAll(nil, &fakeStats{}); s.Verdict != Pass {
		t.Errorf("no thresholds: verdict %v, want pass", s.Verdict)
	}
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{Pass, Fail, NoData} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back Verdict
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("%s -> %s -> %v, %v", v, b, back, err)
		}
	}
	if got := NoData.String(); got != "nodata" {
		t.Errorf("NoData = %q", got)
	}
	if _, err := ParseVerdict("inconclusive"); err == nil {
		t.Error("ParseVerdict accepted inconclusive")
	}
	if _, err := json.Marshal(Verdict(0)); err == nil {
		t.Error("the zero Verdict marshalled")
	}
	if (Result{}).Verdict() != Fail {
		t.Error("the zero Result is not a failure")
	}
}

func abortThresholds(t *testing.T) []Threshold {
	return mustParse(t, map[string][]Spec{
		"checks":            {{Threshold: "rate>0.99", AbortOnFail: true, DelayAbortEval: 10 * time.Second}},
		"http_req_failed":   {{Threshold: "rate<0.5", AbortOnFail: true}},
		"http_req_duration": {{Threshold: "p(95)<50"}}, // judged at the end only
	})
}

func TestWatcher(t *testing.T) {
	w := NewWatcher(abortThresholds(t))
	if !w.Active() {
		t.Fatal("watcher with abortOnFail thresholds is not active")
	}
	tests := []struct {
		name    string
		elapsed time.Duration
		vals    map[string]float64
		abort   string // the aborting threshold, or ""
		asked   []string
	}{
		{"all good", 12 * time.Second, map[string]float64{
			"checks rate": 1, "http_req_failed rate": 0, "http_req_duration p(95)": 500,
		}, "", []string{"checks rate", "http_req_failed rate"}},
		{"checks failing before the delay", 8 * time.Second, map[string]float64{
			"checks rate": 0.5, "http_req_failed rate": 0,
		}, "", []string{"http_req_failed rate"}},
		{"checks failing at the delay", 10 * time.Second, map[string]float64{
			"checks rate": 0.5, "http_req_failed rate": 0,
		}, "checks rate>0.99", []string{"checks rate"}},
		{"no delay: fails at once", 0, map[string]float64{
			"http_req_failed rate": 0.9,
		}, "http_req_failed rate<0.5", []string{"http_req_failed rate"}},
		{"no data does not abort", time.Minute, nil, "", []string{"checks rate", "http_req_failed rate"}},
		{"first failing in order", time.Minute, map[string]float64{
			"checks rate": 0.5, "http_req_failed rate": 0.9,
		}, "checks rate>0.99", []string{"checks rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats := &fakeStats{vals: tt.vals}
			r, abort := w.Check(tt.elapsed, stats)
			got := ""
			if abort {
				got = r.Threshold.String()
				if r.Verdict() != Fail {
					t.Errorf("aborting result %+v is not a failure", r)
				}
			}
			if got != tt.abort {
				t.Errorf("abort = %q, want %q", got, tt.abort)
			}
			if diff := cmp.Diff(tt.asked, stats.asks); diff != "" {
				t.Errorf("stats asked (-want +got):\n%s", diff)
			}
		})
	}
	if NewWatcher(mustParse(t, map[string][]Spec{"checks": specs("rate>0.9")})).Active() {
		t.Error("watcher without abortOnFail thresholds is active")
	}
}

// TestWatcherLoop drives a Watcher the way the engine does, every 2 s of
// (fake) time, and checks the run stops at the first tick after the
// delay at which the threshold fails.
func TestWatcherLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := NewWatcher(abortThresholds(t))
		stats := &fakeStats{vals: map[string]float64{"checks rate": 0.5, "http_req_failed rate": 0}}
		start := time.Now()
		// Checks fail from the start, which the 10 s delay forgives,
		// recover at 9 s and break again at 15 s.
		time.AfterFunc(9*time.Second, func() { stats.set("checks rate", 1) })
		time.AfterFunc(15*time.Second, func() { stats.set("checks rate", 0.9) })

		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		var stopped time.Duration
		var why Result
		for stopped == 0 {
			<-tick.C
			synctest.Wait() // let the AfterFuncs due now run first
			elapsed := time.Since(start)
			if r, abort := w.Check(elapsed, stats); abort {
				stopped, why = elapsed, r
			}
		}
		if stopped != 16*time.Second || why.Threshold.Metric != "checks" || why.Observed != 0.9 {
			t.Errorf("stopped at %v by %v", stopped, why)
		}
	})
}
