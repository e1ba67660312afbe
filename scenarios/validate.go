package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/toxics"
)

// Validate checks the Spec as Parse does after decoding, for a Spec built
// or changed in code; it returns errors.Join of *ValidationError, or nil.
// Defaults must be filled in: a zero Profile, Instances or RequestTimeout
// is an error, as is an empty Timeline.
func (s *Spec) Validate() error { return joinSorted(s.validate(nil)) }

func (s *Spec) validate(bad map[string]bool) []*ValidationError {
	v := &validator{s: s, bad: bad, thresholdIndex: s.thresholdIndex()}
	for _, r := range s.Requests {
		v.requestNames.add(r.Name)
		v.methods.add(r.Method)
	}
	for _, p := range s.Timeline {
		v.phaseNames.add(p.Name)
	}
	for _, sc := range s.Scenarios {
		v.scenarioNames.add(sc.Name)
	}
	v.top()
	v.requests()
	loadOK := v.scenarios()
	v.data()
	v.timeline(loadOK)
	v.target()
	v.thresholds()
	v.expect()
	return v.errs
}

type validator struct {
	s    *Spec
	bad  map[string]bool // fields the decoder reported
	errs []*ValidationError

	// What the file defines, for the checks of names that refer to it.
	requestNames, methods, phaseNames, scenarioNames nameSet
	thresholdIndex                                   map[string][]int
}

// nameSet is a list of distinct non-empty names in file order, with a
// set for lookups.
type nameSet struct {
	list []string
	set  map[string]bool
}

func (n *nameSet) add(name string) {
	if name == "" || n.set[name] {
		return
	}
	if n.set == nil {
		n.set = map[string]bool{}
	}
	n.set[name] = true
	n.list = append(n.list, name)
}

func (n *nameSet) has(name string) bool { return n.set[name] }

// maxListed bounds the names a message lists.
const maxListed = 20

// String lists the names for a message, at most maxListed of them.
func (n *nameSet) String() string {
	if len(n.list) <= maxListed {
		return strings.Join(n.list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(n.list[:maxListed], ", "), len(n.list)-maxListed)
}

// add reports a problem with field, unless the decoder already reported
// that field or one that contains it.
func (v *validator) add(field, format string, args ...any) {
	if !v.ok(field) {
		return
	}
	e := &ValidationError{File: v.s.File, Field: field, Msg: fmt.Sprintf(format, args...)}
	e.Line, e.Column = v.s.position(field)
	v.errs = append(v.errs, e)
}

// ok reports whether none of fields, nor any field containing one, was
// reported by the decoder: checks across fields use it to keep quiet
// about values the decoder could not read.
func (v *validator) ok(fields ...string) bool {
	for _, f := range fields {
		for p := f; p != ""; p = parent(p) {
			if v.bad[p] {
				return false
			}
		}
	}
	return true
}

// clean reports whether the decoder reported nothing at or under prefix.
func (v *validator) clean(prefix string) bool {
	for p := range v.bad {
		if p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[") {
			return false
		}
	}
	return true
}

// parent strips the last element of a field path: "timeline[1].fault"
// from "timeline[1].fault.type", "timeline" from "timeline[1]". A
// threshold key's braces may hold dots.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i > 0 {
			return path[:i]
		}
	}
	depth := 0
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '}':
			depth++
		case '{':
			depth--
		case '.':
			if depth == 0 {
				return path[:i]
			}
		}
	}
	return ""
}

// position returns where field's value is in the file, or where the
// nearest enclosing value is; 0, 0 for a Spec built in code.
func (s *Spec) position(field string) (line, col int) {
	if s.pos == nil {
		return 0, 0
	}
	for p := field; ; p = parent(p) {
		if at, ok := s.pos[p]; ok {
			return at.line, at.col
		}
		if p == "" {
			return 0, 0
		}
	}
}

// has reports whether the file wrote the key at field.
func (s *Spec) has(field string) bool {
	_, ok := s.pos[field]
	return ok
}

