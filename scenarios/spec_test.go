package scenarios

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/toxics"
	"github.com/google/go-cmp/cmp"
)

// codeSpec is a valid Spec built in code, with defaults filled in.
func codeSpec() *Spec {
	return &Spec{
		Name:           "in-code",
		Profile:        ProfileHardened,
		Instances:      1,
		RequestTimeout: DefaultRequestTimeout,
		Data:           DefaultDataPools(),
		Scenarios:      []Scenario{{Name: "a", Executor: ConstantVUs, VUs: 1, Duration: time.Minute}},
		Requests:       []Request{{Name: "get", Weight: 1, Method: "GET", Path: "/healthz"}},
		Timeline: []Phase{
			{Name: "steady"},
			{Name: "slow", At: 10 * time.Second, For: 10 * time.Second, Fault: &toxics.Fault{Proxy: "redis", Kind: toxics.Latency, Latency: 50 * time.Millisecond}},
			{Name: "gap-after", At: 30 * time.Second},
		},
		Thresholds: []ThresholdSpec{{Key: "http_req_duration{phase:slow}", Exprs: []ThresholdExpr{{Text: "p(95)<100"}}}},
	}
}

func TestValidateInCode(t *testing.T) {
	if err := codeSpec().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Spec)
		want   string // the whole error: no file, no line
	}{
		{"zero profile", func(s *Spec) { s.Profile = 0 }, "profile: want hardened, seed or both"},
		{"zero instances", func(s *Spec) { s.Instances = 0 }, "instances: must be >= 1, got 0"},
		{"zero request timeout", func(s *Spec) { s.RequestTimeout = 0 }, "requestTimeout: must be > 0, got 0s"},
		{"no scenarios", func(s *Spec) { s.Scenarios = nil }, "load: required: the load's shape, as in load: {executor: constant-vus, vus: 50, duration: 60s} (or scenarios: for several in parallel)"},
		{"zero vus", func(s *Spec) { s.Scenarios[0].VUs = 0 }, "scenarios.a.vus: required by constant-vus"},
		{"negative vus", func(s *Spec) { s.Scenarios[0].VUs = -1 }, "scenarios.a.vus: must be > 0, got -1"},
		{"foreign option", func(s *Spec) { s.Scenarios[0].MaxVUs = 3 }, "scenarios.a.maxVUs: maxVUs is not an option of constant-vus (its options: vus, duration, gracefulStop)"},
		{"duplicate scenario", func(s *Spec) { s.Scenarios = append(s.Scenarios, s.Scenarios[0]) }, `scenarios.a: scenario "a" is defined twice`},
		{"unnamed scenario", func(s *Spec) { s.Scenarios[0].Name = "" }, "scenarios[0]: a scenario needs a name"},
		{"arrival rate without VUs", func(s *Spec) {
			s.Scenarios[0] = Scenario{Name: "a", Executor: ConstantArrivalRate, Rate: 10, Duration: time.Minute}
		}, "scenarios.a.preAllocatedVUs: preAllocatedVUs or maxVUs must be > 0"},
		{"negative start time", func(s *Spec) { s.Scenarios[0].StartTime = -time.Second }, "scenarios.a.startTime: must not be negative, got -1s"},
		{"empty timeline", func(s *Spec) { s.Timeline, s.Thresholds = nil, nil }, "timeline: at least one phase is required (leave timeline out for one phase, steady, over the whole run)"},
		{"negative at", func(s *Spec) { s.Timeline[2].At = -time.Second }, "timeline[2].at: must not be negative, got -1s"},
		{"invalid action", func(s *Spec) { s.Timeline[2].Action = 9 }, "timeline[2].action: unknown action Action(9) (want failover, crash, restart or flush)"},
		{"fault field of another kind", func(s *Spec) { s.Timeline[1].Fault.RateKBps = 5 }, "timeline[1].fault.rateKBps: not used by fault type latency"},
		{"negative delayAbortEval", func(s *Spec) { s.Thresholds[0].Exprs[0].DelayAbortEval = -time.Second }, "thresholds.http_req_duration{phase:slow}[0].delayAbortEval: must not be negative, got -1s"},
		{"zero pool", func(s *Spec) { s.Data.Users = Pool{} }, "data.users.count: required: the number of values, as in {prefix: flag-, count: 100}"},
		{"expect both", func(s *Spec) { s.Expect = map[string][]ExpectedFailure{"both": nil} }, "expect.both: expectations are per target: a profile (hardened or seed) or a variant of a target description"},
		{"expect matched", func(s *Spec) {
			s.Expect = map[string][]ExpectedFailure{"seed": {{Text: "http_req_duration{phase:slow} p(95) < 100"}}}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := codeSpec()
			tt.change(s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestPhaseAt(t *testing.T) {
	s := codeSpec() // steady 0s-10s, slow 10s-20s, gap, gap-after 30s-
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{-time.Nanosecond, ""},
		{0, "steady"},
		{10*time.Second - 1, "steady"},
		{10 * time.Second, "slow"},
		{20*time.Second - 1, "slow"},
		{20 * time.Second, ""}, // the gap after slow's for
		{30 * time.Second, "gap-after"},
		{10 * time.Hour, "gap-after"}, // the last phase runs through the graceful stop
		{math.MinInt64, ""},
		{math.MaxInt64, "gap-after"},
	} {
		if got := s.PhaseAt(tc.at); got != tc.want {
			t.Errorf("PhaseAt(%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
	var ends []time.Duration
	for i := range s.Timeline {
		ends = append(ends, s.PhaseEnd(i))
	}
	if diff := cmp.Diff([]time.Duration{10 * time.Second, 20 * time.Second, time.Minute}, ends); diff != "" {
		t.Errorf("PhaseEnd (-want +got):\n%s", diff)
	}
}

func TestDuration(t *testing.T) {
	s := &Spec{Scenarios: []Scenario{
		{Executor: ConstantVUs, Duration: 30 * time.Second, StartTime: 5 * time.Second},
		{Executor: RampingVUs, Stages: []Stage{{10 * time.Second, 5}, {20 * time.Second, 0}}, StartTime: 10 * time.Second},
		{Executor: RampingArrivalRate, Stages: []Stage{{time.Duration(1 << 62), 5}, {time.Duration(1 << 62), 5}}},
	}}
	if got := s.Scenarios[1].End(); got != 40*time.Second {
		t.Errorf("ramping End() = %v", got)
	}
	if got := s.Duration(); got != time.Duration(1<<63-1) {
		t.Errorf("Duration() = %v, want it saturated", got)
	}
	s.Scenarios = s.Scenarios[:2]
	if got := s.Duration(); got != 40*time.Second {
		t.Errorf("Duration() = %v, want 40s", got)
	}
}

// Every snake_case field toxics reports has a key in the file.
func TestFaultKeys(t *testing.T) {
	for _, f := range []string{"proxy", "kind", "direction", "toxicity", "latency", "jitter", "timeout", "rate_kbps", "average_size", "size_variation", "slice_delay", "bytes", "close_delay"} {
		if key := faultKey[f]; key == "" || !contains(faultKeys, key) {
			t.Errorf("toxics field %q maps to %q, not a fault key", f, key)
		}
	}
}

// The decoder yields typed faults: names parsed (aliases included),
// durations read.
func TestDecodedFaults(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want toxics.Fault
	}{
		{"{proxy: redis, type: slicer, direction: upstream, toxicity: 0.25, averageSize: 100, sizeVariation: 10, sliceDelay: 5us}",
			toxics.Fault{Proxy: "redis", Kind: toxics.Slicer, Direction: toxics.Upstream, Toxicity: 0.25, AverageSize: 100, SizeVariation: 10, SliceDelay: 5 * time.Microsecond}},
		{"{proxy: postgres, type: timeout}", toxics.Fault{Proxy: "postgres", Kind: toxics.Blackhole, Direction: toxics.DefaultDirection}},
		{"{proxy: postgres, type: reset_peer}", toxics.Fault{Proxy: "postgres", Kind: toxics.Reset, Direction: toxics.DefaultDirection}},
		{"{proxy: redis, type: refused}", toxics.Fault{Proxy: "redis", Kind: toxics.Refused, Direction: toxics.DefaultDirection}},
	} {
		src := "name: f\nload: {executor: constant-vus, vus: 1, duration: 10s}\nrequests: [{name: get, method: GET, path: /x}]\ntimeline:\n  - {phase: steady, at: 0s}\n  - {phase: f, at: 5s, for: 1s, fault: " + tc.yaml + "}\n"
		s, err := Parse("f.yaml", []byte(src))
		if err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
			continue
		}
		if diff := cmp.Diff(&tc.want, s.Timeline[1].Fault); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.yaml, diff)
		}
	}
}

func TestThresholdError(t *testing.T) {
	s, err := BuiltinNamed("redis-outage")
	if err != nil {
		t.Fatal(err)
	}
	key := "http_req_duration{phase:outage}"
	e := s.ThresholdError(key, 1, "unknown aggregation")
	if e.File != "scenarios/redis-outage.yaml" || e.Field != "thresholds."+key+"[1]" || e.Line == 0 || e.Line != s.Thresholds[1].Exprs[1].Line {
		t.Errorf("ThresholdError = %+v", e)
	}
	if k := s.ThresholdError(key, -1, "x"); k.Line != s.Thresholds[1].Line || k.Field != "thresholds."+key {
		t.Errorf("key error = %+v", k)
	}
	c := codeSpec()
	if e := c.ThresholdError("http_req_duration{phase:slow}", 0, "x"); e.Line != 0 || e.Error() != "thresholds.http_req_duration{phase:slow}[0]: x" {
		t.Errorf("in code: %v", e)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    ValidationError
		want string
	}{
		{ValidationError{File: "a.yaml", Line: 12, Column: 5, Field: "timeline[1].fault.type", Msg: "bad"}, "a.yaml:12:5: timeline[1].fault.type: bad"},
		{ValidationError{File: "a.yaml", Line: 12, Field: "f", Msg: "bad"}, "a.yaml:12: f: bad"},
		{ValidationError{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{ValidationError{Line: 3, Column: 1, Msg: "bad"}, "3:1: bad"},
		{ValidationError{Field: "f", Msg: "bad"}, "f: bad"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestEnums(t *testing.T) {
	for e := ConstantVUs; e <= RampingArrivalRate; e++ {
		if got, err := ParseExecutor(e.String()); err != nil || got != e {
			t.Errorf("ParseExecutor(%q) = %v, %v", e, got, err)
		}
	}
	for p := ProfileHardened; p <= ProfileBoth; p++ {
		if got, err := ParseProfile(p.String()); err != nil || got != p {
			t.Errorf("ParseProfile(%q) = %v, %v", p, got, err)
		}
	}
	for a := ActionFailover; a <= ActionFlush; a++ {
		if got, err := ParseAction(a.String()); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a, got, err)
		}
	}
	for p := PlaceholderEnv; p <= PlaceholderPct; p++ {
		if got, err := ParsePlaceholder(p.String()); err != nil || got != p {
			t.Errorf("ParsePlaceholder(%q) = %v, %v", p, got, err)
		}
	}
	for _, s := range []string{Executor(0).String(), Executor(9).String(), Profile(0).String(), Action(0).String(), Action(9).String(), Placeholder(0).String()} {
		if s == "" || strings.Contains(s, "%!") {
			t.Errorf("String of an invalid value: %q", s)
		}
	}
	if _, err := ParseExecutor("Constant-VUs"); err == nil {
		t.Error("executor names are case-sensitive, as in k6")
	}
}

func TestAppendExpand(t *testing.T) {
	value := func(dst []byte, p Placeholder) []byte { return append(dst, "<"+p.String()+">"...) }
	for tmpl, want := range map[string]string{
		"/api/config/flags/{{flag}}?environment={{env}}": "/api/config/flags/<flag>?environment=<env>",
		`{"enabled": {{bool}}}`:                          `{"enabled": <bool>}`,
		`{"a": {"b": 1}}`:                                `{"a": {"b": 1}}`,
		"{{user}}{{pct}}":                                "<user><pct>",
		"no placeholders":                                "no placeholders",
		"{{nope}} and {{env":                             "{{nope}} and {{env",
	} {
		if got := string(AppendExpand([]byte("x"), tmpl, value)); got != "x"+want {
			t.Errorf("AppendExpand(%q) = %q, want %q", tmpl, got, "x"+want)
		}
	}
	flags := DefaultDataPools().Flags
	buf := make([]byte, 0, 128) // the caller's reused buffer
	if n := testing.AllocsPerRun(100, func() {
		_ = AppendExpand(buf[:0], "/api/config/flags/{{flag}}?environment={{env}}", func(dst []byte, p Placeholder) []byte {
			return flags.AppendAt(dst, 7)
		})
	}); n > 0 {
		t.Errorf("AppendExpand allocates %v times per call", n)
	}
}

func TestPool(t *testing.T) {
	d := DefaultDataPools()
	for _, tc := range []struct {
		p    Pool
		i    int
		want string
		len  int
	}{
		{d.Flags, 0, "flag-000", 100},
		{d.Flags, 99, "flag-099", 100},
		{d.Users, 0, "user-0", 10000},
		{d.Users, 9999, "user-9999", 10000},
		{Pool{Prefix: "f", Count: 2000, Pad: 3}, 1500, "f1500", 2000},
		{Pool{Values: []string{"a", "b"}, Count: 7}, 1, "b", 2},
	} {
		if got := tc.p.At(tc.i); got != tc.want || tc.p.Len() != tc.len {
			t.Errorf("%+v: At(%d) = %q, Len() = %d; want %q, %d", tc.p, tc.i, got, tc.p.Len(), tc.want, tc.len)
		}
	}
}

func TestKnownLists(t *testing.T) {
	// Every metric of the catalog has an example for messages, and it
	// names the metric's kind's aggregation (the catalog's own lint checks
	// the rest).
	for _, name := range metric.Names() {
		if e := example(name); e == "" {
			t.Errorf("no example for %s", name)
		}
	}
	if got := example("nonsense"); got != "p(95)<50" {
		t.Errorf("example for an unknown metric = %q", got)
	}
	if got := truncate("ééé", 3); got != "é..." {
		t.Errorf("truncate cut a rune: %q", got)
	}
}
