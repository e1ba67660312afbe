package run

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"
)

// secondsOf records 20 requests in each second of the run, each second
// with the latency lat(s) and failures fail(s).
func secondsOf(start time.Time, n int, lat func(s int) time.Duration, fail func(s int) int) *record.Recorder {
	rec := record.New(start)
	for s := range n {
		for i := range 20 {
			rec.AddRequest(record.Request{
				At:       start.Add(time.Duration(s)*time.Second + time.Duration(i)*10*time.Millisecond),
				Duration: lat(s), Service: lat(s),
				Failed: i < fail(s),
			})
		}
	}
	return rec
}

func TestRecoveries(t *testing.T) {
	spec := testPlan(t, twoPhases, `  http_reqs: ["count>0"]`, "").Spec
	start := time.Unix(1_000_000, 0)
	removed := start.Add(20 * time.Second)
	events := []timeline.Event{{Phase: "steady"}, {Phase: "outage", Applied: start.Add(10 * time.Second), Removed: removed}, {Phase: "recovery"}}
	ms := func(n int) func(int) time.Duration {
		return func(int) time.Duration { return time.Duration(n) * time.Millisecond }
	}
	none := func(int) int { return 0 }
	tests := []struct {
		name string
		lat  func(int) time.Duration
		fail func(int) int
		want []Recovery
	}{
		{"back at once", ms(2), none, []Recovery{{Phase: "outage", Time: 0, Recovered: true}}},
		{"slow for 4 s after the fault", func(s int) time.Duration {
			if s >= 10 && s < 24 {
				return 500 * time.Millisecond
			}
			return 2 * time.Millisecond
		}, none, []Recovery{{Phase: "outage", Time: 4 * time.Second, Recovered: true}}},
		{"failing for 2 s after the fault", ms(2), func(s int) int {
			if s >= 10 && s < 22 {
				return 5
			}
			return 0
		}, []Recovery{{Phase: "outage", Time: 2 * time.Second, Recovered: true}}},
		{"never back", func(s int) time.Duration {
			if s >= 10 {
				return time.Second
			}
			return 2 * time.Millisecond
		}, none, []Recovery{{Phase: "outage", Time: 10 * time.Second, Recovered: false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := secondsOf(start, 30, tc.lat, tc.fail)
			got, band, why := recoveries(spec, rec.Buckets(), start, start.Add(30*time.Second), events)
			if why != "" {
				t.Fatal(why)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("recoveries (-want +got):\n%s", diff)
			}
			if band.p95 < 2000 || band.p95 > 2*2000+5000+100 {
				t.Errorf("steady band p95 %.0f µs, want twice the steady median (2 ms) plus 5 ms", band.p95)
			}
			notes := strings.Join(recordRecoveries(rec, got, band), "\n")
			if !strings.Contains(notes, "recovery after outage") {
				t.Errorf("notes lack the recovery: %s", notes)
			}
		})
	}
	t.Run("first phase faulted: not measured", func(t *testing.T) {
		s := *spec
		s.Timeline = append([]scenarios.Phase(nil), spec.Timeline...)
		s.Timeline[0].Action = scenarios.ActionFlush
		_, _, why := recoveries(&s, secondsOf(start, 30, ms(2), none).Buckets(), start, start.Add(30*time.Second), events)
		if why == "" {
			t.Fatal("recovery measured from a faulted first phase")
		}
	})
}

func TestStepsOf(t *testing.T) {
	p := testPlan(t, `  - {phase: steady, at: 0s}
  - {phase: slow, at: 5s, for: 5s, fault: {proxy: postgres, type: latency, latency: 50ms}}
  - {phase: flip, at: 10s, for: 5s, action: failover, rejoin: true}
  - {phase: after, at: 15s}`, `  http_reqs: ["count>0"]`, "")
	if len(p.Steps) != 4 {
		t.Fatalf("%d steps, want 4", len(p.Steps))
	}
	want := []struct {
		phase      string
		start, end time.Duration
		action     scenarios.Action
		rejoin     bool
		fault      string
	}{
		{"steady", 0, 5 * time.Second, 0, false, ""},
		{"slow", 5 * time.Second, 10 * time.Second, 0, false, "postgres"},
		{"flip", 10 * time.Second, 15 * time.Second, scenarios.ActionFailover, true, ""},
		{"after", 15 * time.Second, 0, 0, false, ""}, // open-ended: to the run's end
	}
	for i, w := range want {
		s := p.Steps[i]
		if s.Name != w.phase || s.Start != w.start || s.End != w.end || s.Action != w.action || s.Rejoin != w.rejoin {
			t.Errorf("step %d = %+v, want %+v", i, s, w)
		}
		switch {
		case w.fault == "" && s.Fault != nil:
			t.Errorf("step %s has a fault %v", s.Name, s.Fault)
		case w.fault != "" && (s.Fault == nil || s.Fault.Proxy != w.fault || s.Fault.Kind != toxics.Latency || s.Fault.Latency != 50*time.Millisecond):
			t.Errorf("step %s fault = %+v, want 50ms latency on %s", s.Name, s.Fault, w.fault)
		}
	}
	if got := strings.Join(p.Disturbances(), ","); got != "slow,flip (failover)" {
		t.Errorf("Disturbances = %q", got)
	}
	if !p.HasFaults() || !p.HasActions() {
		t.Error("HasFaults/HasActions false")
	}
	if got := p.Phases[3]; got.End != 0 {
		t.Errorf("last phase ends at %s, want 0 (through the graceful stop)", got.End)
	}
}

func TestStarved(t *testing.T) {
	got := starved(map[string]engine.GeneratorStats{
		"quiet":     {Probes: 1000, LagP99: 2 * time.Millisecond, Late: 3, Iterations: 10000},
		"lagging":   {Probes: 1000, LagP99: 80 * time.Millisecond, LagMax: 120 * time.Millisecond, Iterations: 10000},
		"late":      {Probes: 1000, LagP99: 3 * time.Millisecond, Late: 517, Iterations: 20000},
		"few late":  {Probes: 1000, Late: LateMin - 1, Iterations: 100},
		"small run": {Probes: 10, Late: 30, Iterations: 5000},
	})
	if len(got) != 2 || got["lagging"].Why == "" || got["late"].Why == "" {
		t.Fatalf("starved = %v, want lagging and late", got)
	}
	if !strings.Contains(got["late"].Why, "517 of 20000") || !strings.Contains(got["lagging"].Why, "80ms") {
		t.Errorf("reasons lack the figures: %v", got)
	}
	if got["lagging"].Bound != LagHops*80*time.Millisecond {
		t.Errorf("lagging bound %s, want LagHops × the probe's p99, 80ms", got["lagging"].Bound)
	}
	if starved(map[string]engine.GeneratorStats{"a": {LagP99: time.Millisecond}}) != nil {
		t.Error("a quiet run is starved")
	}
}
