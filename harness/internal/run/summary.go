package run

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/internal/phase"
	"github.com/flagstorm/flagstorm/scenarios"
)

// summarize turns a finished, judged run into the reports' model.
func summarize(spec *scenarios.Spec, target, urls string, res *engine.Result, j Judgement, ev Evidence) report.Run {
	run := report.Run{
		Scenario:    spec.Name,
		Description: spec.Description,
		Profile:     target,
		TargetURL:   urls,
		Start:       res.Start,
		Duration:    res.End.Sub(res.Start),
		Thresholds:  j.Summary,
		Verdict:     j.Verdict,
		ExitCode:    j.ExitCode(),
		Abort:       j.Abort,
	}
	for i, p := range spec.Timeline {
		ph := report.Phase{Name: p.Name, Start: p.At, End: spec.PhaseEnd(i)}
		if p.Fault != nil {
			ph.Fault = p.Fault.String()
		} else if p.Action != 0 {
			ph.Fault = p.Action.String()
		}
		run.Phases = append(run.Phases, ph)
	}
	for _, b := range res.Recorder.Buckets() {
		run.Series = append(run.Series, report.Point{
			Second: b.Second, Requests: b.Requests, Failed: b.Failed,
			P50: time.Duration(b.Quantile(50)) * time.Microsecond,
			P95: time.Duration(b.Quantile(95)) * time.Microsecond,
			P99: time.Duration(b.Quantile(99)) * time.Microsecond,
		})
	}
	run.Metrics = metricsOf(res, spec, j.Summary, ev)
	return run
}

// partialReason says where a run was cut short: "interrupted in phase
// outage at t=12.3s of 1m planned (hangup signal received)".
func partialReason(tl phase.Timeline, ran, planned time.Duration, cause error) string {
	var b strings.Builder
	b.WriteString("interrupted")
	if name := tl.At(ran); name != "" {
		fmt.Fprintf(&b, " in phase %s", name)
	}
	fmt.Fprintf(&b, " at t=%s of %s planned", ran.Round(100*time.Millisecond), planned)
	// A signal's cause says which ("hangup signal received"), and is
	// context.Canceled by errors.Is: compare with the plain cancel.
	if cause != nil && cause != context.Canceled {
		fmt.Fprintf(&b, " (%v)", cause)
	}
	return b.String()
}

// aggsOf are the aggregates a report lists for each kind of metric.
var aggsOf = map[verdict.MetricType][]verdict.Agg{
	verdict.Counter: {{Kind: verdict.AggCount}, {Kind: verdict.AggRate}},
	verdict.Gauge:   {{Kind: verdict.AggValue}, {Kind: verdict.AggMin}, {Kind: verdict.AggMax}},
	verdict.Rate:    {{Kind: verdict.AggRate}},
	verdict.Trend:   {{Kind: verdict.AggAvg}, {Kind: verdict.AggMin}, {Kind: verdict.AggMed}, {Kind: verdict.AggMax}, {Kind: verdict.AggPercentile, P: 90}, {Kind: verdict.AggPercentile, P: 95}, {Kind: verdict.AggPercentile, P: 99}},
}

// metricsOf lists every recorded metric, whole, and the submetrics that
// thresholds judge or that split the run by phase and source.
func metricsOf(res *engine.Result, spec *scenarios.Spec, sum verdict.Summary, ev Evidence) []report.Metric {
	cat := verdict.DefaultCatalog()
	type sel struct {
		name string
		tags verdict.Tags
	}
	seen := map[string]bool{}
	var sels []sel
	add := func(name string, tags verdict.Tags) {
		if !ev.measured(name) {
			return
		}
		if k := name + tags.String(); !seen[k] {
			seen[k] = true
			sels = append(sels, sel{name, tags})
		}
	}
	names := make([]string, 0, len(cat.Metrics))
	for n := range cat.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, nil)
	}
	for _, r := range sum.Results {
		add(r.Threshold.Metric, r.Threshold.Tags)
	}
	for _, p := range spec.Timeline {
		add(metric.HTTPReqDuration.Name(), verdict.Tags{{Name: "phase", Value: p.Name}})
	}
	for _, src := range metric.Sources() {
		add(metric.HTTPReqDuration.Name(), verdict.Tags{{Name: "source", Value: src}})
	}
	st := stats(res)
	var out []report.Metric
	for _, s := range sels {
		m := cat.Metrics[s.name]
		values := map[string]float64{}
		for _, a := range aggsOf[m.Type] {
			v, ok := st.Aggregate(s.name, s.tags, a)
			if !ok {
				break
			}
			values[a.String()] = v
		}
		if len(values) == 0 {
			continue
		}
		if m.Type == verdict.Rate {
			sum, _ := res.Recorder.Summarize(record.Selector{Metric: s.name, Tags: s.tags.Map()})
			values["passes"] = sum.Sum
			values["fails"] = float64(sum.Count) - sum.Sum
		}
		out = append(out, report.Metric{Name: s.name, Submetric: s.tags.String(), Kind: m.Type.String(), Unit: m.Unit.String(), Values: values})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Submetric < out[j].Submetric
	})
	return out
}

// stats answers threshold queries over a finished run.
func stats(res *engine.Result) verdict.Stats {
	return engine.Stats(res.Recorder, func() time.Time { return res.End })
}
