package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flagstorm/flagstorm/toxics"

	"github.com/flagstorm/flagstorm/internal/phase"
)

// Defaults that Parse fills in for absent keys.
const (
	// DefaultRequestTimeout is a request's timeout when requestTimeout is
	// absent.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultPhase names the single phase of a file without a timeline.
	DefaultPhase = "steady"
	// DefaultScenario names the one scenario of a file that writes load:
	// instead of scenarios:, as k6 names its default scenario.
	DefaultScenario = "default"
)

// Spec is one scenario file: an experiment's load, request mix, fault
// timeline and thresholds. Parse returns it with every default filled in
// and validated; the harness maps it onto its load plan, fault timeline
// and verdict. The line numbers it keeps (Line fields, and the positions
// behind ThresholdError) let the harness report later problems, such as a
// threshold expression its grammar rejects, at the right place.
type Spec struct {
	// File is the file name given to Parse, used in errors; "" for a Spec
	// built in code.
	File string
	// Name identifies the experiment; required, [a-z0-9-]+.
	Name string
	// Description says what the experiment shows; optional.
	Description string
	// Profile is the target's cache profile for the local stack. Default
	// (absent key) ProfileHardened.
	Profile Profile
	// Instances is the number of flagserver instances; >= 1, default 1.
	Instances int
	// MemoryCacheTTL, when set, is passed to flagserver as
	// MEMORY_CACHE_TTL; 0 switches the in-process cache off so that Redis
	// is on every read path. Nil: the profile's default.
	MemoryCacheTTL *time.Duration
	// Target is how the local stack runs the flagservers beyond their
	// profile and count: when they start.
	Target Target
	// Scenarios run in parallel, k6-style. A file that writes load: has
	// exactly one, named DefaultScenario.
	Scenarios []Scenario
	// RequestTimeout bounds each request; > 0, default 10s.
	RequestTimeout time.Duration
	// Data are the pools the request templates draw from.
	Data DataPools
	// Requests is the weighted request mix; at least one.
	Requests []Request
	// Timeline is the list of phases, sorted by At, the first at 0s. A
	// file without a timeline has one phase, DefaultPhase, from 0s.
	Timeline []Phase
	// Thresholds, in file order. The expressions are raw k6 grammar: Parse
	// checks keys and shapes, the harness the expressions (verdict.Parse).
	Thresholds []ThresholdSpec
	// Expect lists, per target, the thresholds expected to fail; see
	// Spec.Expected. A target is a flagserver profile (hardened, seed) or
	// a variant of a target description (docs/target-contract.md).
	Expect map[string][]ExpectedFailure

	// pos maps field paths to where their values are in the file; nil for
	// a Spec built in code.
	pos map[string]position
}

// position is where a value starts in the file, 1-based.
type position struct{ line, col int }

// Profile is the target's cache profile (ARCHITECTURE.md §2).
type Profile uint8

// The profiles. ProfileBoth runs the experiment once per profile.
const (
	ProfileHardened Profile = iota + 1
	ProfileSeed
	ProfileBoth
)

var profileNames = [...]string{ProfileHardened: "hardened", ProfileSeed: "seed", ProfileBoth: "both"}

// String returns the profile's name, like "hardened".
func (p Profile) String() string {
	if p >= ProfileHardened && p <= ProfileBoth {
		return profileNames[p]
	}
	return "Profile(" + strconv.Itoa(int(p)) + ")"
}

