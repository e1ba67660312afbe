package load

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestKind(t *testing.T) {
	for _, k := range []Kind{KindConstantVUs, KindRampingVUs, KindConstantArrivalRate, KindRampingArrivalRate} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	for _, s := range []string{"", "shared-iterations", "Constant-VUs", "constant_vus"} {
		if _, err := ParseKind(s); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("ParseKind(%q) error = %v, want ErrUnknownKind", s, err)
		}
	}
	if got := Kind(42).String(); got != "Kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}

func TestValidate(t *testing.T) {
	one := func(name string, e Executor) Plan { return Plan{Scenarios: []Scenario{{Name: name, Executor: e}}} }
	ramp := []Stage{{Duration: time.Minute, Target: 10}}
	tests := []struct {
		name string
		plan Plan
		want []string // every message, in order; nil means valid
	}{
		{"constant-vus ok", one("browse", ConstantVUs{VUs: 1, Duration: time.Second}), nil},
		{"constant-vus pointer ok", one("browse", &ConstantVUs{VUs: 1, Duration: time.Second, GracefulStop: -1}), nil},
		{"ramping-vus ok from 0", one("browse", RampingVUs{Stages: ramp}), nil},
		{"constant-arrival-rate ok, maxVUs defaults", one("browse", ConstantArrivalRate{Rate: 1, Duration: time.Second, PreAllocatedVUs: 1}), nil},
		{"constant-arrival-rate ok, no preallocation", one("browse", ConstantArrivalRate{Rate: 1, Duration: time.Second, MaxVUs: 3}), nil},
		{"ramping-arrival-rate ok", one("browse", RampingArrivalRate{Stages: ramp, PreAllocatedVUs: 1, MaxVUs: 2}), nil},
		{
			"maxVUs below preAllocatedVUs",
			one("browse", ConstantArrivalRate{Rate: 10, Duration: time.Minute, PreAllocatedVUs: 20, MaxVUs: 10}),
			[]string{"scenarios.browse: maxVUs (10) must be >= preAllocatedVUs (20)"},
		},
		{"no scenarios", Plan{}, []string{"scenarios: at least one scenario is required"}},
		{
			"plan-wide problems",
			Plan{LateTolerance: -time.Millisecond, Scenarios: []Scenario{
				{Executor: ConstantVUs{VUs: 1, Duration: time.Second}},
				{Name: "a", Executor: ConstantVUs{VUs: 1, Duration: time.Second}},
				{Name: "a", StartTime: -time.Second, Executor: ConstantVUs{VUs: 1, Duration: time.Second}},
				{Name: "b"},
				{Name: "c", Executor: (*RampingVUs)(nil)},
			}},
			[]string{
				"lateTolerance (-1ms) must be >= 0",
				"scenarios: the name of scenario #1 must not be empty",
				`scenarios.a: name "a" is used by more than one scenario`,
				"scenarios.a: startTime (-1s) must be >= 0",
				"scenarios.b: executor is required",
				"scenarios.c: executor is required",
			},
		},
		{
			"constant-vus",
			one("x", ConstantVUs{VUs: 0, Duration: -time.Second}),
			[]string{"scenarios.x: vus (0) must be > 0", "scenarios.x: duration (-1s) must be > 0"},
		},
		{
			"ramping-vus",
			one("x", RampingVUs{StartVUs: -1, Stages: []Stage{{Duration: -time.Second, Target: -2}, {Duration: 0, Target: 0}}}),
			[]string{
				"scenarios.x: startVUs (-1) must be >= 0",
				"scenarios.x: stages[0].duration (-1s) must be >= 0",
				"scenarios.x: stages[0].target (-2 VUs) must be >= 0",
				"scenarios.x: the total duration of stages (0s) must be > 0",
				"scenarios.x: startVUs or at least one stage target must be > 0",
			},
		},
		{"ramping-vus without stages", one("x", RampingVUs{StartVUs: 3}), []string{"scenarios.x: stages must not be empty"}},
		{
			"constant-arrival-rate",
			one("x", ConstantArrivalRate{Rate: -1, TimeUnit: -time.Second, Duration: 0, PreAllocatedVUs: -1, MaxVUs: -1}),
			[]string{
				"scenarios.x: rate (-1) must be > 0",
				"scenarios.x: timeUnit (-1s) must be > 0",
				"scenarios.x: duration (0s) must be > 0",
				"scenarios.x: preAllocatedVUs (-1) must be >= 0",
				"scenarios.x: maxVUs (-1) must be >= 0 (0 means preAllocatedVUs)",
			},
		},
		{"no VUs at all", one("x", ConstantArrivalRate{Rate: 1, Duration: time.Second}), []string{"scenarios.x: maxVUs or preAllocatedVUs must be > 0"}},
		{
			"too many arrivals",
			one("x", ConstantArrivalRate{Rate: 1 << 40, TimeUnit: time.Nanosecond, Duration: time.Hour, MaxVUs: 1}),
			[]string{"scenarios.x: rate (1099511627776) per timeUnit (1ns) over duration (1h0m0s) schedules too many iterations"},
		},
		{
			"ramping-arrival-rate",
			one("x", RampingArrivalRate{StartRate: -5, Stages: []Stage{{Duration: time.Second, Target: -1}}, PreAllocatedVUs: 5, MaxVUs: 2}),
			[]string{
				"scenarios.x: startRate (-5) must be >= 0",
				"scenarios.x: stages[0].target (-1 iterations per timeUnit) must be >= 0",
				"scenarios.x: maxVUs (2) must be >= preAllocatedVUs (5)",
			},
		},
		{
			"ramping-arrival-rate too many arrivals",
			one("x", RampingArrivalRate{StartRate: 1 << 40, TimeUnit: time.Nanosecond, Stages: []Stage{{Duration: time.Hour, Target: 1 << 40}}, MaxVUs: 1}),
			[]string{"scenarios.x: stages schedule too many iterations"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if err == nil {
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Option == "" {
				t.Errorf("error %v: want a *ConfigError naming the option", err)
			}
			if _, nerr := New(tt.plan); nerr == nil {
				t.Error("New accepted an invalid plan")
			}
		})
	}
}

func TestConfigErrorOption(t *testing.T) {
	err := Plan{Scenarios: []Scenario{{Name: "browse", Executor: ConstantArrivalRate{Rate: 10, Duration: time.Minute, PreAllocatedVUs: 20, MaxVUs: 10}}}}.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *ConfigError", err)
	}
	want := &ConfigError{Scenario: "browse", Option: "maxVUs", Msg: "maxVUs (10) must be >= preAllocatedVUs (20)"}
	if diff := cmp.Diff(want, ce); diff != "" {
		t.Errorf("ConfigError (-want +got):\n%s", diff)
	}
}

func TestPlanDuration(t *testing.T) {
	p := Plan{Scenarios: []Scenario{
		{Name: "a", Executor: ConstantVUs{VUs: 1, Duration: 10 * time.Second}},                                                                   // 10s + 30s
		{Name: "b", StartTime: 5 * time.Second, Executor: ConstantArrivalRate{Rate: 1, Duration: 20 * time.Second, MaxVUs: 1, GracefulStop: -1}}, // 25s + 0
		{Name: "c", StartTime: time.Minute, Executor: RampingVUs{Stages: []Stage{{Duration: time.Second, Target: 1}}, GracefulStop: 2 * time.Second}},
	}}
	if got, want := p.Duration(), time.Minute+3*time.Second; got != want {
		t.Errorf("Duration() = %v, want %v", got, want)
	}
}
