package run

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// testPlan plans a small scenario file with the given timeline,
// thresholds and expectations (YAML lines, indented by two spaces).
func testPlan(t *testing.T, timeline, thresholds, expect string) *Plan {
	t.Helper()
	src := `name: judged
load: {executor: constant-vus, vus: 1, duration: 30s}
requests:
  - {name: get, weight: 1, method: GET, path: "/api/config/flags/{{flag}}?environment={{env}}"}
timeline:
` + timeline + `
thresholds:
` + thresholds + "\n"
	if expect != "" {
		src += "expect:\n" + expect
	}
	spec, err := scenarios.Parse("judged.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const twoPhases = `  - {phase: steady, at: 0s}
  - {phase: outage, at: 10s, for: 10s, fault: {proxy: redis, type: blackhole}}
  - {phase: recovery, at: 20s}`

// fakeStats answers every aggregation of a metric with one value; a
// metric it does not list has no samples (counters read 0, as the
// engine's stats do).
type fakeStats map[string]float64

func (f fakeStats) Aggregate(metric string, sel verdict.Tags, agg verdict.Agg) (float64, bool) {
	if v, ok := f[metric+sel.String()]; ok {
		return v, true
	}
	if v, ok := f[metric]; ok {
		return v, true
	}
	if (metric == "stale_reads" || metric == "lost_writes" || metric == "http_reqs") && agg.Kind == verdict.AggCount {
		return 0, true
	}
	return 0, false
}

func fullEvidence() Evidence {
	return Evidence{Sources: true, Disturbed: []string{"outage"}}
}

func TestJudge(t *testing.T) {
	thresholds := `  http_req_duration: ["p(95)<50"]
  "http_req_duration{phase:outage}": ["p(95)<50"]
  stale_reads: ["count==0"]
  lost_writes: ["count==0"]
  recovery_time: ["value<5"]
  "http_reqs{source:redis}": ["count>=0"]`
	p := testPlan(t, twoPhases, thresholds, "  seed:\n    - \"http_req_duration{phase:outage} p(95)<50\"\n")
	seedExpect := Local{Profile: "seed"}.Expected(p.Spec)
	hardenedExpect := Local{Profile: "hardened"}.Expected(p.Spec)
	mayExpect := Local{Profile: "seed"}.Expected(testPlan(t, twoPhases, thresholds, "  seed:\n    - may: \"http_req_duration{phase:outage} p(95)<50\"\n").Spec)
	good := fakeStats{"http_req_duration": 10, "recovery_time": 1}
	slowOutage := fakeStats{"http_req_duration": 10, "http_req_duration{phase:outage}": 900, "recovery_time": 1}
	tests := []struct {
		name     string
		stats    fakeStats
		ev       Evidence
		expected Expected
		mutate   func(*judgeInput)
		verdict  string
		reasons  []string // NoData reasons, in threshold order
		notes    []string // each the start of one of the judgement's notes
	}{
		{name: "everything measured and within limits", stats: good, ev: fullEvidence(), verdict: exitcode.VerdictPass},
		{name: "a latency threshold fails", stats: slowOutage, ev: fullEvidence(), verdict: exitcode.VerdictFail},
		{name: "no oracle: stale_reads and lost_writes are inconclusive, not passed", stats: good,
			ev:      Evidence{Sources: true, Disturbed: []string{"outage"}, NoOracle: "not the only writer", NoDurability: "not the only writer"},
			verdict: exitcode.VerdictInconclusive,
			reasons: []string{"durability not checked: not the only writer", "no oracle ran: not the only writer"}},
		{name: "no source header: source-scoped thresholds are inconclusive", stats: good,
			ev: Evidence{Disturbed: []string{"outage"}}, verdict: exitcode.VerdictInconclusive,
			reasons: []string{"the target sent no X-Flag-Source header, so no request has a source"}},
		{name: "no fault: recovery_time is inconclusive", stats: good,
			ev: Evidence{Sources: true}, verdict: exitcode.VerdictInconclusive,
			reasons: []string{"no phase injects a fault or an action, so there is no recovery to time"}},
		{name: "a starved phase turns a failure its lag can explain inconclusive", stats: slowOutage,
			ev:      Evidence{Sources: true, Disturbed: []string{"outage"}, Starved: map[string]Starvation{"outage": {Why: "517 of 9000 iterations started late", Bound: time.Second}}},
			verdict: exitcode.VerdictInconclusive,
			reasons: []string{"the load generator fell behind in phase outage (517 of 9000 iterations started late); its lag can add up to 1s to a request, which accounts for the excess over the limit"}},
		{name: "a starved phase leaves a failure its lag cannot explain failed", stats: slowOutage,
			ev:      Evidence{Sources: true, Disturbed: []string{"outage"}, Starved: map[string]Starvation{"outage": {Why: "late", Bound: 40 * time.Millisecond}}},
			verdict: exitcode.VerdictFail},
		{name: "a starved phase leaves a passing threshold passed", stats: good,
			ev:      Evidence{Sources: true, Disturbed: []string{"outage"}, Starved: map[string]Starvation{"outage": {Why: "lag", Bound: time.Second}}},
			verdict: exitcode.VerdictPass},
		{name: "a starved phase leaves other phases' failures failed", stats: fakeStats{"http_req_duration": 10, "http_req_duration{phase:outage}": 900, "recovery_time": 1},
			ev:      Evidence{Sources: true, Disturbed: []string{"outage"}, Starved: map[string]Starvation{"steady": {Why: "lag", Bound: time.Second}}},
			verdict: exitcode.VerdictFail},
		{name: "seed expected to fail the outage p95, and does", stats: slowOutage, ev: fullEvidence(), expected: seedExpect, verdict: exitcode.VerdictPass},
		{name: "seed expected to fail the outage p95, but passes", stats: good, ev: fullEvidence(), expected: seedExpect, verdict: exitcode.VerdictFail},
		{name: "may fail the outage p95, and fails", stats: slowOutage, ev: fullEvidence(), expected: mayExpect, verdict: exitcode.VerdictPass,
			notes: []string{"failed, as it may"}},
		{name: "may fail the outage p95, and passes", stats: good, ev: fullEvidence(), expected: mayExpect, verdict: exitcode.VerdictPass,
			notes: []string{"passed this time, though it may fail"}},
		{name: "may fail the outage p95, and the overall p95 fails", stats: fakeStats{"http_req_duration": 900, "http_req_duration{phase:outage}": 900, "recovery_time": 1},
			ev: fullEvidence(), expected: mayExpect, verdict: exitcode.VerdictFail, notes: []string{"unexpected failure: http_req_duration p(95)<50"}},
		{name: "hardened not expected to fail it, and fails", stats: slowOutage, ev: fullEvidence(), expected: hardenedExpect, verdict: exitcode.VerdictFail},
		{name: "expectations met but a threshold has no data: inconclusive", stats: slowOutage,
			ev: Evidence{Sources: true, Disturbed: []string{"outage"}, NoOracle: "x", NoDurability: "x"}, expected: seedExpect,
			verdict: exitcode.VerdictInconclusive, reasons: []string{"durability not checked: x", "no oracle ran: x"}},
		{name: "interrupted whatever the thresholds", stats: good, ev: fullEvidence(),
			mutate: func(in *judgeInput) { in.interrupted = true }, verdict: exitcode.VerdictInterrupted},
		{name: "aborted by abortOnFail is a failure", stats: good, ev: fullEvidence(),
			mutate: func(in *judgeInput) { r := verdict.Result{Threshold: p.Thresholds[0]}; in.aborted = &r }, verdict: exitcode.VerdictFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := judgeInput{thresholds: p.Thresholds, stats: tc.stats, evidence: tc.ev, expected: tc.expected, ran: 30 * time.Second}
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			j := judge(in)
			if j.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s\nresults:\n%s\nnotes: %v", j.Verdict, tc.verdict, lines(j.Summary.Results), j.Notes)
			}
			var reasons []string
			for _, r := range j.Summary.Results {
				if r.NoData {
					reasons = append(reasons, r.Reason)
				}
			}
			if diff := cmp.Diff(tc.reasons, reasons); diff != "" {
				t.Errorf("no-data reasons (-want +got):\n%s", diff)
			}
			for _, want := range tc.notes {
				if !slices.ContainsFunc(j.Notes, func(n string) bool { return strings.HasPrefix(n, want) }) {
					t.Errorf("no note starting %q in %q", want, j.Notes)
				}
			}
			if got := j.Summary.Passed + j.Summary.Failed + j.Summary.NoData; got != len(p.Thresholds) {
				t.Errorf("summary counts %d results, want %d", got, len(p.Thresholds))
			}
		})
	}
}

// No stale read: the staleness of stale reads is within any upper bound
// when the oracle ran; without an oracle it stays inconclusive.
func TestJudgeStalenessWithoutStaleReads(t *testing.T) {
	p := testPlan(t, twoPhases, `  staleness_seconds: ["p(99)<1", "max<2"]`, "")
	j := judge(judgeInput{thresholds: p.Thresholds, stats: fakeStats{}, evidence: fullEvidence()})
	if j.Verdict != exitcode.VerdictPass {
		t.Errorf("oracle ran, no stale read: %s\n%s", j.Verdict, lines(j.Summary.Results))
	}
	j = judge(judgeInput{thresholds: p.Thresholds, stats: fakeStats{}, evidence: Evidence{NoOracle: "x", Disturbed: []string{"outage"}}})
	if j.Verdict != exitcode.VerdictInconclusive {
		t.Errorf("no oracle: %s, want inconclusive", j.Verdict)
	}
}

func TestJudgeRecoveryOfAQuietPhase(t *testing.T) {
	p := testPlan(t, twoPhases, `  "recovery_time{phase:recovery}": ["value<5"]`, "")
	j := judge(judgeInput{thresholds: p.Thresholds, stats: fakeStats{}, evidence: fullEvidence()})
	if j.Verdict != exitcode.VerdictInconclusive || !strings.Contains(j.Summary.Results[0].Reason, "phase recovery injects no fault") {
		t.Fatalf("verdict %s, result %s", j.Verdict, j.Summary.Results[0])
	}
}

func lines(rs []verdict.Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// A running service's Redis is not the harness's: a file that crashes,
// restarts or fails it over is refused with the reason, before anything
// is contacted; a flush needs its address.
func TestRunningRefusesActionsItCannotPerform(t *testing.T) {
	for _, tc := range []struct {
		action, want string
		redis        string
	}{
		{"crash", "needs the Redis processes", "127.0.0.1:1"},
		{"failover", "needs the Redis processes", "127.0.0.1:1"},
		{"flush", "give the primary's direct address", ""},
	} {
		p := testPlan(t, "  - {phase: steady, at: 0s}\n  - {phase: act, at: 10s, for: 5s, action: "+tc.action+"}", `  http_reqs: ["count>0"]`, "")
		_, err := Running{URLs: []string{"http://127.0.0.1:1"}, Toxiproxy: "http://127.0.0.1:1", Redis: tc.redis}.Start(t.Context(), p, io.Discard, nil)
		var invalid *InvalidError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an InvalidError saying %q", tc.action, err, tc.want)
		}
	}
}
