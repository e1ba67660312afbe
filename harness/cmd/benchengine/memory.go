package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

const (
	// goalMemoryRatio: the long run's peak RSS at most this many times the
	// short run's (recording is bounded, not per request).
	goalMemoryRatio = 1.1
	// memorySample is how often the memory runs read /proc/<pid>/status.
	memorySample = time.Second
	// memoryVUs sizes the open model's VU pool, preallocated and fixed
	// (maxVUs = preAllocatedVUs): at 2000/s and ~0.3 ms a request one or
	// two are busy at once, and 20 absorb latencies up to 10 ms. Memory
	// grows with the VUs busy at once (each holds a connection: about
	// 75 KiB a VU measured here), so a pool allowed to grow would make
	// the comparison measure one stall of the shared machine, which
	// drives every VU busy, rather than the recording. A longer stall
	// drops arrivals instead, which the report shows.
	memoryVUs = 20
	// minAchieved is the share of the intended arrivals a memory run must
	// have completed for its rate to count as held.
	minAchieved = 0.99
)

// memoryResult is the memory part: a short and a long
// constant-arrival-rate run at the same rate against the hello server.
type memoryResult struct {
	rate        int
	short, long result
	// goalLength is true when the long run is the goal's 10 × the short.
	goalLength bool
	shortDur   time.Duration
	longDur    time.Duration
}

// ratio is the long run's peak RSS over the short run's.
func (m *memoryResult) ratio() float64 {
	if m.short.Proc.LastHWM == 0 {
		return 0
	}
	return float64(m.long.Proc.LastHWM) / float64(m.short.Proc.LastHWM)
}

func (m *memoryResult) pass() bool {
	return m.short.Valid() && m.long.Valid() && m.short.Proc.LastHWM > 0 && m.ratio() <= goalMemoryRatio
}

// achieved is the share of the intended arrivals a run completed.
func achieved(r result, rate int, d time.Duration) float64 {
	want := float64(rate) * d.Seconds()
	if want == 0 {
		return 0
	}
	return float64(r.Requests) / want
}

// runMemory runs flagstorm at a constant arrival rate against the hello
// server for the short duration, then the long one, sampling its memory.
func runMemory(ctx context.Context, e *env) (*memoryResult, error) {
	cfg := e.cfg
	m := &memoryResult{rate: cfg.MemoryRate, goalLength: cfg.MemoryLong, shortDur: cfg.MemoryShort, longDur: cfg.memoryLong()}
	if !m.goalLength {
		e.logf("memory: -memory-long not set: comparing %v with %v, not the goal's %v", m.shortDur, m.longDur, 10*m.shortDur)
	}
	for _, r := range []struct {
		name string
		d    time.Duration
		dst  *result
	}{{"short", m.shortDur, &m.short}, {"long", m.longDur, &m.long}} {
		e.logf("memory %-5s %d/s for %v ...", r.name, m.rate, r.d)
		res, err := measure(e.hello, func() (result, error) {
			return e.flagstorm.run(ctx, "memory-"+r.name, fmt.Sprintf("benchengine memory: %d/s for %v", m.rate, r.d),
				loadShape{Rate: m.rate, PreAllocatedVUs: memoryVUs, MaxVUs: memoryVUs, Duration: r.d},
				e.hello.base(), "/", memorySample)
		})
		if err != nil {
			return nil, fmt.Errorf("%s run: %w", r.name, err)
		}
		*r.dst = res
		e.logf("memory %-5s peak RSS %s (VmHWM; ru_maxrss %s), %d requests (%.1f %% of the arrivals), %d dropped",
			r.name, benchkit.MiB(res.Proc.LastHWM), benchkit.MiB(res.Proc.MaxRSS), res.Requests, 100*achieved(res, m.rate, r.d), res.Dropped)
		if err := pause(ctx); err != nil {
			return nil, err
		}
	}
	return m, nil
}