// validName is [a-z0-9-]+ (experiment and phase names).
func validName(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-'
	})
}

// maxNameLen is k6's limit on names.
const maxNameLen = 128

// validID is [A-Za-z0-9_-]+ (scenario and request names: k6's rule for
// scenario names).
func validID(s string) bool {
	return s != "" && len(s) <= maxNameLen && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	})
}

func (v *validator) top() {
	s := v.s
	switch {
	case s.Name == "":
		v.add("name", "required: name the experiment with lower-case letters, digits and -")
	case !validName(s.Name):
		v.add("name", "%q is not a valid name: use lower-case letters, digits and - (at most 64)", truncate(s.Name, 70))
	}
	if s.Profile < ProfileHardened || s.Profile > ProfileBoth {
		v.add("profile", "want hardened, seed or both")
	}
	if s.Instances < 1 {
		v.add("instances", "must be >= 1, got %d", s.Instances)
	}
	if s.MemoryCacheTTL != nil && *s.MemoryCacheTTL < 0 {
		v.add("memoryCacheTTL", "must not be negative, got %v", *s.MemoryCacheTTL)
	}
	if s.RequestTimeout <= 0 {
		v.add("requestTimeout", "must be > 0, got %v", s.RequestTimeout)
	}
}

// executorOptions are the options of each executor besides executor, in
// k6's documentation order.
var executorOptions = [...][]string{
	ConstantVUs:         {"vus", "duration", "gracefulStop"},
	RampingVUs:          {"startVUs", "stages", "gracefulRampDown", "gracefulStop"},
	ConstantArrivalRate: {"rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs", "gracefulStop"},
	RampingArrivalRate:  {"startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs", "gracefulStop"},
}

// optionSet reports whether a scenario sets an option, by value.
func optionSet(sc *Scenario, opt string) bool {
	switch opt {
	case "vus":
		return sc.VUs != 0
	case "duration":
		return sc.Duration != 0
	case "startVUs":
		return sc.StartVUs != 0
	case "stages":
		return len(sc.Stages) > 0
	case "gracefulRampDown":
		return sc.GracefulRampDown != 0
	case "gracefulStop":
		return sc.GracefulStop != 0
	case "rate":
		return sc.Rate != 0
	case "timeUnit":
		return sc.TimeUnit != 0
	case "preAllocatedVUs":
		return sc.PreAllocatedVUs != 0
	case "maxVUs":
		return sc.MaxVUs != 0
	case "startRate":
		return sc.StartRate != 0
	}
	return false
}

// scenarioPath is the field path of scenario i: "load" for the load: of a
// file, "scenarios.NAME" otherwise.
func (v *validator) scenarioPath(i int, sc *Scenario) string {
	switch {
	case i == 0 && v.s.has("load"):
		return "load"
	case sc.Name == "":
		return index("scenarios", i)
	}
	return join("scenarios", sc.Name)
}

// scenarios checks the load and reports whether it is sound enough to
// check the timeline against.
func (v *validator) scenarios() bool {
	s := v.s
	sound := true
	if len(s.Scenarios) == 0 {
		if s.has("scenarios") {
			v.add("scenarios", "at least one scenario is required")
		} else {
			v.add("load", "required: the load's shape, as in load: {executor: constant-vus, vus: 50, duration: 60s} (or scenarios: for several in parallel)")
		}
	}
	seen := map[string]bool{}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		path := v.scenarioPath(i, sc)
		switch {
		case sc.Name == "":
			v.add(path, "a scenario needs a name")
		case !validID(sc.Name):
			v.add(path, "%q is not a valid scenario name: use letters, digits, _ and -", truncate(sc.Name, 40))
		case seen[sc.Name]:
			v.add(path, "scenario %q is defined twice", sc.Name)
		}
		seen[sc.Name] = true
		v.scenarioRequests(sc, path)
		before := len(v.errs)
		if sc.StartTime < 0 {
			v.add(join(path, "startTime"), "must not be negative, got %v", sc.StartTime)
		}
		v.executor(sc, path)
		sound = sound && len(v.errs) == before
	}
	return sound && v.clean("load") && v.clean("scenarios") && s.Duration() > 0
}

