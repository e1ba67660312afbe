package engine

import (
	"context"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/internal/metric"
)

// probeInterval is how often the lag probe asks to be woken.
const probeInterval = 10 * time.Millisecond

// GeneratorStats is how well the load generator kept its own schedule in
// one phase. Lag is measured by a probe that asks to wake every 10 ms and
// records how late it woke: nothing the target does can delay it, so a
// large lag means the harness's process did not get the CPU (a compiler
// beside it, a saturated machine, a GC storm). Late counts the open
// model's iterations that started more than the plan's late tolerance
// after their intended time.
type GeneratorStats struct {
	Probes         int64
	LagP99, LagMax time.Duration
	Late           int64
	// LateMax is how late the latest of the late iterations started.
	LateMax time.Duration
	// Iterations are the requests whose intended start fell in the phase.
	Iterations int64
}

// lagProbe measures the generator's scheduling lag by phase.
type lagProbe struct {
	phaseAt func(time.Time) string
	mu      sync.Mutex
	lag     map[string]*hdrhistogram.Histogram // µs
	lateBy  map[string]int64
	lateMax map[string]time.Duration
}

func newLagProbe(phaseAt func(time.Time) string) *lagProbe {
	return &lagProbe{phaseAt: phaseAt, lag: map[string]*hdrhistogram.Histogram{}, lateBy: map[string]int64{}, lateMax: map[string]time.Duration{}}
}

// run samples until ctx ends or stop closes. It uses the real clock, not
// the engine's: it measures the process, not the scenario's time.
func (p *lagProbe) run(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTimer(probeInterval)
	defer t.Stop()
	for {
		asked := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case now := <-t.C:
			p.observe(p.phaseAt(now), time.Since(asked)-probeInterval)
		}
		t.Reset(probeInterval)
	}
}

func (p *lagProbe) observe(phase string, lag time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.lag[phase]
	if h == nil {
		h = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 2)
		p.lag[phase] = h
	}
	_ = h.RecordValue(max(1, lag.Microseconds()))
}

func (p *lagProbe) late(phase string, lag time.Duration) {
	p.mu.Lock()
	p.lateBy[phase]++
	p.lateMax[phase] = max(p.lateMax[phase], lag)
	p.mu.Unlock()
}

// stats is the probe's findings by phase, with each phase's iterations
// from the recorder.
func (p *lagProbe) stats(rec *record.Recorder) map[string]GeneratorStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]GeneratorStats{}
	for phase, h := range p.lag {
		g := out[phase]
		g.Probes = h.TotalCount()
		g.LagP99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		g.LagMax = time.Duration(h.Max()) * time.Microsecond
		out[phase] = g
	}
	for phase, n := range p.lateBy {
		g := out[phase]
		g.Late, g.LateMax = n, p.lateMax[phase]
		out[phase] = g
	}
	for phase, g := range out {
		if sum, ok := rec.Summarize(record.Selector{Metric: metric.HTTPReqs.Name(), Tags: map[string]string{"phase": phase}}); ok {
			g.Iterations = int64(sum.Sum)
		}
		out[phase] = g
	}
	return out
}
