package load

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/segment"
)

// Defaults applied when the corresponding option is zero.
const (
	DefaultGracefulStop     = 30 * time.Second
	DefaultGracefulRampDown = 30 * time.Second
	DefaultTimeUnit         = time.Second
	DefaultLateTolerance    = 10 * time.Millisecond
)

// maxArrivals bounds the number of arrivals one open-model scenario may
// schedule, so that every arrival index and time is exact in float64 and
// int64 arithmetic.
const maxArrivals = 1 << 50

// ErrUnknownKind is returned (wrapped) by [ParseKind].
var ErrUnknownKind = errors.New("load: unknown executor")

// Kind names an executor as k6 does.
type Kind uint8

// The executors.
const (
	KindConstantVUs Kind = iota + 1
	KindRampingVUs
	KindConstantArrivalRate
	KindRampingArrivalRate
)

var kindNames = [...]string{
	KindConstantVUs:         "constant-vus",
	KindRampingVUs:          "ramping-vus",
	KindConstantArrivalRate: "constant-arrival-rate",
	KindRampingArrivalRate:  "ramping-arrival-rate",
}

// String returns k6's name for the executor, e.g. "constant-vus".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind parses k6's executor name. Unknown names, including executors
// k6 has and this package does not (shared-iterations, per-vu-iterations,
// externally-controlled), are rejected.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want constant-vus, ramping-vus, constant-arrival-rate or ramping-arrival-rate)", ErrUnknownKind, s)
}

// Stage is one segment of a ramping executor: the value (VUs or arrival
// rate) moves linearly from the previous stage's Target (or the start value)
// to Target over Duration.
type Stage struct {
	// Duration of the ramp; >= 0. A zero Duration jumps to Target at once.
	Duration time.Duration
	// Target VUs (ramping-vus) or iterations per TimeUnit
	// (ramping-arrival-rate) at the end of the stage; >= 0.
	Target int
}

// Executor is the load shape of a scenario: one of [ConstantVUs],
// [RampingVUs], [ConstantArrivalRate] or [RampingArrivalRate] (values or
// pointers). The set is closed.
type Executor interface {
	Kind() Kind
	check(p *problems)
	spec() spec
}

// ConstantVUs is k6's constant-vus: VUs virtual users loop the work function
// back to back for Duration (closed model).
type ConstantVUs struct {
	// VUs is the number of virtual users; required, > 0.
	VUs int
	// Duration is how long new iterations start; required, > 0.
	Duration time.Duration
	// GracefulStop is how long iterations running at the end of Duration may
	// take before their context is cancelled. Default 30s; negative means
	// none (cancel at once).
	GracefulStop time.Duration
}

// RampingVUs is k6's ramping-vus: the number of looping VUs follows the
// linear interpolation of Stages, changing in steps of one VU (closed model).
type RampingVUs struct {
	// StartVUs is the number of VUs at the start; >= 0. Zero means zero: k6
	// defaults an absent startVUs to 1, which is the scenario parser's job.
	StartVUs int
	// Stages, in order; required, non-empty, total duration > 0.
	Stages []Stage
	// GracefulRampDown is how long a VU removed by a ramp-down may finish its
	// running iteration before its context is cancelled. Default 30s;
	// negative means none.
	GracefulRampDown time.Duration
	// GracefulStop as in [ConstantVUs]. Default 30s; negative means none.
	GracefulStop time.Duration
}

// ConstantArrivalRate is k6's constant-arrival-rate: Rate iterations start
// per TimeUnit, evenly spaced, for Duration, whatever the work function's
// latency (open model).
type ConstantArrivalRate struct {
	// Rate is the number of iterations per TimeUnit; required, > 0.
	Rate int
	// TimeUnit is the period Rate applies to. Default 1s.
	TimeUnit time.Duration
	// Duration is how long arrivals are scheduled; required, > 0.
	Duration time.Duration
	// PreAllocatedVUs are started with the scenario; >= 0.
	PreAllocatedVUs int
	// MaxVUs caps the VUs allocated on demand. Default (0) PreAllocatedVUs;
	// must be >= PreAllocatedVUs and > 0.
	MaxVUs int
	// GracefulStop as in [ConstantVUs]. Default 30s; negative means none.
	GracefulStop time.Duration
}

