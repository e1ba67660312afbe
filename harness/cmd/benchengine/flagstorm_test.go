package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/scenarios"
)

func TestParseSummary(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		want      result
		wantValid bool
	}{
		{
			name: "clean run",
			file: "summary-ok.json",
			want: result{
				Requests: 35309, Duration: 2001136327, VUs: 5,
				P50: 204 * time.Microsecond, P95: 645 * time.Microsecond, P99: 1751 * time.Microsecond, Max: 42883419,
			},
			wantValid: true,
		},
		{
			name: "every request failed (404)",
			file: "summary-failed.json",
			want: result{
				Requests: 17028, Failed: 17028, Duration: 1000133798, VUs: 5,
				P50: 228 * time.Microsecond, P95: 661 * time.Microsecond, P99: 1680 * time.Microsecond, Max: 11190755,
			},
		},
		{
			name: "open model with dropped arrivals",
			file: "summary-dropped.json",
			want: result{
				Requests: 15674, Dropped: 24326, Duration: 2002624697, VUs: 2,
				P50: 161 * time.Microsecond, P95: 1257 * time.Microsecond, P99: 2167 * time.Microsecond, Max: 8530237,
			},
			wantValid: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSummary([]byte(readTestdata(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(result{}), ignoreProc); diff != "" {
				t.Errorf("parseSummary (-want +got):\n%s", diff)
			}
			if got.Valid() != tt.wantValid {
				t.Errorf("Valid() = %v, want %v (problem %q)", got.Valid(), tt.wantValid, got.Problem())
			}
		})
	}
	// http_reqs.rate is count over durationMs: RPS agrees with it.
	got, err := parseSummary([]byte(readTestdata(t, "summary-ok.json")))
	if err != nil {
		t.Fatal(err)
	}
	if want := 17644.475053298054; got.RPS()/want-1 > 1e-9 || got.RPS()/want-1 < -1e-9 {
		t.Errorf("RPS() = %v, want summary.json's http_reqs.rate %v", got.RPS(), want)
	}
}

func TestParseSummaryErrors(t *testing.T) {
	ok := readTestdata(t, "summary-ok.json")
	tests := []struct {
		name, in, wantErr string
	}{
		{"not JSON", "<html>", "invalid character"},
		{"no http_reqs", strings.Replace(ok, `"http_reqs"`, `"http_requests"`, 1), "metric http_reqs missing"},
		{"null percentile", strings.Replace(ok, `"p(99)": 1.7510000000000001`, `"p(99)": null`, 1), `http_req_duration.values["p(99)"] missing`},
		{"no duration", strings.Replace(ok, `"durationMs"`, `"duration"`, 1), "flagstorm.durationMs missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSummary([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSummary error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestScenarioYAML parses the generated scenarios with the scenario
// parser flagstorm uses: what the benchmark runs is what it says.
func TestScenarioYAML(t *testing.T) {
	tests := []struct {
		name  string
		shape loadShape
		want  scenarios.Scenario
	}{
		{
			name:  "closed model",
			shape: loadShape{VUs: 50, Duration: 10 * time.Second},
			want:  scenarios.Scenario{Executor: scenarios.ConstantVUs, VUs: 50, Duration: 10 * time.Second},
		},
		{
			name:  "open model",
			shape: loadShape{Rate: 2000, PreAllocatedVUs: 50, MaxVUs: 200, Duration: 10 * time.Minute},
			want: scenarios.Scenario{Executor: scenarios.ConstantArrivalRate, Rate: 2000, TimeUnit: time.Second,
				Duration: 10 * time.Minute, PreAllocatedVUs: 50, MaxVUs: 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := scenarioYAML("throughput-hello", `benchengine: "quoted" text`, tt.shape, flagPath)
			spec, err := scenarios.Parse("generated.yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if len(spec.Scenarios) != 1 || len(spec.Requests) != 1 || len(spec.Thresholds) != 1 {
				t.Fatalf("got %d scenarios, %d requests, %d thresholds; want one of each", len(spec.Scenarios), len(spec.Requests), len(spec.Thresholds))
			}
			sc := spec.Scenarios[0]
			got := scenarios.Scenario{Executor: sc.Executor, VUs: sc.VUs, Rate: sc.Rate, Duration: sc.Duration,
				PreAllocatedVUs: sc.PreAllocatedVUs, MaxVUs: sc.MaxVUs}
			if tt.want.Executor == scenarios.ConstantArrivalRate {
				got.TimeUnit = sc.TimeUnit
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(scenarios.Scenario{})); diff != "" {
				t.Errorf("scenario (-want +got):\n%s", diff)
			}
			if sc.GracefulStop != gracefulStop {
				t.Errorf("gracefulStop = %v, want %v", sc.GracefulStop, gracefulStop)
			}
			if r := spec.Requests[0]; r.Method != "GET" || r.Path != flagPath {
				t.Errorf("request %s %s, want GET %s", r.Method, r.Path, flagPath)
			}
			if spec.Description != `benchengine: "quoted" text` {
				t.Errorf("description %q", spec.Description)
			}
		})
	}
}
