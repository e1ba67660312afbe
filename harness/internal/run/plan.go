package run

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/load"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/phase"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Plan is a scenario file turned into what the engine and the timeline
// run: the load plan, the thresholds, the phases and the timeline's
// steps. It knows nothing of the target; the request mixes are compiled
// once the target's addresses are known (Mixes).
type Plan struct {
	Spec *scenarios.Spec
	// SHA256 is the scenario file's hash (hex), which tells runners of
	// one distributed run apart from a runner given another file; "" for
	// a plan built in code.
	SHA256 string
	// Source is the file's bytes as parsed (the raw output keeps them, so
	// that merge judges what ran, not what the file holds later); nil
	// for a plan built in code.
	Source     []byte
	Thresholds []verdict.Threshold
	Load       load.Plan
	// MaxVUs is the most VUs the plan can run at once: the HTTP
	// connection pool's size.
	MaxVUs int
	Phases phase.Timeline
	Steps  []timeline.Step
}

// NewPlan plans spec. Every error is an *InvalidError naming the file
// and, where it can, the line.
func NewPlan(spec *scenarios.Spec) (*Plan, error) {
	ts, err := Thresholds(spec)
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	p := &Plan{Spec: spec, Thresholds: ts, Steps: stepsOf(spec), Phases: spec.Spans()}
	p.Load, p.MaxVUs = loadOf(spec)
	return p, nil
}

// Load parses a scenario file and plans it.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InvalidError{Err: fmt.Errorf("read scenario: %w", err)}
	}
	spec, err := scenarios.Parse(path, data)
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	p, err := NewPlan(spec)
	if err != nil {
		return nil, err
	}
	p.setSource(data)
	return p, nil
}

// setSource records the bytes the plan was parsed from and their hash.
func (p *Plan) setSource(data []byte) {
	sum := sha256.Sum256(data)
	p.SHA256, p.Source = hex.EncodeToString(sum[:]), data
}

// Segmented is the plan with its load cut to seg within seq (package
// segment; seq nil: k6's default, 0, FROM, TO, 1), for one runner of a
// distributed run; p itself when seg is the whole run. Every error is an
// *InvalidError.
func (p *Plan) Segmented(seg segment.Segment, seq segment.Sequence) (*Plan, *segment.Tuple, error) {
	t, err := segment.NewTuple(seg, seq)
	if err != nil {
		return nil, nil, &InvalidError{Err: err}
	}
	if t.IsFull() {
		return p, t, nil
	}
	q := *p
	q.Load.Segment = t
	return &q, t, nil
}

// followed is the plan as a runner that does not own the fault timeline
// sees it: the same phases, none of their faults and actions (the owner
// applies those). A target given it needs no Toxiproxy.
func (p *Plan) followed() *Plan {
	q := *p
	q.Steps = make([]timeline.Step, len(p.Steps))
	for i, s := range p.Steps {
		q.Steps[i] = timeline.Step{Span: s.Span}
	}
	return &q
}

// Thresholds parses the file's thresholds against the grammar and the
// metric catalog, every problem placed at its line in the file.
func Thresholds(spec *scenarios.Spec) ([]verdict.Threshold, error) {
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

// loadOf maps the file's load onto the executors, and counts the most
// VUs they can run at once.
func loadOf(spec *scenarios.Spec) (load.Plan, int) {
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

// Mixes compiles the request mix of each k6 scenario against targets
// (requests spread at random over several). adminToken goes into every
// request that writes and has no Authorization header of its own. With
// a nonce oracle, every write with a JSON object body also writes a fresh
// {{nonce}} into the oracle's field.
func (p *Plan) Mixes(targets []string, adminToken string, orc oracle.Field) (*request.Mix, map[string]*request.Mix, error) {
	spec := p.Spec
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
		body := r.Body
		if orc.Nonce && r.Method != "GET" && r.Method != "HEAD" {
			body = withNonce(body, orc.Name)
		}
		t := request.Template{Name: r.Name, Weight: r.Weight, Method: r.Method, Path: r.Path, Headers: h, Body: body, Expect: r.Expect}
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

// stepsOf maps the file's timeline onto the fault timeline's steps: its
// phases with their faults and actions.
func stepsOf(spec *scenarios.Spec) []timeline.Step {
	spans := spec.Spans()
	steps := make([]timeline.Step, len(spans))
	for i, p := range spec.Timeline {
		steps[i] = timeline.Step{Span: spans[i], Fault: p.Fault, Action: p.Action, Rejoin: p.Rejoin}
	}
	return steps
}

// Disturbances lists the timeline's faults and actions by phase, in
// words, for errors that a target cannot perform them.
func (p *Plan) Disturbances() []string {
	var out []string
	for _, s := range p.Steps {
		switch {
		case s.Fault != nil:
			out = append(out, s.Name)
		case s.Action != 0:
			out = append(out, s.Name+" ("+s.Action.String()+")")
		}
	}
	return out
}

// HasFaults reports whether any phase injects a fault (not an action).
func (p *Plan) HasFaults() bool {
	for _, s := range p.Steps {
		if s.Fault != nil {
			return true
		}
	}
	return false
}

// HasActions reports whether any phase performs an action.
func (p *Plan) HasActions() bool {
	for _, s := range p.Steps {
		if s.Action != 0 {
			return true
		}
	}
	return false
}

// withNonce adds "field": "{{nonce}}" to a JSON object body template
// (unless it writes the field itself); other bodies are left alone.
func withNonce(body, field string) string {
	b := strings.TrimSpace(body)
	if !strings.HasPrefix(b, "{") || !strings.HasSuffix(b, "}") || strings.Contains(b, strconv.Quote(field)) {
		return body
	}
	inner := strings.TrimSpace(b[1 : len(b)-1])
	if inner == "" {
		return fmt.Sprintf(`{%q: "{{nonce}}"}`, field)
	}
	return fmt.Sprintf(`{%s, %q: "{{nonce}}"}`, inner, field)
}