func (v *validator) scenarioRequests(sc *Scenario, path string) {
	rp := join(path, "requests")
	if v.s.has(rp) && len(sc.Requests) == 0 {
		v.add(rp, "name at least one request, or leave requests out for all of them")
	}
	seen := map[string]bool{}
	for j, name := range sc.Requests {
		switch {
		case !v.requestNames.has(name):
			v.add(index(rp, j), "no request named %q%s (requests: %s)", name, didYouMean(name, v.requestNames.list), &v.requestNames)
		case seen[name]:
			v.add(index(rp, j), "request %q is listed twice", name)
		}
		seen[name] = true
	}
}

func (v *validator) executor(sc *Scenario, path string) {
	e := sc.Executor
	if !e.valid() {
		v.add(join(path, "executor"), "required: want %s", executorList)
		return
	}
	opts := executorOptions[e]
	set := func(opt string) bool { return v.s.has(join(path, opt)) || optionSet(sc, opt) }
	for _, opt := range scenarioKeys[1:] {
		if !contains(opts, opt) && set(opt) {
			v.add(join(path, opt), "%s is not an option of %s (its options: %s)", opt, e, strings.Join(opts, ", "))
		}
	}
	positive := func(opt string, ok bool, got any) {
		switch {
		case ok:
		case !set(opt):
			v.add(join(path, opt), "required by %s", e)
		default:
			v.add(join(path, opt), "must be > 0, got %v", got)
		}
	}
	notNegative := func(opt string, n int) {
		if n < 0 {
			v.add(join(path, opt), "must be >= 0, got %d", n)
		}
	}
	switch e {
	case ConstantVUs:
		positive("vus", sc.VUs > 0, sc.VUs)
		positive("duration", sc.Duration > 0, sc.Duration)
	case RampingVUs:
		notNegative("startVUs", sc.StartVUs)
		if peak, ok := v.stages(sc, path); ok && peak <= 0 && sc.StartVUs <= 0 {
			v.add(join(path, "stages"), "startVUs or at least one stage target must be > 0")
		}
	case ConstantArrivalRate:
		before := len(v.errs)
		positive("rate", sc.Rate > 0, sc.Rate)
		v.timeUnit(sc, path)
		positive("duration", sc.Duration > 0, sc.Duration)
		v.vus(sc, path)
		if len(v.errs) == before && arrivals(sc) > maxArrivals {
			v.add(join(path, "rate"), "rate %d per %v over %v schedules too many iterations", sc.Rate, timeUnit(sc), sc.Duration)
		}
	case RampingArrivalRate:
		before := len(v.errs)
		notNegative("startRate", sc.StartRate)
		v.timeUnit(sc, path)
		v.stages(sc, path)
		v.vus(sc, path)
		if len(v.errs) == before && arrivals(sc) > maxArrivals {
			v.add(join(path, "stages"), "the stages schedule too many iterations")
		}
	}
}

// maxArrivals is the most arrivals the harness's open-model executors
// schedule in one scenario (so that every arrival time is exact).
const maxArrivals = 1 << 50

func timeUnit(sc *Scenario) time.Duration {
	if sc.TimeUnit == 0 {
		return time.Second
	}
	return sc.TimeUnit
}

// arrivals estimates the iterations an arrival-rate scenario schedules:
// the integral of its rate over its duration.
func arrivals(sc *Scenario) float64 {
	unit := float64(timeUnit(sc))
	if sc.Executor == ConstantArrivalRate {
		return float64(sc.Rate) * float64(sc.Duration) / unit
	}
	var n float64
	from := float64(sc.StartRate)
	for _, st := range sc.Stages {
		to := float64(st.Target)
		n += (from + to) / 2 * float64(st.Duration) / unit
		from = to
	}
	return n
}