// RampingArrivalRate is k6's ramping-arrival-rate: the arrival rate moves
// linearly between stage targets and arrivals are placed where the integral
// of the rate reaches 1, 2, 3, ... (open model).
type RampingArrivalRate struct {
	// StartRate is the rate (iterations per TimeUnit) at the start; >= 0.
	StartRate int
	// TimeUnit is the period the rates apply to. Default 1s.
	TimeUnit time.Duration
	// Stages, in order; required, non-empty, total duration > 0. Targets are
	// iterations per TimeUnit.
	Stages []Stage
	// PreAllocatedVUs are started with the scenario; >= 0.
	PreAllocatedVUs int
	// MaxVUs caps the VUs allocated on demand. Default (0) PreAllocatedVUs;
	// must be >= PreAllocatedVUs and > 0.
	MaxVUs int
	// GracefulStop as in [ConstantVUs]. Default 30s; negative means none.
	GracefulStop time.Duration
}

// Scenario is one named load shape of a [Plan].
type Scenario struct {
	// Name identifies the scenario in hooks, stats and errors; required,
	// unique within the plan.
	Name string
	// StartTime delays the scenario from the start of the run (k6
	// startTime); >= 0.
	StartTime time.Duration
	// Executor is the load shape; required.
	Executor Executor
}

// Plan is everything Run executes: scenarios run in parallel, each from its
// StartTime.
type Plan struct {
	// Scenarios; at least one.
	Scenarios []Scenario
	// LateTolerance is how much later than its intended time an open-model
	// iteration may start before it counts as late. Default 10ms (timers on
	// an idle Linux box fire 0.5–2 ms late; 10 ms flags a load generator
	// that has fallen behind without counting timer slack); >= 0.
	LateTolerance time.Duration
	// Segment is this runner's part of the plan when the plan is split
	// between runners (k6's execution segments): nil, or a tuple owning
	// every index, runs the whole plan. Runners given the segments of one
	// sequence together run exactly the whole plan: the closed model's VU
	// counts are scaled at every instant (startVUs, every step of the
	// stages), so the runners' counts add up to the plan's; the open
	// model's arrival schedule is the whole plan's and a runner starts only
	// the arrivals whose index its segment owns, so every arrival index is
	// started by exactly one runner (or dropped by it). See [segment.Tuple].
	Segment *segment.Tuple
}

// Kind implements [Executor].
func (ConstantVUs) Kind() Kind { return KindConstantVUs }

// Kind implements [Executor].
func (RampingVUs) Kind() Kind { return KindRampingVUs }

// Kind implements [Executor].
func (ConstantArrivalRate) Kind() Kind { return KindConstantArrivalRate }

// Kind implements [Executor].
func (RampingArrivalRate) Kind() Kind { return KindRampingArrivalRate }

// ConfigError is one problem in a [Plan]. Validate joins all of them with
// errors.Join.
type ConfigError struct {
	// Scenario is the scenario's name; empty for plan-wide problems.
	Scenario string
	// Option is k6's name for the offending option, e.g. "maxVUs",
	// "stages[1].target", "lateTolerance".
	Option string
	// Msg says what is wrong and names the option.
	Msg string
}

func (e *ConfigError) Error() string {
	if e.Scenario == "" {
		return e.Msg
	}
	return "scenarios." + e.Scenario + ": " + e.Msg
}

type problems struct {
	scenario string
	errs     []error
}

func (p *problems) add(option, format string, args ...any) {
	p.errs = append(p.errs, &ConfigError{Scenario: p.scenario, Option: option, Msg: fmt.Sprintf(format, args...)})
}

// Validate reports every problem of the plan at once (errors.Join of
// *ConfigError), or nil.
func (p Plan) Validate() error {
	pr := &problems{}
	if len(p.Scenarios) == 0 {
		pr.add("scenarios", "scenarios: at least one scenario is required")
	}
	if p.LateTolerance < 0 {
		pr.add("lateTolerance", "lateTolerance (%v) must be >= 0", p.LateTolerance)
	}
	seen := make(map[string]bool, len(p.Scenarios))
	for i, s := range p.Scenarios {
		pr.scenario = s.Name
		switch {
		case s.Name == "":
			pr.scenario = ""
			pr.add("name", "scenarios: the name of scenario #%d must not be empty", i+1)
			pr.scenario = fmt.Sprintf("#%d", i+1)
		case seen[s.Name]:
			pr.add("name", "name %q is used by more than one scenario", s.Name)
		}
		seen[s.Name] = true
		if s.StartTime < 0 {
			pr.add("startTime", "startTime (%v) must be >= 0", s.StartTime)
		}
		if isNil(s.Executor) {
			pr.add("executor", "executor is required")
			continue
		}
		s.Executor.check(pr)
	}
	return errors.Join(pr.errs...)
}

