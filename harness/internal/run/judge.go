package run

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Evidence is what a run could measure. A threshold on something it could
// not (the oracle's metrics without an oracle, a source tag when the
// target sent no source header, a cold start's time without a cold
// start, a recovery time without a fault) has no data: the judge makes it
// inconclusive with the reason, never a pass. A counter that could have
// counted and did not still reads 0, as in k6.
type Evidence struct {
	// NoOracle says why reads were not checked against the harness's
	// writes ("" when they were): stale_reads, staleness_seconds.
	NoOracle string
	// NoDurability says why acknowledged writes were not checked in the
	// source of truth ("" when they were): lost_writes.
	NoDurability string
	// NoColdStart says why no cold start was timed: target_ready_time.
	NoColdStart string
	// Disturbed are the phases with a fault or an action, whose recovery
	// is timed: recovery_time.
	Disturbed []string
	// NoRecovery says why recovery was not timed at all, when it was not.
	NoRecovery string
	// Sources is true when at least one response carried the source
	// header (X-Flag-Source): the source tag.
	Sources bool
	// Starved maps a phase to why its load generator fell behind its own
	// schedule: a latency threshold that fails there by no more than the
	// generator's own lag could add is inconclusive, not failed.
	Starved map[string]Starvation
}

// missing says why t cannot be judged in this run, or "".
func (ev Evidence) missing(t verdict.Threshold) string {
	if _, ok := t.Tags.Get("source"); ok && !ev.Sources {
		return "the target sent no X-Flag-Source header, so no request has a source"
	}
	switch t.Metric {
	case "stale_reads", "staleness_seconds", "nonmonotonic_reads":
		if ev.NoOracle != "" {
			return "no oracle ran: " + ev.NoOracle
		}
	case "lost_writes":
		if ev.NoDurability != "" {
			return "durability not checked: " + ev.NoDurability
		}
	case "target_ready_time":
		if ev.NoColdStart != "" {
			return ev.NoColdStart
		}
	case "recovery_time":
		if ev.NoRecovery != "" {
			return "recovery not timed: " + ev.NoRecovery
		}
		if len(ev.Disturbed) == 0 {
			return "no phase injects a fault or an action, so there is no recovery to time"
		}
		if p, ok := t.Tags.Get("phase"); ok && !slices.Contains(ev.Disturbed, p) {
			return fmt.Sprintf("phase %s injects no fault and performs no action, so there is no recovery from it to time", p)
		}
	}
	return ""
}

// measured reports whether the run measured the metric at all: a report
// lists no value (not even a counter's 0) for one it did not.
func (ev Evidence) measured(name string) bool {
	return ev.missing(verdict.Threshold{Metric: name}) == ""
}

// vacuous reports whether t is an upper bound on the staleness of stale
// reads, which holds when the oracle ran and found none (staleness has
// samples only for stale reads).
func vacuous(t verdict.Threshold) bool {
	return t.Metric == "staleness_seconds" && (t.Expr.Op == verdict.OpLess || t.Expr.Op == verdict.OpLessEq)
}

// latencyMetrics are the metrics a starved load generator inflates.
var latencyMetrics = []string{"http_req_duration", "http_req_waiting", "http_req_service_time"}

// starvedBy says why a failing latency threshold cannot be blamed on the
// target, or "": it covers a phase whose generator fell behind, and the
// observed value exceeds the limit by no more than the generator's own
// worst lag there (a lag adds at most that much to a request's measured
// latency; a larger excess is the target's).
func (ev Evidence) starvedBy(t verdict.Threshold, observed float64) string {
	if len(ev.Starved) == 0 || !slices.Contains(latencyMetrics, t.Metric) {
		return ""
	}
	if t.Expr.Op != verdict.OpLess && t.Expr.Op != verdict.OpLessEq {
		return ""
	}
	phases := make([]string, 0, len(ev.Starved))
	if p, ok := t.Tags.Get("phase"); ok {
		if _, starved := ev.Starved[p]; starved {
			phases = append(phases, p)
		}
	} else {
		for p := range ev.Starved {
			phases = append(phases, p)
		}
		sort.Strings(phases)
	}
	var worst string
	var bound time.Duration
	for _, p := range phases {
		if s := ev.Starved[p]; worst == "" || s.Bound > bound {
			worst, bound = p, s.Bound
		}
	}
	if worst == "" {
		return ""
	}
	if excess := observed - t.Expr.Limit; excess > t.Unit.FromDuration(bound) {
		return ""
	}
	s := ev.Starved[worst]
	return fmt.Sprintf("the load generator fell behind in phase %s (%s); its lag can add up to %s to a request, which accounts for the excess over the limit", worst, s.Why, bound.Round(100*time.Microsecond))
}

// Expected says what the target is expected to do with threshold key's
// index-th expression (the scenario's expect: list for a profile or
// variant): pass, fail, or either (may:); nil expects nothing to fail.
type Expected func(key string, index int) scenarios.Expectation