// stages checks a ramping executor's stages and returns the largest
// target; ok is false if there are none or some could not be read.
func (v *validator) stages(sc *Scenario, path string) (peak int, ok bool) {
	sp := join(path, "stages")
	if len(sc.Stages) == 0 {
		if v.s.has(sp) {
			v.add(sp, "must not be empty: write stages such as [{duration: 10s, target: 50}]")
		} else {
			v.add(sp, "required by %s: stages such as [{duration: 10s, target: 50}]", sc.Executor)
		}
		return 0, false
	}
	var total time.Duration
	for i, st := range sc.Stages {
		ip := index(sp, i)
		for _, key := range []string{"duration", "target"} {
			if v.s.has(ip) && !v.s.has(join(ip, key)) {
				v.add(join(ip, key), "required: a stage is {duration: 10s, target: 50}")
			}
		}
		if st.Duration < 0 {
			v.add(join(ip, "duration"), "must not be negative, got %v", st.Duration)
		}
		if st.Target < 0 {
			v.add(join(ip, "target"), "must be >= 0, got %d", st.Target)
		}
		total = addSat(total, max(st.Duration, 0))
		peak = max(peak, st.Target)
	}
	if !v.clean(sp) {
		// A stage the decoder could not read is zero here.
		return peak, false
	}
	switch total {
	case 0:
		v.add(sp, "the total duration of the stages must be > 0")
	case math.MaxInt64:
		v.add(sp, "the total duration of the stages is too long")
	}
	return peak, true
}

func (v *validator) timeUnit(sc *Scenario, path string) {
	if sc.TimeUnit < 0 || sc.TimeUnit == 0 && v.s.has(join(path, "timeUnit")) {
		v.add(join(path, "timeUnit"), "must be > 0, got %v (leave it out for 1s)", sc.TimeUnit)
	}
}

func (v *validator) vus(sc *Scenario, path string) {
	pre, maxVUs := sc.PreAllocatedVUs, sc.MaxVUs
	pp, mp := join(path, "preAllocatedVUs"), join(path, "maxVUs")
	switch {
	case v.s.has(path) && !v.s.has(pp):
		v.add(pp, "required by %s: the VUs allocated up front (maxVUs may allow more)", sc.Executor)
		return
	case pre < 0:
		v.add(pp, "must be >= 0, got %d", pre)
	}
	switch {
	case maxVUs < 0:
		v.add(mp, "must be >= 0, got %d (leave it out for preAllocatedVUs)", maxVUs)
	case maxVUs > 0 && maxVUs < pre:
		v.add(mp, "must be >= preAllocatedVUs (%d), got %d", pre, maxVUs)
	case maxVUs == 0 && pre == 0:
		v.add(pp, "preAllocatedVUs or maxVUs must be > 0")
	}
}

