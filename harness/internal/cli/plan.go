package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/load"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// loadSpec parses a scenario file and checks its thresholds against the
// grammar, every problem named by file and line. Any error is a usage
// error (exit 2).
func loadSpec(path string) (*scenarios.Spec, []verdict.Threshold, error) {
	spec, err := scenarios.Load(path)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	ts, err := thresholdsOf(spec)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	return spec, ts, nil
}

func thresholdsOf(spec *scenarios.Spec) ([]verdict.Threshold, error) {
	in := make(map[string][]verdict.Spec, len(spec.Thresholds))
	for _, t := range spec.Thresholds {
		for _, e := range t.Exprs {
			in[t.Key] = append(in[t.Key], verdict.Spec{Threshold: e.Text, AbortOnFail: e.AbortOnFail, DelayAbortEval: e.DelayAbortEval})
		}
	}
	ts, err := verdict.Parse(in, verdict.DefaultCatalog())
	if err == nil {
		return ts, nil
	}
	// Place every grammar error in the file.
	var placed []error
	for _, e := range unjoin(err) {
		var ve *verdict.Error
		if errors.As(e, &ve) {
			placed = append(placed, spec.ThresholdError(ve.Key, ve.Index, ve.Msg))
			continue
		}
		placed = append(placed, e)
	}
	return nil, errors.Join(placed...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// planOf maps the scenario file's load onto the executors.
func planOf(spec *scenarios.Spec) (load.Plan, int) {
	var plan load.Plan
	maxVUs := 0
	stages := func(in []scenarios.Stage) []load.Stage {
		out := make([]load.Stage, len(in))
		for i, s := range in {
			out[i] = load.Stage{Duration: s.Duration, Target: s.Target}
		}
		return out
	}
	for _, sc := range spec.Scenarios {
		var ex load.Executor
		switch sc.Executor {
		case scenarios.ConstantVUs:
			ex = load.ConstantVUs{VUs: sc.VUs, Duration: sc.Duration, GracefulStop: sc.GracefulStop}
			maxVUs += sc.VUs
		case scenarios.RampingVUs:
			ex = load.RampingVUs{StartVUs: sc.StartVUs, Stages: stages(sc.Stages), GracefulRampDown: sc.GracefulRampDown, GracefulStop: sc.GracefulStop}
			peak := sc.StartVUs
			for _, s := range sc.Stages {
				peak = max(peak, s.Target)
			}
			maxVUs += peak
		case scenarios.ConstantArrivalRate:
			ex = load.ConstantArrivalRate{Rate: sc.Rate, TimeUnit: sc.TimeUnit, Duration: sc.Duration, PreAllocatedVUs: sc.PreAllocatedVUs, MaxVUs: sc.MaxVUs, GracefulStop: sc.GracefulStop}
			maxVUs += max(sc.MaxVUs, sc.PreAllocatedVUs)
		case scenarios.RampingArrivalRate:
			ex = load.RampingArrivalRate{StartRate: sc.StartRate, TimeUnit: sc.TimeUnit, Stages: stages(sc.Stages), PreAllocatedVUs: sc.PreAllocatedVUs, MaxVUs: sc.MaxVUs, GracefulStop: sc.GracefulStop}
			maxVUs += max(sc.MaxVUs, sc.PreAllocatedVUs)
		}
		plan.Scenarios = append(plan.Scenarios, load.Scenario{Name: sc.Name, StartTime: sc.StartTime, Executor: ex})
	}
	return plan, maxVUs
}

// mixesOf compiles the request mix for each scenario against targets
// (requests spread at random over several).
// adminToken is added to every request that writes.
func mixesOf(spec *scenarios.Spec, targets []string, adminToken string) (*request.Mix, map[string]*request.Mix, error) {
	pool := func(p scenarios.Pool) []string {
		out := make([]string, p.Len())
		for i := range out {
			out[i] = p.At(i)
		}
		return out
	}
	pools := request.Pools{Environments: spec.Data.Environments, Flags: pool(spec.Data.Flags), Users: pool(spec.Data.Users)}
	templates := make(map[string]request.Template, len(spec.Requests))
	var all []request.Template
	for _, r := range spec.Requests {
		h := map[string]string{}
		for k, v := range r.Headers {
			h[k] = v
		}
		if adminToken != "" && r.Method != "GET" && r.Method != "HEAD" {
			if _, ok := h["Authorization"]; !ok {
				h["Authorization"] = "Bearer " + adminToken
			}
		}
		t := request.Template{Name: r.Name, Weight: r.Weight, Method: r.Method, Path: r.Path, Headers: h, Body: r.Body, Expect: r.Expect}
		templates[r.Name] = t
		all = append(all, t)
	}
	def, err := request.NewMix(targets, all, pools)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", spec.File, err)
	}
	mixes := map[string]*request.Mix{}
	for _, sc := range spec.Scenarios {
		if len(sc.Requests) == 0 {
			continue
		}
		var ts []request.Template
		for _, name := range sc.Requests {
			ts = append(ts, templates[name])
		}
		m, err := request.NewMix(targets, ts, pools)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: scenario %s: %w", spec.File, sc.Name, err)
		}
		mixes[sc.Name] = m
	}
	return def, mixes, nil
}

func phasesOf(spec *scenarios.Spec) []engine.Phase {
	var ps []engine.Phase
	for i, p := range spec.Timeline {
		end := spec.PhaseEnd(i)
		if i == len(spec.Timeline)-1 && p.For == 0 {
			end = 0 // through the graceful stops
		}
		ps = append(ps, engine.Phase{Name: p.Name, Start: p.At, End: end})
	}
	return ps
}

// faultsOf lists the timeline's faults and actions, for the error that a
// scenario needs the stack.
func faultsOf(spec *scenarios.Spec) []string {
	var out []string
	for _, p := range spec.Timeline {
		switch {
		case p.Fault != nil:
			out = append(out, p.Name)
		case p.Action != 0:
			out = append(out, p.Name+" ("+p.Action.String()+")")
		}
	}
	return out
}

func joinNames(ss []string) string { return strings.Join(ss, ", ") }
