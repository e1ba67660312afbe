package run

import (
	"fmt"
	"sort"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
)

// The load generator's tolerance: beyond it, a phase's failing latency
// thresholds are blamed on the machine, not the target (inconclusive).
//
// The engine's probe asks to be woken every 10 ms; on a quiet machine,
// and beside a saturated target on the same two cores, its p99 lag stays
// within a few milliseconds. The open model counts an iteration late when
// it starts more than 10 ms after its intended time; quiet runs count 0
// to a few per phase.
const (
	// LagTolerance is the most the probe's 99th percentile may lag in a
	// phase.
	LagTolerance = 25 * time.Millisecond
	// LateShare and LateMin: a phase is starved when more than LateShare
	// of its iterations, and at least LateMin, started late.
	LateShare = 0.01
	LateMin   = 20
)

// Starvation is why a phase's load generator fell behind its schedule,
// and how much its own lag can have added to a request's measured
// latency: LagHops wake-ups (start, write, read, the response's end) each
// as late as the probe's p99 in the phase, or, in the open model, the
// latest start of an iteration (measured from its intended time).
type Starvation struct {
	Why   string
	Bound time.Duration
}

// LagHops is how many of the generator's own wake-ups a request's
// measured latency can include.
const LagHops = 4

// starved lists the phases whose generator fell behind, with why.
func starved(gen map[string]engine.GeneratorStats) map[string]Starvation {
	out := map[string]Starvation{}
	for phase, g := range gen {
		var why string
		switch {
		case g.LagP99 > LagTolerance:
			why = fmt.Sprintf("its scheduler-lag probe's p99 was %s (tolerance %s): the harness's process did not get the CPU", g.LagP99.Round(100*time.Microsecond), LagTolerance)
		case g.Late >= LateMin && float64(g.Late) > LateShare*float64(max(g.Iterations, 1)):
			why = fmt.Sprintf("%d of %d iterations started late (tolerance %.0f%%, at least %d)", g.Late, g.Iterations, LateShare*100, LateMin)
		default:
			continue
		}
		out[phase] = Starvation{Why: why, Bound: max(LagHops*g.LagP99, g.LateMax)}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// generatorNotes say how the generator kept its schedule: a line per
// starved phase, else one line with the worst lag.
func generatorNotes(gen map[string]engine.GeneratorStats, bad map[string]Starvation) []string {
	phases := make([]string, 0, len(gen))
	for p := range gen {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	var notes []string
	for _, p := range phases {
		if s, ok := bad[p]; ok {
			notes = append(notes, fmt.Sprintf("load generator: fell behind in phase %s: %s; a latency threshold that fails there by less than %s (%d wake-ups at its p99 lag, or its latest start) is inconclusive", p, s.Why, s.Bound.Round(100*time.Microsecond), LagHops))
		}
	}
	if len(notes) > 0 || len(gen) == 0 {
		return notes
	}
	var worst time.Duration
	var late int64
	for _, g := range gen {
		worst = max(worst, g.LagP99)
		late += g.Late
	}
	return []string{fmt.Sprintf("load generator: on schedule (scheduler-lag p99 ≤ %s in every phase, %d late iteration(s))", worst.Round(100*time.Microsecond), late)}
}
