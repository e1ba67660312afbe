package scenarios

import (
	"fmt"
	"time"
)

// Scaled returns a copy of s with its clock compressed by f (0 < f <= 1):
// every scenario's start time, duration and stages, every phase's start
// and length, and every abortOnFail delay are multiplied by f and rounded
// to the millisecond. Rates, VUs, request timeouts, the in-process cache
// TTL and threshold limits stay: a quick run offers the same load for a
// shorter time. Phases keep at least minPhase, so that recovery (three
// steady seconds) stays measurable; phases after a lengthened one move
// later, and the load is stretched to keep ending where the last phase
// did.
func (s *Spec) Scaled(f float64, minPhase time.Duration) (*Spec, error) {
	if !(f > 0 && f <= 1) {
		return nil, fmt.Errorf("scenarios: scale %v: want 0 < f <= 1", f)
	}
	scale := func(d time.Duration) time.Duration {
		return (time.Duration(float64(d) * f)).Round(time.Millisecond)
	}
	c := *s
	c.Scenarios = make([]Scenario, len(s.Scenarios))
	for i, sc := range s.Scenarios {
		sc.StartTime = scale(sc.StartTime)
		sc.Duration = scale(sc.Duration)
		sc.Stages = append([]Stage(nil), sc.Stages...)
		for j := range sc.Stages {
			sc.Stages[j].Duration = scale(sc.Stages[j].Duration)
		}
		sc.Requests = append([]string(nil), sc.Requests...)
		c.Scenarios[i] = sc
	}
	// Phases: scaled, then pushed apart where a phase would be shorter
	// than minPhase.
	c.Timeline = make([]Phase, len(s.Timeline))
	var shift time.Duration
	for i, p := range s.Timeline {
		length := s.PhaseEnd(i) - p.At
		if i == len(s.Timeline)-1 && p.For == 0 {
			length = s.Duration() - p.At
		}
		p.At = scale(p.At) + shift
		scaled := scale(length)
		if scaled < minPhase && length >= minPhase {
			shift += minPhase - scaled
			scaled = minPhase
		}
		if p.For > 0 {
			p.For = scaled
		}
		c.Timeline[i] = p
	}
	if shift > 0 {
		// Stretch the load so that it still covers the whole timeline.
		for i := range c.Scenarios {
			sc := &c.Scenarios[i]
			if len(sc.Stages) > 0 {
				sc.Stages[len(sc.Stages)-1].Duration += shift
			} else {
				sc.Duration += shift
			}
		}
	}
	c.Thresholds = make([]ThresholdSpec, len(s.Thresholds))
	for i, t := range s.Thresholds {
		t.Exprs = append([]ThresholdExpr(nil), t.Exprs...)
		for j := range t.Exprs {
			t.Exprs[j].DelayAbortEval = scale(t.Exprs[j].DelayAbortEval)
		}
		c.Thresholds[i] = t
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("scenarios: %s scaled by %v: %w", s.Name, f, err)
	}
	return &c, nil
}
