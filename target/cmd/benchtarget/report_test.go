package main

import (
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// TestVerdicts checks the goals against medians of valid runs only.
func TestVerdicts(t *testing.T) {
	run := func(rps float64, p95 time.Duration, status int64) measurement {
		return measurement{WrkResult: benchkit.WrkResult{Requests: int64(rps * 10), Duration: 10 * time.Second, P95: p95, Status: status}}
	}
	cases := []*caseResult{
		{benchCase: benchCase{name: "hello"}, runs: []measurement{run(100, time.Millisecond, 0), run(110, time.Millisecond, 0), run(90, time.Millisecond, 0)}},
		{benchCase: benchCase{name: "redis-get"}, runs: []measurement{run(50, time.Millisecond, 0)}},
		// The invalid 200 req/s run must not lift the median to a pass.
		{benchCase: benchCase{name: "flag-memory"}, runs: []measurement{run(70, time.Millisecond, 0), run(200, time.Millisecond, 3), run(75, time.Millisecond, 0)}},
		{benchCase: benchCase{name: "flag-redis"}, runs: []measurement{run(46, 3*time.Millisecond, 0)}},
	}
	r := &report{cases: cases, rss: []rssResult{
		{name: "flagserver-memory", bytes: 30 << 20, flagserver: true},
		{name: "hello", bytes: 100 << 20},
	}}
	want := map[string]bool{
		"flag-memory req/s ≥ 0.8 × hello":    false, // 72.5 / 100
		"flag-redis req/s ≥ 0.9 × redis-get": true,  // 46 / 50
		"flag-memory p95 ≤ 2.00 ms":          true,
		"flag-redis p95 ≤ 2.00 ms":           false,
		"flagserver peak RSS ≤ 64.0 MiB":     true, // the reference's RSS is not judged
	}
	got := r.verdicts()
	if len(got) != len(want) {
		t.Fatalf("%d verdicts, want %d: %+v", len(got), len(want), got)
	}
	for _, v := range got {
		if w, ok := want[v.Goal]; !ok || w != v.Pass {
			t.Errorf("goal %q: pass = %v (%s), want %v (known goal: %v)", v.Goal, v.Pass, v.Got, w, ok)
		}
	}
	if benchkit.Passed(r.verdicts()) {
		t.Error("Passed = true with failed goals")
	}
}