// Judgement is a run's one verdict, computed once, after every measure is
// in.
type Judgement struct {
	Summary verdict.Summary
	// Verdict is exitcode.VerdictPass, VerdictFail, VerdictInconclusive or
	// VerdictInterrupted.
	Verdict string
	// Unexpected lists, with expectations, the thresholds that failed
	// without being expected to and those expected to fail that passed.
	Unexpected []string
	// Abort says which abortOnFail threshold stopped the run, and when.
	Abort string
	Notes []string
}

// ExitCode is the judgement's exit code (the binary's one table).
func (j Judgement) ExitCode() int { return exitcode.Of(j.Verdict) }

// judgeInput is everything the judge reads.
type judgeInput struct {
	thresholds  []verdict.Threshold
	stats       verdict.Stats
	evidence    Evidence
	expected    Expected
	interrupted bool
	aborted     *verdict.Result
	ran         time.Duration
}

// judge judges every threshold once, applies what the run could not
// measure and the expectations, and decides the verdict:
//   - interrupted: interrupted, whatever the thresholds;
//   - a threshold failed (without expectations), or one failed that was
//     not expected to, or one expected to fail passed: fail;
//   - an abortOnFail threshold stopped the run (and was not expected to
//     fail): fail;
//   - any threshold without data (with its reason): inconclusive;
//   - otherwise pass.
func judge(in judgeInput) Judgement {
	var j Judgement
	results := make([]verdict.Result, 0, len(in.thresholds))
	for _, t := range in.thresholds {
		r := t.Evaluate(in.stats)
		if why := in.evidence.missing(t); why != "" {
			r = verdict.Result{Threshold: t, NoData: true, Reason: why}
		} else if r.NoData && vacuous(t) {
			// The oracle judged every read and none was stale: the
			// staleness of stale reads is within any upper bound.
			r = verdict.Result{Threshold: t, Pass: t.Expr.Holds(0)}
		} else if r.Verdict() == verdict.Fail {
			if why := in.evidence.starvedBy(t, r.Observed); why != "" {
				r = verdict.Result{Threshold: t, Observed: r.Observed, NoData: true, Reason: why}
			}
		}
		results = append(results, r)
	}
	j.Summary = verdict.Tally(results)
	if in.aborted != nil {
		j.Abort = fmt.Sprintf("%s failed with abortOnFail; the run stopped after %s", in.aborted.Threshold.String(), in.ran.Round(time.Second))
	}
	anyExpected := false
	expectation := func(t verdict.Threshold) scenarios.Expectation {
		if in.expected == nil {
			return scenarios.ExpectPass
		}
		return in.expected(t.Key, t.Index)
	}
	for _, r := range results {
		e := expectation(r.Threshold)
		anyExpected = anyExpected || e != scenarios.ExpectPass
		switch v := r.Verdict(); {
		case v == verdict.Fail && e == scenarios.ExpectFail:
			j.Notes = append(j.Notes, "expected failure: "+r.String())
		case v == verdict.Fail && e == scenarios.ExpectEither:
			j.Notes = append(j.Notes, "failed, as it may (a race or a limit the target straddles): "+r.String())
		case v == verdict.Pass && e == scenarios.ExpectEither:
			j.Notes = append(j.Notes, "passed this time, though it may fail: "+r.String())
		case v == verdict.Fail && in.expected != nil:
			j.Unexpected = append(j.Unexpected, "unexpected failure: "+r.Threshold.String())
		case v == verdict.Pass && e == scenarios.ExpectFail:
			j.Unexpected = append(j.Unexpected, "expected to fail but passed: "+r.Threshold.String())
		}
	}
	abortExpected := in.aborted != nil && expectation(in.aborted.Threshold) != scenarios.ExpectPass
	switch {
	case in.interrupted:
		j.Verdict = exitcode.VerdictInterrupted
	case len(j.Unexpected) > 0:
		j.Verdict = exitcode.VerdictFail
	case in.aborted != nil && !abortExpected:
		j.Verdict = exitcode.VerdictFail
	case j.Summary.Failed > 0 && !anyExpected:
		j.Verdict = exitcode.VerdictFail
	case j.Summary.NoData > 0:
		j.Verdict = exitcode.VerdictInconclusive
	default:
		j.Verdict = exitcode.VerdictPass
	}
	if anyExpected && j.Verdict == exitcode.VerdictPass {
		j.Notes = append(j.Notes, "the target failed exactly the thresholds the scenario expects it to fail")
	}
	if j.Summary.NoData > 0 && j.Verdict == exitcode.VerdictInconclusive {
		var which []string
		for _, r := range results {
			if r.NoData {
				which = append(which, r.Threshold.String())
			}
		}
		j.Notes = append(j.Notes, "inconclusive: no data for "+strings.Join(which, "; "))
	}
	j.Notes = append(j.Notes, j.Unexpected...)
	return j
}
