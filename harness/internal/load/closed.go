package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// States of a closed-model VU. Only the manager moves a VU to active,
// stopping or killed; the VU itself moves stopping to idle when it leaves,
// so a ramp-up that reactivates a stopping VU and the VU's own exit are
// decided by one compare-and-swap.
const (
	vuIdle     int32 = iota // no goroutine, or one that is leaving
	vuActive                // looping
	vuStopping              // ramped down: finish the running iteration, then leave
	vuKilled                // ramped down and gracefulRampDown expired: context cancelled
)

type closedVU struct {
	state atomic.Int32

	// Owned by the manager goroutine.
	alive  bool // goroutine running (its exit not yet received)
	gen    uint64
	cancel context.CancelFunc
}

// kill is a pending gracefulRampDown deadline.
type kill struct {
	vu  int
	gen uint64
	at  time.Time
}

// closedRun is one run of a closed-model scenario: a manager goroutine (the
// caller of run) that follows the VU steps, and one goroutine per active VU
// looping the work function back to back. Each VU reads the clock before an
// iteration and starts none at or after end, so the last iteration is
// decided by the VU itself, not by a race with the manager's timer.
type closedRun struct {
	s      *scenario
	fn     Func
	h      *Hooks
	ctx    context.Context // the scenario's; cancelled at the hard stop
	cancel context.CancelFunc
	start  time.Time
	end    time.Time

	wg    sync.WaitGroup
	exits chan int // a VU's index, sent as its goroutine leaves

	// Owned by the manager goroutine.
	vus      []*closedVU
	kills    []kill // FIFO: deadlines never decrease
	live     int    // goroutines whose exit is not yet received
	active   int    // VUs in state active
	target   int    // the last target set
	stopping bool   // past the duration
}

// scaled returns this runner's share of n VUs: n, or with a segment the
// number of the VU indexes 0..n-1 the segment owns, so that the runners of
// one sequence have n VUs between them whenever the plan has n.
func (r *closedRun) scaled(n int) int {
	if r.s.seg == nil {
		return n
	}
	return int(r.s.seg.Scale(int64(n)))
}

func (r *closedRun) run(parent context.Context) (cut bool) {
	sp := &r.s.spec
	r.end = r.start.Add(sp.duration)
	r.exits = make(chan int)
	r.vus = make([]*closedVU, 0, r.scaled(sp.peakVUs))
	defer r.wg.Wait()

	r.setTarget(r.start, r.scaled(sp.startVUs))
	steps := vuSteps{stages: sp.stages, from: sp.startVUs}
	stepAt, stepTarget, stepOK := steps.next()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		at, ev := r.end, evEnd
		if stepOK && stepAt < sp.duration {
			if t := r.start.Add(stepAt); t.Before(at) {
				at, ev = t, evStep
			}
		}
		if len(r.kills) > 0 && r.kills[0].at.Before(at) {
			at, ev = r.kills[0].at, evKill
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case i := <-r.exits:
				r.exited(i)
				continue
			case <-parent.Done():
				return r.shutdown(parent, true)
			}
		}
		switch ev {
		case evStep:
			// With a segment, a step of the plan's count that does not
			// change this runner's share changes nothing.
			if t := r.scaled(stepTarget); r.s.seg == nil || t != r.target {
				r.setTarget(at, t)
			}
			stepAt, stepTarget, stepOK = steps.next()
		case evKill:
			r.kill()
		case evEnd:
			return r.shutdown(parent, false)
		}
	}
}

type event int

const (
	evEnd event = iota
	evStep
	evKill
	evHard
)

// shutdown waits for the VUs to leave after the duration (or after parent
// was cancelled), cancelling their contexts at end+gracefulStop, and
// reports whether parent cut the scenario short.
func (r *closedRun) shutdown(parent context.Context, cancelled bool) (cut bool) {
	r.stopping = true
	r.s.c.status.Store(int32(StatusStopping))
	r.s.c.active.Store(int64(r.live))
	pdone := parent.Done()
	hardDone := false
	if cancelled {
		r.cancel()
		hardDone, pdone, cut = true, nil, true
	}
	hard := r.end.Add(r.s.spec.gracefulStop)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for r.live > 0 {
		// After the hard stop every VU context is cancelled: no more
		// deadlines, only exits to collect.
		if !hardDone {
			at, ev := hard, evHard
			if len(r.kills) > 0 && r.kills[0].at.Before(at) {
				at, ev = r.kills[0].at, evKill
			}
			d := time.Until(at)
			if d <= 0 {
				hardDone = r.fire(ev)
				continue
			}
			timer.Reset(d)
			select {
			case <-timer.C:
				hardDone = r.fire(ev)
			case i := <-r.exits:
				r.exited(i)
			case <-pdone:
				r.cancel()
				hardDone, pdone, cut = true, nil, true
			}
			continue
		}
		r.exited(<-r.exits)
	}
	r.s.c.active.Store(0)
	r.h.vus(r.s.name, 0, len(r.vus))
	return cut
}