// methods are the request methods a scenario may use.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (v *validator) requests() {
	s := v.s
	if len(s.Requests) == 0 {
		if s.has("requests") {
			v.add("requests", "at least one request is required")
		} else {
			v.add("requests", "required: the request mix, such as [{name: get, method: GET, path: \"/api/config/flags/{{flag}}?environment={{env}}\"}]")
		}
	}
	first := map[string]int{}
	for i, r := range s.Requests {
		path := index("requests", i)
		np := join(path, "name")
		switch j, dup := first[r.Name]; {
		case r.Name == "":
			v.add(np, "required: name the request (the name tag of its samples)")
		case !validID(r.Name):
			v.add(np, "%q is not a valid request name: use letters, digits, _ and -", truncate(r.Name, 40))
		case dup:
			v.add(np, "request %q is defined twice (first as requests[%d])", r.Name, j)
		default:
			first[r.Name] = i
		}
		if r.Weight <= 0 {
			v.add(join(path, "weight"), "must be > 0, got %d", r.Weight)
		}
		mp := join(path, "method")
		switch {
		case r.Method == "":
			v.add(mp, "required: want %s", strings.Join(methods, ", "))
		case contains(methods, strings.ToUpper(r.Method)) && !contains(methods, r.Method):
			v.add(mp, "write %s in capitals", strings.ToUpper(r.Method))
		case !contains(methods, r.Method):
			v.add(mp, "unknown method %q (want %s)", truncate(r.Method, 20), strings.Join(methods, ", "))
		}
		pp := join(path, "path")
		switch {
		case r.Path == "":
			v.add(pp, "required: the path and query, such as /api/config/flags?environment={{env}}")
		case r.Path[0] != '/':
			v.add(pp, "must start with / (the harness adds the target's address), got %q", truncate(r.Path, 40))
		case checkTemplate(r.Path) != "":
			v.add(pp, "%s", checkTemplate(r.Path))
		case strings.ContainsFunc(r.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			v.add(pp, "must not contain spaces or control characters: escape them (%%20)")
		}
		if r.Body != "" {
			bp := join(path, "body")
			if r.Method == "GET" || r.Method == "HEAD" {
				v.add(bp, "a %s request has no body", r.Method)
			} else if msg := checkTemplate(r.Body); msg != "" {
				v.add(bp, "%s", msg)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
			hp := join(join(path, "headers"), name)
			if !validHeaderName(name) {
				v.add(hp, "%q is not a valid header name", truncate(name, 40))
				continue
			}
			val := r.Headers[name]
			if strings.ContainsFunc(val, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				v.add(hp, "a header value must not contain control characters")
			} else if msg := checkTemplate(val); msg != "" {
				v.add(hp, "%s", msg)
			}
		}
		seen := map[int]bool{}
		for j, code := range r.Expect {
			ep := index(join(path, "expect"), j)
			switch {
			case code < 100 || code > 599:
				v.add(ep, "%d is not an HTTP status (100 to 599)", code)
			case seen[code]:
				v.add(ep, "status %d is listed twice", code)
			}
			seen[code] = true
		}
	}
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	})
}

// maxPad bounds a pool's zero padding.
const maxPad = 20

func (v *validator) data() {
	d := v.s.Data
	if len(d.Environments) == 0 {
		v.add("data.environments", "at least one environment is required")
	}
	seen := map[string]bool{}
	for i, env := range d.Environments {
		p := index("data.environments", i)
		switch {
		case !validEnvironment(env):
			v.add(p, "%q is not an environment name: lower-case letters, digits and -, starting with a letter (at most 32)", truncate(env, 40))
		case seen[env]:
			v.add(p, "environment %q is listed twice", env)
		}
		seen[env] = true
	}
	v.pool(d.Flags, "data.flags", "flag key", "lower-case letters, digits, ., _ and -, starting with a letter or digit (at most 128)", validFlagKey)
	v.pool(d.Users, "data.users", "user id", "letters, digits and . _ @ : - (at most 128)", validUserID)
}

func (v *validator) pool(p Pool, path, what, rule string, valid func(string) bool) {
	if len(p.Values) > 0 {
		seen := map[string]bool{}
		for i, val := range p.Values {
			ip := index(path, i)
			switch {
			case !valid(val):
				v.add(ip, "%q is not a valid %s: %s", truncate(val, 40), what, rule)
			case seen[val]:
				v.add(ip, "%q is listed twice", val)
			}
			seen[val] = true
		}
		return
	}
	if p.Count <= 0 {
		if v.s.has(join(path, "count")) {
			v.add(join(path, "count"), "must be > 0, got %d", p.Count)
		} else if v.s.has(path) && !v.s.has(join(path, "prefix")) && !v.s.has(join(path, "pad")) {
			v.add(path, "at least one value is required")
		} else {
			v.add(join(path, "count"), "required: the number of values, as in {prefix: flag-, count: 100}")
		}
		return
	}
	if p.Pad < 0 || p.Pad > maxPad {
		v.add(join(path, "pad"), "must be 0 to %d, got %d", maxPad, p.Pad)
		return
	}
	// The values differ only in their digits: the first and the longest
	// stand for all.
	for _, i := range []int{0, p.Count - 1} {
		if val := p.At(i); !valid(val) {
			v.add(join(path, "prefix"), "makes %q, which is not a valid %s: %s", truncate(val, 40), what, rule)
			return
		}
	}
}

