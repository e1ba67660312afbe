package report

import (
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/exitcode"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// Run outcomes, the values of Run.Verdict. They name the binary's exit
// codes 0, 1, 3 and 130 (package exitcode); an aborted run (Run.Abort) is
// a Fail.
const (
	VerdictPass         = exitcode.VerdictPass
	VerdictFail         = exitcode.VerdictFail
	VerdictInconclusive = exitcode.VerdictInconclusive
	VerdictInterrupted  = exitcode.VerdictInterrupted
)

// Run is everything a report shows about one finished run. The engine
// fills it; the writers only read it.
type Run struct {
	Scenario    string // the scenario's name
	Description string // its one-line description; "" for none
	Profile     string // the target's cache profile, "seed" or "hardened"; "" when unknown
	TargetURL   string // the base URL the load went to

	Start    time.Time     // when the run started (load offset 0)
	Duration time.Duration // how long it ran (shorter than planned when aborted or interrupted)

	// Verdict is VerdictPass, VerdictFail, VerdictInconclusive or
	// VerdictInterrupted. "" means "derive it from Thresholds.Verdict".
	Verdict  string
	ExitCode int
	// Abort is non-empty when a threshold with abortOnFail stopped the
	// run: what failed and when, in words.
	Abort string
	// Partial is true when the run was cut short (interrupted by a
	// signal) and the report holds only what was recorded until then;
	// PartialReason says so in words, with the phase and the time:
	// "interrupted (hangup signal received) in phase outage at t=12.3s of
	// 60s planned". Every format shows it. A partial run's verdict is
	// never a pass: its thresholds are shown as measured, and the run is
	// VerdictInterrupted (fail closed).
	Partial       bool
	PartialReason string

	Metrics    []Metric        // sorted by Name, then Submetric ("" first)
	Thresholds verdict.Summary // the judgement, in the thresholds' order
	Phases     []Phase         // the timeline, in order
	Series     []Point         // one per second of the run, by Second
	Notes      []string        // free text lines, shown as given
}

// Metric is one (sub)metric's aggregates, as k6's summary has them.
type Metric struct {
	Name      string // "http_req_duration"
	Submetric string // the selector, "{phase:outage}", or "" for the whole metric
	Kind      string // "counter", "gauge", "rate" or "trend"
	Unit      string // "ms", "s", "B" or "" (a plain number), as verdict.Unit writes it

	// Values are the aggregates, in Unit:
	//   counter: count, rate (per second of run time)
	//   gauge:   value, min, max
	//   rate:    rate (0..1), passes (non-zero samples), fails (zero samples)
	//   trend:   avg, min, med, max, p(90), p(95), p(99) (any p(N) is shown)
	Values map[string]float64
}

// Key is the metric and its selector, "http_req_duration{phase:outage}":
// verdict.Threshold.Submetric of the thresholds judged on it.
func (m Metric) Key() string { return m.Name + m.Submetric }

// Phase is one phase of the timeline.
type Phase struct {
	Name       string
	Start, End time.Duration // offsets from Run.Start, as planned
	Fault      string        // what the phase injects, in words; "" for none
	// Applied and Removed are when the fault actually went on and came
	// off; zero if it never did (or, for Removed, not before the run ended).
	Applied, Removed time.Time
}

// Point is one second of the run: requests by intended start time.
type Point struct {
	Second        int   // seconds since Run.Start
	Requests      int64 // requests in this second: requests/s
	Failed        int64 // failed requests in this second: errors/s
	P50, P95, P99 time.Duration
}

// verdict returns r.Verdict, or the outcome the thresholds imply when the
// engine left it empty; a partial run is interrupted, whatever its
// thresholds say.
func (r Run) verdict() string {
	if r.Partial {
		return VerdictInterrupted // partial data never passes
	}
	if r.Verdict != "" {
		return r.Verdict
	}
	switch r.Thresholds.Verdict {
	case verdict.Fail:
		return VerdictFail
	case verdict.NoData:
		return VerdictInconclusive
	}
	return VerdictPass
}

// faultWindow is the time, as offsets from the start, during which the
// phase's fault was on: from Applied to Removed when the engine recorded
// them, else the planned phase. ok is false for a phase without a fault.
func (r Run) faultWindow(p Phase) (from, to time.Duration, ok bool) {
	if p.Fault == "" {
		return 0, 0, false
	}
	from, to = p.Start, p.End
	if !p.Applied.IsZero() && !r.Start.IsZero() {
		from = p.Applied.Sub(r.Start)
		if !p.Removed.IsZero() {
			to = p.Removed.Sub(r.Start)
		} else if r.Duration > 0 {
			to = r.Duration // still on when the run ended
		}
	}
	return from, max(from, to), true
}

// phaseOf returns the phase a submetric selects, if it selects one.
func (r Run) phaseOf(t verdict.Threshold) (Phase, bool) {
	name, ok := t.Tags.Get("phase")
	if !ok {
		return Phase{}, false
	}
	for _, p := range r.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// offset writes a time as an offset from the run's start, "20.004s",
// or as a clock time when the start is unknown.
func (r Run) offset(t time.Time) string {
	if r.Start.IsZero() {
		return t.Format("15:04:05.000")
	}
	return fmtOffset(t.Sub(r.Start))
}

// fmtOffset writes an offset rounded to the millisecond: "0s", "20s",
// "1m", "5m20s" for whole seconds, Go's "20.004s" and "1m0.5s" otherwise.
func fmtOffset(d time.Duration) string {
	d = d.Round(time.Millisecond)
	if d >= 0 && d%time.Second == 0 {
		return fmtSeconds(d.Seconds())
	}
	return d.String()
}

// group is the section of a summary a metric is listed under.
func group(name string) string {
	switch {
	case strings.HasPrefix(name, "http_"):
		return "HTTP"
	case strings.HasPrefix(name, "data_"):
		return "NETWORK"
	case name == "vus" || name == "vus_max" || strings.HasSuffix(name, "iterations") || name == "iteration_duration":
		return "EXECUTION"
	}
	return "RESILIENCE"
}

var groupOrder = []string{"HTTP", "EXECUTION", "NETWORK", "RESILIENCE"}