// isNil reports whether e is nil or a nil pointer to one of the executors.
func isNil(e Executor) bool {
	switch e := e.(type) {
	case nil:
		return true
	case *ConstantVUs:
		return e == nil
	case *RampingVUs:
		return e == nil
	case *ConstantArrivalRate:
		return e == nil
	case *RampingArrivalRate:
		return e == nil
	}
	return false
}

// Duration is the longest a run of the plan can take: the largest
// startTime + duration + gracefulStop of its scenarios.
func (p Plan) Duration() time.Duration {
	var d time.Duration
	for _, s := range p.Scenarios {
		if isNil(s.Executor) {
			continue
		}
		sp := s.Executor.spec()
		d = max(d, s.StartTime+sp.duration+sp.gracefulStop)
	}
	return d
}

func (c ConstantVUs) check(p *problems) {
	if c.VUs <= 0 {
		p.add("vus", "vus (%d) must be > 0", c.VUs)
	}
	if c.Duration <= 0 {
		p.add("duration", "duration (%v) must be > 0", c.Duration)
	}
}

func (c RampingVUs) check(p *problems) {
	if c.StartVUs < 0 {
		p.add("startVUs", "startVUs (%d) must be >= 0", c.StartVUs)
	}
	peak := checkStages(p, c.Stages, "VUs")
	if len(c.Stages) > 0 && peak <= 0 && c.StartVUs <= 0 {
		p.add("stages", "startVUs or at least one stage target must be > 0")
	}
}

func (c ConstantArrivalRate) check(p *problems) {
	if c.Rate <= 0 {
		p.add("rate", "rate (%d) must be > 0", c.Rate)
	}
	if c.TimeUnit < 0 {
		p.add("timeUnit", "timeUnit (%v) must be > 0", c.TimeUnit)
	}
	if c.Duration <= 0 {
		p.add("duration", "duration (%v) must be > 0", c.Duration)
	}
	checkVUs(p, c.PreAllocatedVUs, c.MaxVUs)
	if c.Rate > 0 && c.TimeUnit >= 0 && c.Duration > 0 {
		n, ok := mulDiv(uint64(c.Duration), uint64(c.Rate), uint64(orDefault(c.TimeUnit, DefaultTimeUnit)), true)
		if !ok || n > maxArrivals {
			p.add("rate", "rate (%d) per timeUnit (%v) over duration (%v) schedules too many iterations", c.Rate, orDefault(c.TimeUnit, DefaultTimeUnit), c.Duration)
		}
	}
}

func (c RampingArrivalRate) check(p *problems) {
	before := len(p.errs)
	if c.StartRate < 0 {
		p.add("startRate", "startRate (%d) must be >= 0", c.StartRate)
	}
	if c.TimeUnit < 0 {
		p.add("timeUnit", "timeUnit (%v) must be > 0", c.TimeUnit)
	}
	checkStages(p, c.Stages, "iterations per timeUnit")
	checkVUs(p, c.PreAllocatedVUs, c.MaxVUs)
	if len(p.errs) == before {
		if a := c.spec().arrivals; a.n > maxArrivals || math.IsNaN(a.total) {
			p.add("stages", "stages schedule too many iterations")
		}
	}
}

// checkStages validates stages and returns the largest target.
func checkStages(p *problems, stages []Stage, unit string) int {
	if len(stages) == 0 {
		p.add("stages", "stages must not be empty")
		return 0
	}
	peak := 0
	var total time.Duration
	for i, s := range stages {
		if s.Duration < 0 {
			p.add(fmt.Sprintf("stages[%d].duration", i), "stages[%d].duration (%v) must be >= 0", i, s.Duration)
		} else if total += s.Duration; total < 0 {
			p.add(fmt.Sprintf("stages[%d].duration", i), "stages[%d].duration (%v) overflows the total duration", i, s.Duration)
			return peak
		}
		if s.Target < 0 {
			p.add(fmt.Sprintf("stages[%d].target", i), "stages[%d].target (%d %s) must be >= 0", i, s.Target, unit)
		}
		peak = max(peak, s.Target)
	}
	if total <= 0 {
		p.add("stages", "the total duration of stages (%v) must be > 0", total)
	}
	return peak
}