// fire applies a deadline and reports whether it was the hard stop.
func (r *closedRun) fire(ev event) bool {
	if ev == evHard {
		r.cancel()
		return true
	}
	r.kill()
	return false
}

// setTarget moves the number of active VUs to target at the scheduled time
// at.
func (r *closedRun) setTarget(at time.Time, target int) {
	r.target = target
	for r.active < target {
		r.activate()
		r.active++
	}
	for r.active > target {
		r.deactivate(at)
		r.active--
	}
	r.s.c.active.Store(int64(r.active))
	r.s.c.allocated.Store(int64(len(r.vus)))
	r.h.vus(r.s.name, r.active, len(r.vus))
}

// activate makes the lowest free VU id active: a ramped-down VU still
// finishing its iteration keeps going, an idle one gets a new goroutine.
func (r *closedRun) activate() {
	for i, v := range r.vus {
		if !v.alive {
			r.spawn(i)
			return
		}
		if v.state.CompareAndSwap(vuStopping, vuActive) {
			v.gen++ // its pending kill no longer applies
			return
		}
		// Active, killed, or leaving (its exit is on the way): skip.
	}
	r.vus = append(r.vus, &closedVU{})
	r.spawn(len(r.vus) - 1)
}

// deactivate ramps down the highest active VU: it finishes its iteration
// and leaves, or is cancelled at at+gracefulRampDown.
func (r *closedRun) deactivate(at time.Time) {
	for i := len(r.vus) - 1; i >= 0; i-- {
		v := r.vus[i]
		if v.alive && v.state.Load() == vuActive {
			v.state.Store(vuStopping) // only the manager leaves active
			v.gen++
			r.kills = append(r.kills, kill{vu: i, gen: v.gen, at: at.Add(r.s.spec.gracefulRampDown)})
			return
		}
	}
}

// kill applies the first pending gracefulRampDown deadline.
func (r *closedRun) kill() {
	k := r.kills[0]
	r.kills = r.kills[1:]
	v := r.vus[k.vu]
	if v.alive && v.gen == k.gen && v.state.CompareAndSwap(vuStopping, vuKilled) {
		v.cancel()
	}
}

func (r *closedRun) spawn(i int) {
	v := r.vus[i]
	ctx, cancel := context.WithCancel(r.ctx)
	v.cancel = cancel
	v.alive = true
	v.gen++
	v.state.Store(vuActive)
	r.live++
	r.wg.Go(func() { r.loop(ctx, i, &v.state) })
}

// exited records that VU i's goroutine left.
func (r *closedRun) exited(i int) {
	v := r.vus[i]
	v.alive = false
	v.cancel()
	if v.state.Swap(vuIdle) == vuActive && !r.stopping {
		// Left by itself at the end of the duration, just before the
		// manager got there.
		r.active--
	}
	r.live--
	if r.stopping {
		r.s.c.active.Store(int64(r.live))
	}
}

// loop is a VU: iterations back to back until it is ramped down, the
// duration is over or ctx is cancelled.
func (r *closedRun) loop(ctx context.Context, i int, state *atomic.Int32) {
	defer func() { r.exits <- i }()
	c := &r.s.c
	done := ctx.Done()
	it := Iteration{Scenario: r.s.name, VU: r.s.vuID(i)}
	for {
		switch state.Load() {
		case vuActive:
		case vuStopping:
			if state.CompareAndSwap(vuStopping, vuIdle) {
				return
			}
			continue // reactivated or killed meanwhile
		default:
			return
		}
		now := time.Now()
		if !now.Before(r.end) {
			return
		}
		select {
		case <-done:
			return
		default:
		}
		it.Index = c.started.Add(1) - 1
		it.Intended, it.Start = now, now
		r.fn(ctx, it)
		select {
		case <-done:
			c.interrupted.Add(1)
			return
		default:
			c.completed.Add(1)
		}
	}
}
