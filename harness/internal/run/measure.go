package run

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/scenarios"
)

// coldStart starts the instances a scenario holds back (target.start) at
// the beginning of that phase, once its fault is applied or its action
// done (the timeline's Changed hook fires it), or at the phase's start if
// it has neither. It records each start's time to ready.
type coldStart struct {
	phase string
	at    time.Duration // the phase's start, from the run's start
	end   time.Duration // the phase's end: start anyway if the fault never came on
	hook  bool          // the phase has a fault or an action: wait for the hook
	fired chan struct{}
	once  sync.Once

	// Set by run.
	startedAt time.Time
	ready     []time.Duration
	err       error
	late      bool // started without the hook having fired
}

func newColdStart(spec *scenarios.Spec) *coldStart {
	c := &coldStart{phase: spec.Target.Start, fired: make(chan struct{})}
	for i, p := range spec.Timeline {
		if p.Name == c.phase {
			c.at, c.end = p.At, spec.PhaseEnd(i)
			c.hook = p.Fault != nil || p.Action != 0
		}
	}
	return c
}

// fire says the phase's fault is on.
func (c *coldStart) fire() { c.once.Do(func() { close(c.fired) }) }

// run waits for the phase, starts the instances and waits until they are
// ready or ctx ends (the run is over).
func (c *coldStart) run(ctx context.Context, start time.Time, startTargets func(context.Context) ([]time.Duration, error)) {
	wait := c.at
	if c.hook {
		wait = c.end
	}
	timer := time.NewTimer(time.Until(start.Add(wait)))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		c.err = fmt.Errorf("the run ended before phase %s began", c.phase)
		return
	case <-c.fired:
	case <-timer.C:
		c.late = c.hook
	}
	c.startedAt = time.Now()
	c.ready, c.err = startTargets(ctx)
}

// record adds target_ready_time{phase:...} (the slowest instance) and
// returns notes. An instance that never became ready counts with the time
// it was waited for: a lower bound, said so. Call it after run returned.
func (c *coldStart) record(rec *record.Recorder, start time.Time) []string {
	if c.startedAt.IsZero() {
		return []string{fmt.Sprintf("cold start: the instances never started: %v", c.err)}
	}
	var notes []string
	if c.late {
		notes = append(notes, fmt.Sprintf("cold start: phase %s's fault or action never came on; the instances started at the phase's end", c.phase))
	}
	var slowest time.Duration
	parts := make([]string, len(c.ready))
	for i, d := range c.ready {
		slowest = max(slowest, d)
		parts[i] = fmt.Sprintf("flagserver[%d] %.1f ms", i, float64(d)/float64(time.Millisecond))
	}
	rec.SetDuration(metric.TargetReadyTime, record.Tags{Phase: c.phase}, slowest)
	notes = append(notes, fmt.Sprintf("cold start: flagservers started %.3f s into the run (phase %s), process start to ready: %s",
		c.startedAt.Sub(start).Seconds(), c.phase, strings.Join(parts, ", ")))
	if c.err != nil {
		msg, _, _ := strings.Cut(c.err.Error(), "\n") // not the log tail
		notes = append(notes, fmt.Sprintf("cold start: not ready (target_ready_time counts the time waited, a lower bound): %s", msg))
	}
	return notes
}

// Recovery is how long after one phase's fault or action the run was back
// in its steady state.
type Recovery struct {
	Phase string
	// Time from the fault's removal (an action: from when it was done) to
	// the start of the first second of three in a row within the band.
	// When the run ended before, the time until the end (Recovered false).
	Time      time.Duration
	Recovered bool
}

// steadyBand is the steady state, from the first phase's seconds: p95 at
// most twice their median p95 plus 5 ms, and no more failures per second
// than the worst of them. ok is false when the first phase had no
// requests.
type steadyBand struct {
	p95    float64 // µs
	failed int64
}

func bandOf(buckets []record.Bucket, firstEnd time.Duration) (steadyBand, bool) {
	var p95s []float64
	var failed int64
	for _, b := range buckets[:min(int(firstEnd/time.Second), len(buckets))] {
		if b.Requests > 0 {
			p95s = append(p95s, b.Quantile(95))
			failed = max(failed, b.Failed)
		}
	}
	if len(p95s) == 0 {
		return steadyBand{}, false
	}
	sort.Float64s(p95s)
	return steadyBand{p95: 2*p95s[len(p95s)/2] + 5000, failed: failed}, true
}

func (b steadyBand) holds(w record.Bucket) bool {
	return w.Requests > 0 && w.Quantile(95) <= b.p95 && w.Failed <= b.failed
}

// recoveries times the recovery after every phase with a fault or action:
// from its end (or, for an action, from when it was done), the first of
// three consecutive seconds within the steady band. why is non-empty when
// nothing could be timed (the first phase is not a steady state, or had no
// requests).
func recoveries(spec *scenarios.Spec, buckets []record.Bucket, start, end time.Time, events []timeline.Event) (out []Recovery, band steadyBand, why string) {
	if len(spec.Timeline) < 2 {
		return nil, band, ""
	}
	if first := spec.Timeline[0]; first.Fault != nil || first.Action != 0 {
		return nil, band, "the first phase is not a steady state"
	}
	band, ok := bandOf(buckets, spec.PhaseEnd(0))
	if !ok {
		return nil, band, "the first phase had no requests to take the steady state from"
	}
	for i, ev := range events {
		action := i < len(spec.Timeline) && spec.Timeline[i].Action != 0
		from := ev.Removed
		if from.IsZero() && action {
			from = ev.Applied
		}
		if from.IsZero() {
			continue
		}
		r := Recovery{Phase: ev.Phase, Time: end.Sub(from)}
		for s := max(0, int(from.Sub(start)/time.Second)); s+2 < len(buckets); s++ {
			if band.holds(buckets[s]) && band.holds(buckets[s+1]) && band.holds(buckets[s+2]) {
				r.Time, r.Recovered = max(0, start.Add(time.Duration(s)*time.Second).Sub(from)), true
				break
			}
		}
		out = append(out, r)
	}
	return out, band, ""
}

// recordRecoveries adds recovery_time{phase:...} and returns the notes.
func recordRecoveries(rec *record.Recorder, rs []Recovery, band steadyBand) []string {
	var notes []string
	for _, r := range rs {
		if r.Recovered {
			notes = append(notes, fmt.Sprintf("recovery after %s: %.1f s (steady band p95 ≤ %.1f ms)", r.Phase, r.Time.Seconds(), band.p95/1000))
		} else {
			notes = append(notes, fmt.Sprintf("recovery after %s: not back within the steady band (p95 ≤ %.1f ms) before the run ended (%.1f s)", r.Phase, band.p95/1000, r.Time.Seconds()))
		}
		rec.SetDuration(metric.RecoveryTime, record.Tags{Phase: r.Phase}, r.Time)
	}
	return notes
}