func checkVUs(p *problems, pre, maxVUs int) {
	if pre < 0 {
		p.add("preAllocatedVUs", "preAllocatedVUs (%d) must be >= 0", pre)
	}
	switch {
	case maxVUs < 0:
		p.add("maxVUs", "maxVUs (%d) must be >= 0 (0 means preAllocatedVUs)", maxVUs)
	case maxVUs > 0 && maxVUs < pre:
		p.add("maxVUs", "maxVUs (%d) must be >= preAllocatedVUs (%d)", maxVUs, pre)
	case maxVUs == 0 && pre == 0:
		p.add("maxVUs", "maxVUs or preAllocatedVUs must be > 0")
	}
}

// orDefault returns def for zero, zero for negative values and d otherwise:
// the "0 means default, negative means none" convention of the options.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// spec is an executor normalized for the run: defaults applied, constant
// shapes expressed as their ramping form where that is exact.
type spec struct {
	closed       bool
	duration     time.Duration // when new iterations stop, from the scenario start
	gracefulStop time.Duration // >= 0

	// closed model
	startVUs         int
	stages           []Stage
	gracefulRampDown time.Duration // >= 0
	peakVUs          int

	// open model
	arrivals        arrivals
	preAllocatedVUs int
	maxVUs          int
}

func (c ConstantVUs) spec() spec {
	return spec{
		closed:       true,
		duration:     c.Duration,
		gracefulStop: orDefault(c.GracefulStop, DefaultGracefulStop),
		startVUs:     c.VUs,
		stages:       []Stage{{Duration: c.Duration, Target: c.VUs}},
		peakVUs:      c.VUs,
	}
}

func (c RampingVUs) spec() spec {
	s := spec{
		closed:           true,
		gracefulStop:     orDefault(c.GracefulStop, DefaultGracefulStop),
		startVUs:         c.StartVUs,
		stages:           append([]Stage(nil), c.Stages...),
		gracefulRampDown: orDefault(c.GracefulRampDown, DefaultGracefulRampDown),
		peakVUs:          c.StartVUs,
	}
	for _, st := range c.Stages {
		s.duration += st.Duration
		s.peakVUs = max(s.peakVUs, st.Target)
	}
	return s
}

func (c ConstantArrivalRate) spec() spec {
	return spec{
		duration:        c.Duration,
		gracefulStop:    orDefault(c.GracefulStop, DefaultGracefulStop),
		arrivals:        constantArrivals(c.Rate, orDefault(c.TimeUnit, DefaultTimeUnit), c.Duration),
		preAllocatedVUs: c.PreAllocatedVUs,
		maxVUs:          max(c.MaxVUs, c.PreAllocatedVUs),
	}
}

func (c RampingArrivalRate) spec() spec {
	s := spec{
		gracefulStop:    orDefault(c.GracefulStop, DefaultGracefulStop),
		arrivals:        rampingArrivals(c.StartRate, orDefault(c.TimeUnit, DefaultTimeUnit), c.Stages),
		preAllocatedVUs: c.PreAllocatedVUs,
		maxVUs:          max(c.MaxVUs, c.PreAllocatedVUs),
	}
	for _, st := range c.Stages {
		s.duration += st.Duration
	}
	return s
}

// segmented returns the spec of the part of the scenario that seg owns;
// seg is not nil and not full.
//
// Closed model: startVUs, the stages and the peak stay the plan's; the run
// scales every VU count it reaches (closedRun.scaled), so that each step
// of the whole plan's count is a step of every runner's.
//
// Open model: the schedule stays the plan's (the runner picks its own
// arrivals from it); preAllocatedVUs and maxVUs are scaled with the
// segment as k6 scales them (k6's issue 1308 discusses how arrival-rate
// executors split VUs with execution segments), by the same striping as
// the indexes: the runners' preAllocatedVUs add up to the plan's, and so do
// their maxVUs, except that a runner that owns at least one arrival gets at
// least one VU, so that a small segment does not drop all of its arrivals
// for want of a VU (k6 has the same corner: a segment with work but no VUs,
// issue 1308). The sum of maxVUs can then exceed the plan's by at most the
// number of such runners.
func (sp spec) segmented(seg *segment.Tuple) spec {
	if sp.closed {
		return sp
	}
	sp.preAllocatedVUs = int(seg.Scale(int64(sp.preAllocatedVUs)))
	maxVUs := int(seg.Scale(int64(sp.maxVUs)))
	if seg.Scale(sp.arrivals.n) > 0 {
		maxVUs = max(maxVUs, 1)
	}
	sp.maxVUs = max(maxVUs, sp.preAllocatedVUs)
	return sp
}
