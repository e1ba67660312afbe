// Package phase is the one model of a run's phases: named spans of time
// from the run's start. The scenario format resolves its timeline into
// them (scenarios.Spec.Spans), the engine tags measurements by them, and
// the fault timeline applies faults over them.
package phase

import "time"

// Span is a phase: from Start to End, offsets from the run's start. End 0
// means until the run ends (the last phase, through the graceful stops).
// Time between one span's End and the next one's Start belongs to no
// phase.
type Span struct {
	Name       string
	Start, End time.Duration
}

// Contains reports whether offset off falls in the span.
func (s Span) Contains(off time.Duration) bool {
	return off >= s.Start && (s.End == 0 || off < s.End)
}

// Timeline is a run's phases, in order of Start.
type Timeline []Span

// At returns the name of the phase running at offset off, or "" before
// the first and in a gap between two.
func (t Timeline) At(off time.Duration) string {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i].Contains(off) {
			return t[i].Name
		}
	}
	return ""
}

// Names lists the phases' names, in order.
func (t Timeline) Names() []string {
	out := make([]string, len(t))
	for i, s := range t {
		out[i] = s.Name
	}
	return out
}