// ParseProfile parses "hardened", "seed" or "both".
func ParseProfile(s string) (Profile, error) {
	for p := ProfileHardened; p <= ProfileBoth; p++ {
		if profileNames[p] == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown profile %q (want hardened, seed or both)", s)
}

// Profiles returns the profiles the experiment runs: one, or hardened and
// seed for ProfileBoth.
func (s *Spec) Profiles() []Profile {
	if s.Profile == ProfileBoth {
		return []Profile{ProfileHardened, ProfileSeed}
	}
	return []Profile{s.Profile}
}

// Target says when the local stack starts the flagservers.
type Target struct {
	// Start names the phase at whose beginning the flagservers start,
	// once the phase's fault is applied or its action done: a cold start,
	// for instance while Redis is unreachable. The harness measures each
	// one's time from process start to its first ready /readyz as
	// target_ready_time (milliseconds, tagged with this phase); requests
	// before then fail (nothing listens). "" (the default): they start
	// before the run, as usual.
	Start string
}

// Executor is one of k6's executors.
type Executor uint8

// The executors: closed model (VUs loop) and open model (arrivals are
// scheduled whatever the latency).
const (
	ConstantVUs Executor = iota + 1
	RampingVUs
	ConstantArrivalRate
	RampingArrivalRate
)

var executorNames = [...]string{
	ConstantVUs:         "constant-vus",
	RampingVUs:          "ramping-vus",
	ConstantArrivalRate: "constant-arrival-rate",
	RampingArrivalRate:  "ramping-arrival-rate",
}

const executorList = "constant-vus, ramping-vus, constant-arrival-rate or ramping-arrival-rate"

// String returns k6's name for the executor, like "constant-vus".
func (e Executor) String() string {
	if e.valid() {
		return executorNames[e]
	}
	return "Executor(" + strconv.Itoa(int(e)) + ")"
}

func (e Executor) valid() bool { return e >= ConstantVUs && e <= RampingArrivalRate }

// ParseExecutor parses k6's executor name. k6's other executors
// (shared-iterations, per-vu-iterations, externally-controlled) are
// rejected: the harness runs time-based load only.
func ParseExecutor(s string) (Executor, error) {
	for e := ConstantVUs; e <= RampingArrivalRate; e++ {
		if executorNames[e] == s {
			return e, nil
		}
	}
	switch s {
	case "shared-iterations", "per-vu-iterations", "externally-controlled":
		return 0, fmt.Errorf("executor %q is not supported: the load is time-based (want %s)", s, executorList)
	}
	return 0, fmt.Errorf("unknown executor %q (want %s)", s, executorList)
}

// Scenario is one load shape with k6's option names and semantics. Which
// options apply depends on Executor; Validate rejects the others. The
// fields map one to one onto the harness's load executors, with the same
// conventions: zero means the default, and a negative GracefulStop or
// GracefulRampDown means none.
type Scenario struct {
	// Name identifies the scenario (the "scenario" tag); [A-Za-z0-9_-]+.
	Name string
	// Line is where the scenario is in the file; 0 if built in code.
	Line int
	// Executor is the load shape; required.
	Executor Executor
	// StartTime delays the scenario from the start of the run; >= 0.
	StartTime time.Duration

	// VUs is constant-vus's number of virtual users; required there, > 0.
	VUs int
	// Duration is how long constant-vus and constant-arrival-rate start
	// iterations; required there, > 0.
	Duration time.Duration
	// StartVUs is ramping-vus's VUs at the start; >= 0. Parse sets k6's
	// default, 1, when the key is absent; zero means zero.
	StartVUs int
	// Stages of ramping-vus (targets are VUs) and ramping-arrival-rate
	// (targets are iterations per TimeUnit); required there.
	Stages []Stage
	// GracefulRampDown (ramping-vus): how long a VU removed by a ramp-down
	// may finish its iteration. Zero: the default, 30s; negative: none
	// (the file's "0s").
	GracefulRampDown time.Duration
	// GracefulStop: how long iterations running at the end may take.
	// Zero: the default, 30s; negative: none (the file's "0s").
	GracefulStop time.Duration

	// Rate is constant-arrival-rate's iterations per TimeUnit; required
	// there, > 0.
	Rate int
	// TimeUnit is the period of Rate, StartRate and stage targets of the
	// arrival-rate executors. Zero: the default, 1s.
	TimeUnit time.Duration
	// PreAllocatedVUs of the arrival-rate executors; required in a file,
	// >= 0.
	PreAllocatedVUs int
	// MaxVUs of the arrival-rate executors caps VUs allocated on demand.
	// Zero: PreAllocatedVUs. One of the two must be > 0.
	MaxVUs int
	// StartRate is ramping-arrival-rate's rate at the start; >= 0, default
	// 0.
	StartRate int

	// Requests restricts the scenario to these requests (by name), their
	// weights kept; empty means every request.
	Requests []string
}

// Stage is one segment of a ramping executor: the value moves linearly to
// Target over Duration. It converts to the harness's load.Stage.
type Stage struct {
	Duration time.Duration // >= 0; 0 jumps at once
	Target   int           // >= 0
}

// End is when the scenario stops starting iterations, from the start of
// the run: StartTime plus its duration (the sum of its stages for the
// ramping executors). Graceful stops come on top.
func (sc Scenario) End() time.Duration {
	d := sc.StartTime
	switch sc.Executor {
	case RampingVUs, RampingArrivalRate:
		for _, st := range sc.Stages {
			d = addSat(d, st.Duration)
		}
	default:
		d = addSat(d, sc.Duration)
	}
	return d
}

// Duration is the total length of the load: the latest End of its
// scenarios, without graceful stops. Phases lie within it.
func (s *Spec) Duration() time.Duration {
	var d time.Duration
	for _, sc := range s.Scenarios {
		d = max(d, sc.End())
	}
	return d
}

// addSat adds durations, saturating instead of overflowing.
func addSat(a, b time.Duration) time.Duration {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// Request is one entry of the weighted request mix. Path, Body and header
// values are templates: each placeholder ({{env}}, {{flag}}, {{user}},
// {{bool}}, {{pct}}) is drawn per request; see AppendExpand.
type Request struct {
	// Name identifies the request (the "name" tag); [A-Za-z0-9_-]+, unique.
	Name string
	// Line is where the request is in the file; 0 if built in code.
	Line int
	// Weight is the request's share of the mix, relative to the others;
	// > 0, default 1.
	Weight int
	// Method is GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
	Method string
	// Path is the request target with its query, starting with "/".
	Path string
	// Body is sent as is once expanded; not for GET or HEAD.
	Body string
	// Headers are added to the request. The harness adds the admin token
	// (Authorization) itself.
	Headers map[string]string
	// Expect lists the statuses that count as success; empty means k6's
	// default, 200 to 399.
	Expect []int
}

// DataPools are the values the placeholders draw from.
type DataPools struct {
	// Environments for {{env}}. Default development, staging, production.
	Environments []string
	// Flags for {{flag}}. Default flag-000 to flag-099, the flags
	// flagserver seeds (SEED_FLAGS=100).
	Flags Pool
	// Users for {{user}}. Default user-0 to user-9999.
	Users Pool
}

// DefaultDataPools returns the pools of a file without data:.
func DefaultDataPools() DataPools {
	return DataPools{
		Environments: []string{"development", "staging", "production"},
		Flags:        Pool{Prefix: "flag-", Count: 100, Pad: 3},
		Users:        Pool{Prefix: "user-", Count: 10000},
	}
}

// Pool is a list of values: explicit Values, or Count values generated as
// Prefix followed by the index 0..Count-1 zero-padded to Pad digits
// ({prefix: flag-, count: 100, pad: 3} is flag-000 to flag-099).
type Pool struct {
	Values []string // when non-empty, the pool; Prefix, Count and Pad are unused
	Prefix string
	Count  int // > 0 for a generated pool
	Pad    int // minimum digits of the index, zero-padded; 0 to 20
}

// Len is the number of values.
func (p Pool) Len() int {
	if len(p.Values) > 0 {
		return len(p.Values)
	}
	return max(p.Count, 0)
}

// At returns value i, 0 <= i < Len().
func (p Pool) At(i int) string {
	if len(p.Values) > 0 {
		return p.Values[i]
	}
	return string(p.AppendAt(nil, i))
}

// AppendAt appends value i to dst, without allocating for a generated
// pool with room in dst.
func (p Pool) AppendAt(dst []byte, i int) []byte {
	if len(p.Values) > 0 {
		return append(dst, p.Values[i]...)
	}
	dst = append(dst, p.Prefix...)
	var digits [20]byte
	n := strconv.AppendInt(digits[:0], int64(i), 10)
	for range p.Pad - len(n) {
		dst = append(dst, '0')
	}
	return append(dst, n...)
}

// Phase is one period of the timeline. It starts At and lasts For, or
// until the next phase starts (the last one: until the run ends). A phase
// with For may end before the next one starts; the gap belongs to no
// phase. A phase has a Fault, an Action, or neither (a phase to measure
// in).
type Phase struct {
	// Name identifies the phase (the "phase" tag); [a-z0-9-]+, unique.
	Name string
	// Line is where the phase is in the file; 0 if built in code.
	Line int
	// At is when the phase starts, from the start of the run. The first
	// phase starts at 0s; the others follow in order.
	At time.Duration
	// For bounds the phase; 0 means until the next phase starts.
	For time.Duration
	// Fault is applied at the phase's start and removed at its end; the
	// decoder fills it from the file's fault: (type and direction names
	// parsed, durations read), and Validate checks it as toxics would.
	Fault *toxics.Fault
	// Action is done to the Redis primary at the phase's start.
	Action Action
	// Rejoin, with ActionFailover, restarts the old primary as a replica
	// of the new one.
	Rejoin bool
}

// PhaseAt returns the name of the phase running at t from the start of
// the run, or "" before 0s and in a gap after a phase's For. The last
// phase, without For, runs until the run ends, graceful stops included.
func (s *Spec) PhaseAt(t time.Duration) string { return s.Spans().At(t) }

// Spans resolves the timeline into the run's phases (package phase, the
// one phase model the engine and the fault timeline use): each from At to
// PhaseEnd, the last one without For open-ended (End 0).
func (s *Spec) Spans() phase.Timeline {
	out := make(phase.Timeline, len(s.Timeline))
	for i, p := range s.Timeline {
		out[i] = phase.Span{Name: p.Name, Start: p.At, End: s.PhaseEnd(i)}
		if i == len(s.Timeline)-1 && p.For == 0 {
			out[i].End = 0
		}
	}
	return out
}

// PhaseEnd returns when phase i ends: At+For, else the next phase's At,
// else the end of the load (Duration); the last phase without For
// continues through the graceful stops (see PhaseAt).
func (s *Spec) PhaseEnd(i int) time.Duration {
	p := s.Timeline[i]
	switch {
	case p.For > 0:
		return addSat(p.At, p.For)
	case i+1 < len(s.Timeline):
		return s.Timeline[i+1].At
	}
	return s.Duration()
}

// Action is something done to the Redis primary (behind proxy "redis")
// at the start of a phase, rather than a fault on a proxy.
type Action uint8

// The actions. The zero Action is none.
const (
	// ActionFailover crashes the primary and promotes its replica, which
	// the proxy then leads to (toxics.Failover); with Rejoin the old
	// primary comes back, empty, as the new replica. Not undone at the
	// phase's end: failing back is another failover.
	ActionFailover Action = iota + 1
	// ActionCrash kills the primary (SIGKILL). It stays down until the
	// phase ends, when it is restarted cold (empty): give the phase a For,
	// or follow it with the phase that should see Redis back.
	ActionCrash
	// ActionRestart restarts the primary cold: killed and started again
	// at once, empty.
	ActionRestart
	// ActionFlush empties the primary (FLUSHALL); it stays up.
	ActionFlush
)

var actionNames = [...]string{ActionFailover: "failover", ActionCrash: "crash", ActionRestart: "restart", ActionFlush: "flush"}

// String returns the action's name, like "failover", or "none".
func (a Action) String() string {
	switch {
	case a == 0:
		return "none"
	case a <= ActionFlush:
		return actionNames[a]
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction parses "failover", "crash", "restart" or "flush".
func ParseAction(s string) (Action, error) {
	for a := ActionFailover; a <= ActionFlush; a++ {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (want failover, crash, restart or flush)", s)
}

// ThresholdSpec is one key of thresholds: a metric with an optional tag
// selector, as written, and its expressions.
type ThresholdSpec struct {
	// Key as written, "http_req_duration{phase:outage}".
	Key string
	// Line of the key; 0 if built in code.
	Line int
	// Exprs in file order; at least one.
	Exprs []ThresholdExpr
}

// ThresholdExpr is one threshold expression and k6's options for it.
type ThresholdExpr struct {
	// Text is the expression as written, "p(95)<50" (k6 grammar, checked
	// by the harness).
	Text string
	// AbortOnFail stops the run as soon as the threshold fails.
	AbortOnFail bool
	// DelayAbortEval is how much run time passes before an abortOnFail
	// threshold is judged during the run; >= 0, needs AbortOnFail.
	DelayAbortEval time.Duration
	// Line of the expression; 0 if built in code.
	Line int
}

// ExpectedFailure is a threshold expected to fail under one profile,
// written as the harness prints a threshold: the key and the expression,
// "http_req_duration{phase:outage} p(95)<50". In a file it is a string,
// or {may: "..."} for a threshold that may fail or pass (May).
type ExpectedFailure struct {
	Text string
	// May marks a threshold whose outcome the target does not decide
	// alone: a race (stale reads after a recovery that happen in some runs
	// and not others) or a measure that straddles its limit. The run
	// passes whether it fails or passes, and the report says which.
	May  bool
	Line int
}

// Expectation is what a target's expect: list says of one threshold.
type Expectation uint8

// The expectations.
const (
	// ExpectPass: the list does not name it; it must pass.
	ExpectPass Expectation = iota
	// ExpectFail: the list names it; it must fail.
	ExpectFail
	// ExpectEither: the list names it with may:; failing or passing are
	// both what the target does.
	ExpectEither
)
