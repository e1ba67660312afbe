package run

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/phase"
)

// sigCause stands for os/signal's cause ("hangup signal received"), which
// is context.Canceled by errors.Is.
type sigCause string

func (s sigCause) Error() string        { return string(s) }
func (s sigCause) Is(target error) bool { return target == context.Canceled }

func TestPartialReason(t *testing.T) {
	t.Parallel()
	tl := phase.Timeline{{Name: "steady", End: 20 * time.Second}, {Name: "outage", Start: 20 * time.Second, End: 40 * time.Second}, {Name: "recovery", Start: 45 * time.Second}}
	tests := []struct {
		name  string
		ran   time.Duration
		cause error
		want  string
	}{
		{"signal in a phase", 25340 * time.Millisecond, sigCause("hangup signal received"),
			"interrupted in phase outage at t=25.3s of 1m0s planned (hangup signal received)"},
		{"plain cancel between phases", 42 * time.Second, context.Canceled,
			"interrupted at t=42s of 1m0s planned"},
		{"no cause", 0, nil, "interrupted in phase steady at t=0s of 1m0s planned"},
		{"another cause", time.Second, errors.New("parent gone"), "interrupted in phase steady at t=1s of 1m0s planned (parent gone)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := partialReason(tl, tt.ran, time.Minute, tt.cause); got != tt.want {
				t.Errorf("partialReason = %q, want %q", got, tt.want)
			}
		})
	}
}
