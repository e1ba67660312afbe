package run

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// External is a run of a plan whose load another tool drove (k6, read
// back by package k6): what it recorded, and what it did to the faults.
// JudgeExternal judges and reports it as Execute does its own runs.
type External struct {
	// Tool names the load generator in reasons and notes: "k6".
	Tool string
	// Recorder holds the tool's samples, its start the run's zero.
	Recorder *record.Recorder
	// Stats, when not nil, answers the thresholds in place of the
	// Recorder: a tool's end-of-test aggregates, without samples.
	Stats      verdict.Stats
	Start, End time.Time
	// Events are, one per phase of the plan in order, when the tool
	// applied and removed the phase's fault; a phase whose fault has no
	// Applied time was not disturbed (its recovery is not timed). nil:
	// the tool reported nothing about faults.
	Events []timeline.Event
	// Sources is true when the requests carry the source tag.
	Sources bool
	// Target names the target (a profile or variant whose expectations
	// apply, with Expected), "" for none; TargetURL is shown as is.
	Target, TargetURL string
	Expected          Expected
	// Notes go into the report first.
	Notes []string
}

// JudgeExternal judges an external run with the plan's thresholds, once,
// by the same rules as Execute (what the tool could not measure is
// inconclusive with the reason: the oracle's metrics, a cold start; the
// recovery after each fault it applied is timed from its per-second
// data), prints the summary and writes the reports to o.Out (not
// nested).
func JudgeExternal(_ context.Context, p *Plan, x External, o Options) (*Outcome, error) {
	o = o.withDefaults()
	spec := p.Spec
	if x.Recorder == nil {
		return nil, fmt.Errorf("judge %s results: no recorder", x.Tool)
	}
	ev := Evidence{
		Sources:     x.Sources,
		NoOracle:    x.Tool + " drove the load, so no oracle checked its reads against the harness's own writes",
		NoColdStart: x.Tool + " does not start the target, so no cold start was timed",
	}
	ev.NoDurability = ev.NoOracle
	notes := slices.Clone(x.Notes)
	disturbances := false
	for i, s := range p.Steps {
		disturbances = disturbances || s.Fault != nil || s.Action != 0
		if i < len(x.Events) && !x.Events[i].Applied.IsZero() {
			ev.Disturbed = append(ev.Disturbed, s.Name)
		}
		if s.Action != 0 {
			notes = append(notes, fmt.Sprintf("phase %s: action %s not performed (%s reaches Toxiproxy only)", s.Name, s.Action, x.Tool))
		}
	}
	for _, e := range x.Events {
		if e.Err != nil {
			notes = append(notes, fmt.Sprintf("phase %s: %v", e.Phase, e.Err))
		}
	}
	switch {
	case x.Stats != nil:
		ev.NoRecovery = x.Tool + "'s end-of-test summary has no per-second data"
	case disturbances && len(ev.Disturbed) == 0:
		ev.NoRecovery = x.Tool + "'s results show no fault applied (no Toxiproxy call of the exported script's control scenario)"
	case len(ev.Disturbed) > 0:
		rs, band, why := recoveries(spec, x.Recorder.Buckets(), x.Start, x.End, x.Events)
		ev.NoRecovery = why
		if why != "" {
			notes = append(notes, "recovery time: not measured ("+why+")")
		}
		notes = append(notes, recordRecoveries(x.Recorder, rs, band)...)
	}
	res := &engine.Result{Start: x.Start, End: x.End, Recorder: x.Recorder}
	st := x.Stats
	if st == nil {
		st = stats(res)
	}
	j := judge(judgeInput{thresholds: p.Thresholds, stats: st, evidence: ev, expected: x.Expected, ran: x.End.Sub(x.Start)})
	rep := summarize(spec, x.Target, x.TargetURL, res, j, ev)
	for i := range rep.Phases {
		if i < len(x.Events) {
			rep.Phases[i].Applied, rep.Phases[i].Removed = x.Events[i].Applied, x.Events[i].Removed
		}
	}
	rep.Notes = append(notes, j.Notes...)
	out := &Outcome{Target: x.Target, Report: rep, Judgement: j}
	if err := report.WriteSummary(o.Stdout, rep, report.SummaryOptions{Color: o.Color}); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := WriteReports(o.Out, rep); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Stderr, "reports in %s (summary.json, junit.xml, report.html)\n", o.Out)
	}
	return out, nil
}