// validEnvironment mirrors flagserver's rule, ^[a-z][a-z0-9-]{0,31}$.
func validEnvironment(s string) bool {
	return s != "" && len(s) <= 32 && 'a' <= s[0] && s[0] <= 'z' && validName(s)
}

// validFlagKey mirrors flagserver's rule, ^[a-z0-9][a-z0-9._-]{0,127}$.
func validFlagKey(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// validUserID mirrors flagserver's rule, ^[A-Za-z0-9._@:-]{1,128}$.
func validUserID(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._@:-", r))
	})
}

func (v *validator) timeline(loadOK bool) {
	tl := v.s.Timeline
	if len(tl) == 0 {
		v.add("timeline", "at least one phase is required (leave timeline out for one phase, %s, over the whole run)", DefaultPhase)
		return
	}
	first := map[string]int{}
	for i, p := range tl {
		path := index("timeline", i)
		np := join(path, "phase")
		switch j, dup := first[p.Name]; {
		case p.Name == "":
			v.add(np, "required: name the phase, as in {phase: outage, at: 20s}")
		case !validName(p.Name):
			v.add(np, "%q is not a valid phase name: use lower-case letters, digits and - (at most 64)", truncate(p.Name, 70))
		case dup:
			v.add(np, "phase %q is defined twice (first as timeline[%d])", p.Name, j)
		default:
			first[p.Name] = i
		}
		v.phaseTiming(i, loadOK)
		ap := join(path, "action")
		if p.Fault != nil && p.Action != 0 {
			v.add(ap, "a phase has a fault or an action, not both: split it into two phases")
		}
		if p.Action > ActionFlush {
			v.add(ap, "unknown action %v (want failover, crash, restart or flush)", p.Action)
		}
		if p.Rejoin && p.Action != ActionFailover {
			v.add(join(path, "rejoin"), "rejoin applies to action: failover only")
		}
		if p.Fault != nil {
			v.fault(p.Fault, join(path, "fault"))
		}
	}
}

// phaseKnown reports whether phase i has a start and a length the timing
// checks can use: written in the file (or set in code) and readable.
func (v *validator) phaseKnown(i int) bool {
	path := index("timeline", i)
	at := join(path, "at")
	return (!v.s.has(path) || v.s.has(at)) && v.ok(at, join(path, "for"))
}

// phaseTiming checks when phase i starts and ends: in order, without
// overlap, within the load.
func (v *validator) phaseTiming(i int, loadOK bool) {
	tl := v.s.Timeline
	p := tl[i]
	path := index("timeline", i)
	at, fr := join(path, "at"), join(path, "for")
	if v.s.has(path) && !v.s.has(at) {
		v.add(at, "required: when the phase starts, from the start of the run, such as 20s")
	}
	if p.At < 0 {
		v.add(at, "must not be negative, got %v", p.At)
	}
	if p.For < 0 || p.For == 0 && v.s.has(fr) {
		v.add(fr, "must be > 0, got %v (leave for out to last until the next phase)", p.For)
	}
	if !v.phaseKnown(i) || p.At < 0 || p.For < 0 {
		return
	}
	switch {
	case i == 0 && p.At != 0:
		v.add(at, "the first phase must start at 0s, not %v: add one before it, such as {phase: %s, at: 0s}", p.At, DefaultPhase)
	case i > 0 && v.phaseKnown(i-1):
		prev := tl[i-1]
		if p.At <= prev.At {
			v.add(at, "phases must be in order of at: %v is not after %v, when phase %q starts", p.At, prev.At, prev.Name)
		} else if prevEnd := addSat(prev.At, prev.For); prev.For > 0 && prevEnd > p.At {
			v.add(join(index("timeline", i-1), "for"), "phase %q lasts until %v, after phase %q starts at %v: phases must not overlap", prev.Name, prevEnd, p.Name, p.At)
		}
	}
	if total := v.s.Duration(); loadOK {
		if end := addSat(p.At, p.For); p.At >= total {
			v.add(at, "%v is not before the end of the load at %v", p.At, total)
		} else if end > total {
			v.add(fr, "phase %q lasts until %v, after the load ends at %v", p.Name, end, total)
		}
	}
}

