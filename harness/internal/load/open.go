package load

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/segment"
)

// arrival is one scheduled iteration, handed to a VU by value.
type arrival struct {
	index    int64
	intended time.Time
}

// openVU is an open-model VU: a goroutine fed through its own one-slot
// channel. A VU is idle exactly while it sits on the free stack, so the
// slot is always empty when the scheduler sends, and the send never blocks.
type openVU struct {
	id int
	in chan arrival
}

// openRun is one run of an open-model scenario: the scheduler (the caller
// of run) walks the arrival schedule, sleeping until each intended time,
// and hands every arrival to an idle VU, allocates a VU if none is idle and
// MaxVUs allows it (inline: starting a goroutine costs about a
// microsecond), or drops the arrival. Nothing is ever queued.
type openRun struct {
	s         *scenario
	fn        Func
	h         *Hooks
	ctx       context.Context // the scenario's, handed to fn; cancelled at the hard stop
	cancel    context.CancelFunc
	start     time.Time
	tolerance time.Duration

	done   <-chan struct{} // ctx.Done()
	wg     sync.WaitGroup
	live   atomic.Int64  // VU goroutines not yet left
	exited chan struct{} // closed by the last VU to leave

	mu   sync.Mutex
	free []*openVU // idle VUs, a stack: the most recently used VU goes next

	vus []*openVU // all VUs; owned by the scheduler
}

func (r *openRun) run(parent context.Context) (cut bool) {
	sp := &r.s.spec
	r.done = r.ctx.Done()
	r.exited = make(chan struct{})
	r.vus = make([]*openVU, 0, sp.maxVUs)
	r.free = make([]*openVU, 0, sp.maxVUs)
	defer r.wg.Wait()

	for range sp.preAllocatedVUs {
		r.free = append(r.free, r.spawn())
	}
	r.h.vus(r.s.name, 0, len(r.vus))

	pdone := parent.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sched := sp.arrivals    // a copy: the position is ours
	var owned *segment.Iter // with a segment, the arrival indexes it owns
	if r.s.seg != nil {
		owned = r.s.seg.Iter(0)
	}
	now := time.Now()
	for index := int64(0); ; index++ {
		if owned != nil {
			index = owned.Next()
			sched.skipTo(index)
		}
		off, ok := sched.next()
		if !ok {
			break
		}
		at := r.start.Add(off)
		if at.After(now) {
			now = time.Now()
			if d := at.Sub(now); d > 0 {
				timer.Reset(d)
				select {
				case now = <-timer.C:
				case <-pdone:
					return r.shutdown(parent, true)
				}
			}
		} else {
			// Catching up: check for cancellation without blocking.
			select {
			case <-pdone:
				return r.shutdown(parent, true)
			default:
			}
		}
		r.dispatch(index, at)
	}
	if d := time.Until(r.start.Add(sp.duration)); d > 0 {
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-pdone:
			return r.shutdown(parent, true)
		}
	}
	return r.shutdown(parent, false)
}

// dispatch hands the arrival to an idle VU, to a newly allocated one, or
// drops it.
//
// Before allocating or dropping, the scheduler yields the processor once.
// A burst of due arrivals (timers wake with about a millisecond of slack, so
// at 30k/s arrivals come in dozens) readies VUs faster than they get a CPU:
// VUs whose iteration is over but that have not yet run to put themselves
// back would otherwise look busy, and the arrival would be dropped or a VU
// allocated for nothing. The yield costs nothing when there is nothing else
// to run, holds the arrival for microseconds at most, and any delay it adds
// shows in the iteration's Start.
func (r *openRun) dispatch(index int64, at time.Time) {
	c := &r.s.c
	for try := 0; ; try++ {
		r.mu.Lock()
		if n := len(r.free); n > 0 {
			v := r.free[n-1]
			r.free = r.free[:n-1]
			r.mu.Unlock()
			c.started.Add(1)
			v.in <- arrival{index: index, intended: at}
			return
		}
		r.mu.Unlock()
		if try > 0 {
			break
		}
		runtime.Gosched()
	}
	if len(r.vus) < r.s.spec.maxVUs {
		v := r.spawn()
		c.started.Add(1)
		v.in <- arrival{index: index, intended: at}
		st := r.s.stats()
		r.h.vus(r.s.name, st.ActiveVUs, st.AllocatedVUs)
		return
	}
	c.dropped.Add(1)
	r.h.dropped(r.s.name, at)
}

func (r *openRun) spawn() *openVU {
	v := &openVU{id: r.s.vuID(len(r.vus)), in: make(chan arrival, 1)}
	r.vus = append(r.vus, v)
	r.s.c.allocated.Store(int64(len(r.vus)))
	r.live.Add(1)
	r.wg.Go(func() { r.loop(v) })
	return v
}

// loop is a VU: it runs the arrivals it is handed until its channel is
// closed.
func (r *openRun) loop(v *openVU) {
	defer func() {
		if r.live.Add(-1) == 0 {
			close(r.exited)
		}
	}()
	c := &r.s.c
	it := Iteration{Scenario: r.s.name, VU: v.id}
	for a := range v.in {
		now := time.Now()
		if lag := now.Sub(a.intended); lag > r.tolerance {
			c.late.Add(1)
			r.h.late(r.s.name, lag)
		}
		it.Index, it.Intended, it.Start = a.index, a.intended, now
		r.fn(r.ctx, it)
		select {
		case <-r.done:
			c.interrupted.Add(1)
		default:
			c.completed.Add(1)
		}
		r.mu.Lock()
		r.free = append(r.free, v)
		r.mu.Unlock()
	}
}

// shutdown stops the VUs after the last arrival: idle ones leave at once,
// busy ones after their iteration, which is cancelled at
// end+gracefulStop. It reports whether parent cut the scenario short.
func (r *openRun) shutdown(parent context.Context, cancelled bool) (cut bool) {
	r.s.c.status.Store(int32(StatusStopping))
	for _, v := range r.vus {
		close(v.in)
	}
	if len(r.vus) > 0 {
		if cancelled {
			r.cancel()
			<-r.exited
		} else {
			hard := r.start.Add(r.s.spec.duration + r.s.spec.gracefulStop)
			timer := time.NewTimer(time.Until(hard))
			select {
			case <-r.exited:
			case <-timer.C:
				r.cancel()
				<-r.exited
			case <-parent.Done():
				cancelled = true
				<-r.exited
			}
			timer.Stop()
		}
	}
	r.h.vus(r.s.name, 0, len(r.vus))
	return cancelled
}
