package scenarios

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuiltinScenariosParse(t *testing.T) {
	files, err := fs.Glob(builtin, "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded scenario files (%v)", err)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := builtin.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(file, data)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(file, ".yaml"); s.Name != want {
				t.Errorf("name %q in file %s: name the file after the experiment", s.Name, file)
			}
			if s.Description == "" {
				t.Error("a built-in scenario needs a description")
			}
			if len(s.Thresholds) == 0 {
				t.Error("a built-in scenario needs thresholds")
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
			for i, p := range s.Timeline {
				if p.Fault == nil {
					continue
				}
				if err := p.Fault.Validate(KnownProxies()...); err != nil {
					t.Errorf("timeline[%d]: %v", i, err)
				}
			}
			for prof, list := range s.Expect {
				for _, e := range list {
					if _, _, ok := s.resolveExpect(s.thresholdIndex(), e.Text); !ok {
						t.Errorf("expect.%v: %q names no threshold", prof, e.Text)
					}
				}
			}
		})
	}
}

func TestBuiltin(t *testing.T) {
	specs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	names := BuiltinNames()
	if len(specs) != len(names) {
		t.Fatalf("Builtin returned %d specs for %d names", len(specs), len(names))
	}
	for i, s := range specs {
		if s.Name != names[i] {
			t.Errorf("Builtin()[%d] is %q, want %q (sorted by name)", i, s.Name, names[i])
		}
	}
	for _, want := range []string{"baseline", "redis-outage"} {
		if _, err := BuiltinNamed(want); err != nil {
			t.Errorf("BuiltinNamed(%q): %v", want, err)
		}
	}
	for _, name := range []string{"nope", "../go.mod", "", "baseline.yaml"} {
		_, err := BuiltinNamed(name)
		if !errors.Is(err, ErrNotBuiltin) || !strings.Contains(err.Error(), "baseline, ") {
			t.Errorf("BuiltinNamed(%q) = %v, want ErrNotBuiltin listing the built-ins", name, err)
		}
	}
}

func TestBuiltinBaseline(t *testing.T) {
	s, err := BuiltinNamed("baseline")
	if err != nil {
		t.Fatal(err)
	}
	// The suite's load: readers at 950/s from a pool of 50 preallocated
	// VUs (the story's 50 concurrent users) and writers at 50/s, for 30 s.
	rate := 0
	for _, sc := range s.Scenarios {
		if sc.Executor != ConstantArrivalRate || sc.Duration != 30*time.Second {
			t.Errorf("load: %+v", s.Scenarios)
		}
		rate += sc.Rate
	}
	if rate != 1000 || s.Scenarios[0].PreAllocatedVUs != 50 {
		t.Errorf("baseline offers %d requests/s with %d preallocated readers; want 1000/s and 50", rate, s.Scenarios[0].PreAllocatedVUs)
	}
	for _, p := range s.Timeline {
		if p.Fault != nil || p.Action != 0 {
			t.Errorf("baseline phase %q injects something", p.Name)
		}
	}
	if s.File != "scenarios/baseline.yaml" {
		t.Errorf("File = %q", s.File)
	}
}

func TestBuiltinRedisOutage(t *testing.T) {
	s, err := BuiltinNamed("redis-outage")
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration() != time.Minute {
		t.Errorf("Duration() = %v, want 1m", s.Duration())
	}
	for at, want := range map[time.Duration]string{0: "steady", 19 * time.Second: "steady", 20 * time.Second: "outage", 39 * time.Second: "outage", 40 * time.Second: "recovery", 90 * time.Second: "recovery"} {
		if got := s.PhaseAt(at); got != want {
			t.Errorf("PhaseAt(%v) = %q, want %q", at, got, want)
		}
	}
	f := s.Timeline[1].Fault
	if got := f.String(); got != "blackhole both on redis" {
		t.Errorf("fault %q", got)
	}
	if !s.Expected("seed", "http_req_duration{phase:outage}", 0) || s.Expected("hardened", "http_req_duration{phase:outage}", 0) {
		t.Error("the outage p95 should be expected to fail for seed only")
	}
	if s.MemoryCacheTTL == nil || *s.MemoryCacheTTL != 0 {
		t.Errorf("memoryCacheTTL = %v, want 0s", s.MemoryCacheTTL)
	}
}

// cold-start starts the flagserver while Redis is unreachable and judges
// the readiness budget, the database serving and the reconnection.
func TestBuiltinColdStart(t *testing.T) {
	s, err := BuiltinNamed("cold-start")
	if err != nil {
		t.Fatal(err)
	}
	var phase *Phase
	for i := range s.Timeline {
		if s.Timeline[i].Name == s.Target.Start {
			phase = &s.Timeline[i]
		}
	}
	if phase == nil || phase.Fault == nil || phase.Fault.Proxy != "redis" || phase.At != 0 {
		t.Fatalf("target.start %q: want the first phase, with a fault on the redis proxy", s.Target.Start)
	}
	for _, sc := range s.Scenarios {
		if sc.StartTime < 500*time.Millisecond {
			t.Errorf("scenario %s starts at %v, inside the 500 ms readiness budget", sc.Name, sc.StartTime)
		}
	}
	want := map[string]string{
		"target_ready_time":                              "value<500",
		"http_reqs{phase:recovered,source:redis}":        "count>0",
		"http_reqs{phase:redis-down,source:db-fallback}": "count>0",
	}
	for _, th := range s.Thresholds {
		if e, ok := want[th.Key]; ok && len(th.Exprs) > 0 && th.Exprs[0].Text == e {
			delete(want, th.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("cold-start lacks thresholds %v", want)
	}
}

func TestQuickNamesAreBuiltins(t *testing.T) {
	names := BuiltinNames()
	for _, q := range QuickNames {
		if !slices.Contains(names, q) {
			t.Errorf("quick suite names %q, not a built-in scenario", q)
		}
	}
}
