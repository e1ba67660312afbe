package report

import (
	"math"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// outageRun is a realistic run for the goldens: the seed profile through
// a 20 s Redis blackhole, 60 s at 50 VUs. Steady state serves ~4200
// requests/s at a 6 ms p95; during the outage every cache call waits out
// its timeout, throughput collapses and the outage p95 breaks the 50 ms
// SLO; recovery takes about 3 s. Thresholds: one failure, one without
// data (nothing was served stale), one abortOnFail written with a delay.
func outageRun(t testing.TB) Run {
	t.Helper()
	start := time.Date(2025, 6, 3, 9, 14, 7, 0, time.UTC)

	specs := map[string][]verdict.Spec{
		"http_req_duration":                {{Threshold: "p(95)<50"}},
		"http_req_duration{phase: outage}": {{Threshold: "p(95)<50"}},
		"http_req_duration{source:stale}":  {{Threshold: "p(99)<100"}},
		"http_req_failed":                  {{Threshold: "rate<0.01", AbortOnFail: true, DelayAbortEval: 10 * time.Second}},
		"recovery_time":                    {{Threshold: "value<5"}},
		"stale_reads":                      {{Threshold: "count==0"}},
	}
	ts, err := verdict.Parse(specs, verdict.DefaultCatalog())
	if err != nil {
		t.Fatalf("parse fixture thresholds: %v", err)
	}

	series := outageSeries()
	var total, failed, outageReqs, outageFailed int64
	for _, p := range series {
		total += p.Requests
		failed += p.Failed
		if p.Second >= 20 && p.Second < 40 {
			outageReqs += p.Requests
			outageFailed += p.Failed
		}
	}
	secs := 60.0
	failRate := float64(failed) / float64(total)

	stats := verdict.StatsFunc(func(metric string, sel verdict.Tags, agg verdict.Agg) (float64, bool) {
		phase, _ := sel.Get("phase")
		source, _ := sel.Get("source")
		switch {
		case source == "stale":
			return 0, false
		case metric == "http_req_duration" && phase == "outage":
			return 812, true
		case metric == "http_req_duration":
			return 7.12, true
		case metric == "http_req_failed":
			return failRate, true
		case metric == "recovery_time":
			return 3.2, true
		case metric == "stale_reads":
			return 0, true
		}
		return 0, false
	})

	trend := func(name, sub string, avg, mn, med, mx, p90, p95, p99 float64) Metric {
		return Metric{Name: name, Submetric: sub, Kind: "trend", Unit: "ms", Values: map[string]float64{
			"avg": avg, "min": mn, "med": med, "max": mx, "p(90)": p90, "p(95)": p95, "p(99)": p99,
		}}
	}
	counter := func(name, sub, unit string, count float64) Metric {
		return Metric{Name: name, Submetric: sub, Kind: "counter", Unit: unit, Values: map[string]float64{
			"count": count, "rate": math.Round(count/secs*1000) / 1000,
		}}
	}
	gauge := func(name, unit string, v float64) Metric {
		return Metric{Name: name, Kind: "gauge", Unit: unit, Values: map[string]float64{"value": v, "min": v, "max": v}}
	}
	rate := func(name, sub string, passes, n int64) Metric {
		return Metric{Name: name, Submetric: sub, Kind: "rate", Values: map[string]float64{
			"rate": float64(passes) / float64(n), "passes": float64(passes), "fails": float64(n - passes),
		}}
	}

	return Run{
		Scenario:    "redis-outage",
		Description: "Redis blackholes for 20 s; every request still succeeds from PostgreSQL within the SLO.",
		Profile:     "seed",
		TargetURL:   "http://127.0.0.1:18080",
		Start:       start,
		Duration:    60 * time.Second,
		Verdict:     VerdictFail,
		ExitCode:    1,
		Metrics: []Metric{
			counter("data_received", "", "B", 412_803_112),
			counter("data_sent", "", "B", 23_104_550),
			trend("http_req_duration", "", 9.84, 0.41, 2.2, 2013.77, 4.9, 7.12, 312.4),
			trend("http_req_duration", "{phase:outage}", 402.3, 1.2, 310.2, 2013.77, 701.5, 812, 1998.4),
			trend("http_req_duration", "{phase:recovery}", 3.9, 0.41, 2.3, 1211.05, 4.7, 6.9, 21.3),
			trend("http_req_duration", "{phase:steady}", 2.61, 0.44, 2.1, 48.2, 4.6, 6.2, 11.5),
			rate("http_req_failed", "", failed, total),
			rate("http_req_failed", "{phase:outage}", outageFailed, outageReqs),
			trend("http_req_service_time", "", 9.84, 0.41, 2.2, 2013.77, 4.9, 7.12, 312.4),
			trend("http_req_waiting", "", 9.61, 0.38, 2.05, 2013.5, 4.7, 6.95, 311.9),
			counter("http_reqs", "", "", float64(total)),
			counter("http_reqs", "{phase:outage}", "", float64(outageReqs)),
			counter("iterations", "", "", float64(total)),
			counter("lost_writes", "", "", 0),
			gauge("recovery_time", "s", 3.2),
			counter("stale_reads", "", "", 0),
			gauge("vus", "", 50),
			gauge("vus_max", "", 50),
		},
		Thresholds: verdict.EvaluateAll(ts, stats),
		Phases: []Phase{
			{Name: "steady", Start: 0, End: 20 * time.Second},
			{
				Name: "outage", Start: 20 * time.Second, End: 40 * time.Second,
				Fault:   "redis: blackhole (timeout toxic, timeout 0)",
				Applied: start.Add(20*time.Second + 4*time.Millisecond),
				Removed: start.Add(40*time.Second + 2*time.Millisecond),
			},
			{Name: "recovery", Start: 40 * time.Second, End: 60 * time.Second},
		},
		Series: series,
		Notes: []string{
			"seed profile: expected failures matched (three 2 s Redis retries cannot meet a 50 ms p95 during an outage)",
			"oracle: 8312 acknowledged writes, all found in PostgreSQL; no stale reads",
		},
	}
}

// outageSeries is the fixture's per-second series: steady, a collapse
// while Redis is blackholed, a short recovery.
func outageSeries() []Point {
	msd := func(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }
	wobble := func(s int, amp float64) float64 { return amp * math.Sin(float64(s)*1.7) }
	var out []Point
	for s := range 60 {
		p := Point{Second: s}
		switch {
		case s < 20 || s >= 43:
			p.Requests = int64(4200 + wobble(s, 90))
			p.P50 = msd(2.1 + wobble(s, 0.15))
			p.P95 = msd(6.2 + wobble(s+3, 0.6))
			p.P99 = msd(11.5 + wobble(s+5, 1.8))
		case s == 20:
			p.Requests, p.Failed = 1410, 12
			p.P50, p.P95, p.P99 = msd(180), msd(1910), msd(2004)
		case s < 40:
			p.Requests = int64(128 + wobble(s, 9))
			p.Failed = int64(2 + math.Round(wobble(s+1, 1.4)))
			p.P50 = msd(310 + wobble(s, 25))
			p.P95 = msd(812 + wobble(s+2, 60))
			p.P99 = msd(1998 + wobble(s+4, 12))
		case s == 40:
			p.Requests, p.Failed = 902, 1
			p.P50, p.P95, p.P99 = msd(35.2), msd(420.5), msd(1211)
		case s == 41:
			p.Requests = 3104
			p.P50, p.P95, p.P99 = msd(4.8), msd(28.4), msd(60.1)
		case s == 42:
			p.Requests = 4011
			p.P50, p.P95, p.P99 = msd(2.6), msd(9.1), msd(18.3)
		}
		out = append(out, p)
	}
	return out
}