// target checks that target.start names a phase.
func (v *validator) target() {
	start := v.s.Target.Start
	switch {
	case start == "" && v.s.has("target.start"):
		v.add("target.start", "empty: name the phase the flagservers start in, or leave start out to start them before the run")
	case start != "" && !v.phaseNames.has(start):
		v.add("target.start", "no phase %q%s (phases: %s)", start, didYouMean(start, v.phaseNames.list), &v.phaseNames)
	}
}

// snakeToKey turns toxics' snake_case field names in a message into the
// file's keys.
var snakeToKey = strings.NewReplacer(
	"rate_kbps", "rateKBps", "average_size", "averageSize", "size_variation", "sizeVariation",
	"slice_delay", "sliceDelay", "close_delay", "closeDelay",
)

func (v *validator) fault(f *toxics.Fault, path string) {
	tp := join(path, "toxicity")
	if v.s.has(tp) && f.Toxicity == 0 {
		v.add(tp, "0 affects no connection: leave toxicity out for every connection, or give a fraction in (0, 1]")
	}
	errs := unwrap(f.Validate(KnownProxies()...))
	// In the order of the file's keys, as toxics orders its own.
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(faultErrorRank(a), faultErrorRank(b)) })
	for _, e := range errs {
		var fe *toxics.FieldError
		if !errors.As(e, &fe) {
			v.add(path, "%v", e)
			continue
		}
		key := faultKey[fe.Field]
		if key == "" {
			key = fe.Field
		}
		msg := snakeToKey.Replace(fe.Msg)
		if rest, ok := strings.CutPrefix(msg, "missing"); ok {
			msg = "required" + rest
			if key == "proxy" {
				msg += " (want " + strings.Join(KnownProxies(), ", ") + ")"
			}
		}
		v.add(join(path, key), "%s", msg)
	}
}

// example is an expression that suits the metric, for messages.
func example(name string) string {
	if d, ok := metric.Lookup(name); ok {
		return d.Example
	}
	return "p(95)<50"
}

// maxSuggest bounds the candidates didYouMean compares s with.
const maxSuggest = 200

func didYouMean(s string, candidates []string) string {
	if len(candidates) > maxSuggest {
		return ""
	}
	if near := suggest(s, candidates); near != "" {
		return fmt.Sprintf(" (did you mean %s?)", near)
	}
	return ""
}

