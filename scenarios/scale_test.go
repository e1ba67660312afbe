package scenarios

import (
	"testing"
	"time"
)

func TestScaledBuiltinsStayValid(t *testing.T) {
	specs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		q, err := s.Scaled(0.5, 3*time.Second)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if d, full := q.Duration(), s.Duration(); d > full*3/4 || d < full/3 {
			t.Errorf("%s: scaled by 0.5 it runs %s of %s", s.Name, d, full)
		}
		if len(q.Timeline) != len(s.Timeline) {
			t.Fatalf("%s: %d phases scaled, %d before", s.Name, len(q.Timeline), len(s.Timeline))
		}
		for i, p := range q.Timeline {
			orig := s.PhaseEnd(i) - s.Timeline[i].At
			if got := q.PhaseEnd(i) - p.At; orig >= 3*time.Second && got < 3*time.Second {
				t.Errorf("%s: phase %s lasts %s scaled (%s before); want at least 3s", s.Name, p.Name, got, orig)
			}
			if p.Name != s.Timeline[i].Name || p.Fault != s.Timeline[i].Fault || p.Action != s.Timeline[i].Action {
				t.Errorf("%s: phase %d changed beyond its times", s.Name, i)
			}
		}
	}
}

func TestScaledKeepsLoadAndPhases(t *testing.T) {
	s, err := BuiltinNamed("redis-reset")
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Scaled(0.25, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range q.Scenarios {
		if q.Scenarios[i].Rate != s.Scenarios[i].Rate {
			t.Errorf("scenario %s: rate %d scaled, %d before", q.Scenarios[i].Name, q.Scenarios[i].Rate, s.Scenarios[i].Rate)
		}
		if q.Scenarios[i].End() < q.Timeline[len(q.Timeline)-1].At {
			t.Errorf("scenario %s ends at %s, before the last phase starts at %s", q.Scenarios[i].Name, q.Scenarios[i].End(), q.Timeline[len(q.Timeline)-1].At)
		}
	}
	if s.Scenarios[0].Duration == q.Scenarios[0].Duration {
		t.Error("the original spec was changed")
	}
	if _, err := s.Scaled(0, time.Second); err == nil {
		t.Error("scale 0 accepted")
	}
	if _, err := s.Scaled(2, time.Second); err == nil {
		t.Error("scale 2 accepted")
	}
}
