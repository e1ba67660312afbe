package scenarios

import (
	"testing"
	"time"
)

// TestSoakFileIsValid: `make soak` runs scenarios/soak/soak.yaml, which is
// not embedded with the built-ins; it must parse and validate all the same.
func TestSoakFileIsValid(t *testing.T) {
	s, err := Load("soak/soak.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration() < 10*time.Minute {
		t.Errorf("the soak runs %s; a soak should run for at least 10 minutes", s.Duration())
	}
	if len(s.Timeline) < 5 {
		t.Errorf("the soak has %d phases; it should repeat faults", len(s.Timeline))
	}
}