func (v *validator) thresholds() {
	seen := map[string]string{}
	for _, t := range v.s.Thresholds {
		path := join("thresholds", t.Key)
		name, tags, err := metric.ParseKey(t.Key)
		_, known := metric.Lookup(name)
		switch {
		case err != nil:
			v.add(path, "threshold key %q: %s", truncate(t.Key, 60), keyMsg(err))
		case !known:
			names := metric.Names()
			v.add(path, "unknown metric %q%s (known: %s)", name, didYouMean(name, names), strings.Join(names, ", "))
		default:
			for _, tg := range tags {
				v.selector(path, tg)
			}
			if name == metric.TargetReadyTime.Name() && v.s.Target.Start == "" && v.ok("target.start") {
				v.add(path, "target_ready_time is measured only when the flagservers start during the run: add target: {start: PHASE}")
			}
			canon := canonicalKey(name, tags)
			if other, dup := seen[canon]; dup {
				v.add(path, "selects the same submetric as %q: merge their lists", other)
			}
			seen[canon] = t.Key
		}
		if len(t.Exprs) == 0 {
			v.add(path, "no threshold expressions: write at least one, such as [%q]", example(name))
		}
		for i, e := range t.Exprs {
			ip := index(path, i)
			if strings.TrimSpace(e.Text) == "" {
				v.add(ip, "empty threshold expression: write one such as %q", example(name))
			}
			switch dp := join(ip, "delayAbortEval"); {
			case e.DelayAbortEval < 0:
				v.add(dp, "must not be negative, got %v", e.DelayAbortEval)
			case e.DelayAbortEval > 0 && !e.AbortOnFail:
				v.add(dp, "has no effect without abortOnFail: true")
			}
		}
	}
}

// selector checks one tag of a threshold key against what the file
// defines: a selector that matches nothing would leave the threshold
// without data for ever.
func (v *validator) selector(path string, t metric.Tag) {
	in := func(what string, known *nameSet) {
		if !known.has(t.Value) {
			v.add(path, "no %s %q%s (%ss: %s)", what, t.Value, didYouMean(t.Value, known.list), what, known)
		}
	}
	switch t.Name {
	case metric.TagPhase:
		in("phase", &v.phaseNames)
	case metric.TagName:
		in("request", &v.requestNames)
	case metric.TagScenario:
		in("scenario", &v.scenarioNames)
	case metric.TagSource:
		if known := metric.Sources(); !contains(known, t.Value) {
			v.add(path, "no source %q%s (sources: %s)", t.Value, didYouMean(t.Value, known), strings.Join(known, ", "))
		}
	case metric.TagMethod:
		if !v.methods.has(t.Value) {
			v.add(path, "no request uses method %q (methods: %s)", t.Value, &v.methods)
		}
	case metric.TagStatus:
		if n, err := strconv.Atoi(t.Value); err != nil || n < 100 || n > 599 {
			v.add(path, "status %q is not an HTTP status (100 to 599)", t.Value)
		}
	default:
		known := metric.TagNames()
		v.add(path, "unknown tag %q%s: thresholds select on %s", t.Name, didYouMean(t.Name, known), strings.Join(known, ", "))
	}
}

// keyMsg is what metric.ParseKey found wrong with a key, without the key.
func keyMsg(err error) string {
	if ke, ok := errors.AsType[*metric.KeyError](err); ok {
		return ke.Msg
	}
	return err.Error()
}

func (v *validator) expect() {
	for _, prof := range slices.Sorted(maps.Keys(v.s.Expect)) {
		path := join("expect", prof)
		if prof == ProfileBoth.String() || !validName(prof) {
			v.add(path, "expectations are per target: a profile (hardened or seed) or a variant of a target description")
			continue
		}
		for i, e := range v.s.Expect[prof] {
			if _, _, ok := v.s.resolveExpect(v.thresholdIndex, e.Text); ok {
				continue
			}
			ip := index(path, i)
			if e.May {
				ip = join(ip, "may")
			}
			if ex := v.exampleFailure(); ex != "" {
				v.add(ip, "%q names no threshold of this file: write a key of thresholds and one of its expressions, such as %q", truncate(e.Text, 60), ex)
			} else {
				v.add(ip, "%q names no threshold: this file has none", truncate(e.Text, 60))
			}
		}
	}
}

// exampleFailure is the first threshold written as expect wants it.
func (v *validator) exampleFailure() string {
	for _, t := range v.s.Thresholds {
		name, tags, err := metric.ParseKey(t.Key)
		if err == nil && len(t.Exprs) > 0 {
			return canonicalKey(name, tags) + " " + squashExpr(t.Exprs[0].Text)
		}
	}
	return ""
}
