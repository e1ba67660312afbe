package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/segment"
)

// ErrRunnerUsed is returned by [Runner.Run] when the runner has already run.
var ErrRunnerUsed = errors.New("load: runner already used")

// Iteration describes one iteration handed to the work function.
type Iteration struct {
	Scenario string // scenario name
	// VU is the 1-based virtual-user id within the scenario; with a
	// Plan.Segment, the VU's id in the whole plan, so the runners' ids are
	// distinct.
	VU int
	// Index is the iteration number within the scenario. Open model: the
	// arrival number in the plan's schedule, from 0; gaps are dropped
	// arrivals and, with a Plan.Segment, the arrivals other runners own.
	// Closed model: this runner's count of started iterations, from 0.
	Index    int64
	Intended time.Time // open model: when the arrival was scheduled; closed model: equal to Start
	Start    time.Time // when the work function was called
}

// Func is the work of one iteration. It must return soon after ctx is
// cancelled: Run waits for it. It is called concurrently from many VUs.
type Func func(ctx context.Context, it Iteration)

// Hooks are optional callbacks; nil fields are skipped. They may be called
// concurrently and must be fast: Dropped and VUs run on a scenario's
// scheduling goroutine, so a slow hook delays later arrivals (which then
// count as late); Late runs on the VU, before the work function.
type Hooks struct {
	// Dropped is called for an open-model arrival that found every VU busy
	// and MaxVUs allocated. It is not executed and not queued.
	Dropped func(scenario string, intended time.Time)
	// Late is called for an open-model iteration that started more than
	// Plan.LateTolerance after its intended time. It is still executed.
	Late func(scenario string, lag time.Duration)
	// VUs is called when a scenario starts and ends, when a closed-model
	// scenario's VU count changes and when an open-model scenario allocates
	// a VU beyond the preallocated ones. active and allocated are as in
	// [Stats]. Busy VUs of the open model change with every iteration and
	// are read with [Runner.Progress] instead.
	VUs func(scenario string, active, allocated int)
}

func (h *Hooks) dropped(s string, at time.Time) {
	if h.Dropped != nil {
		h.Dropped(s, at)
	}
}

func (h *Hooks) late(s string, lag time.Duration) {
	if h.Late != nil {
		h.Late(s, lag)
	}
}

func (h *Hooks) vus(s string, active, allocated int) {
	if h.VUs != nil {
		h.VUs(s, active, allocated)
	}
}

// Status is where a scenario is in its life.
type Status int32

// The statuses, in order.
const (
	StatusPending  Status = iota // waiting for its startTime
	StatusRunning                // starting iterations
	StatusStopping               // duration over: waiting for running iterations (gracefulStop)
	StatusDone                   // every VU has exited
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusRunning:
		return "running"
	case StatusStopping:
		return "stopping"
	case StatusDone:
		return "done"
	}
	return fmt.Sprintf("Status(%d)", int32(s))
}

// Stats is a snapshot of one scenario. Counters are read one by one without
// a lock: a snapshot taken while running is consistent to within the
// iterations in flight, and Started >= Completed + Interrupted always holds.
type Stats struct {
	Scenario  string
	Executor  Kind
	Status    Status
	StartTime time.Duration // from the start of the run
	Duration  time.Duration // when new iterations stop, from StartTime (gracefulStop excluded)

	// ActiveVUs: closed model, the VUs looping (after the duration, those
	// still finishing an iteration); open model, the VUs running an
	// iteration.
	ActiveVUs int
	// AllocatedVUs: closed model, the highest VU id used (with a
	// Plan.Segment, the number of VUs this runner used); open model, the
	// VUs allocated so far (PreAllocatedVUs plus those allocated on demand).
	// With a Plan.Segment both count this runner's VUs only.
	AllocatedVUs int

	Started     int64 // iterations handed to a VU
	Completed   int64 // returned before their context was cancelled
	Interrupted int64 // context cancelled (gracefulStop, gracefulRampDown or Run's ctx) before they returned
	Dropped     int64 // open model: arrivals that found no VU
	Late        int64 // open model: iterations started more than LateTolerance after their intended time
}

// counters are a scenario's live numbers. The fields written on the hot
// path by different goroutines sit on separate cache lines.
type counters struct {
	started     atomic.Int64 // closed model: every VU; open model: the scheduler
	_           [56]byte
	completed   atomic.Int64 // VUs
	interrupted atomic.Int64
	_           [48]byte
	dropped     atomic.Int64 // scheduler
	late        atomic.Int64 // VUs, rare
	active      atomic.Int64 // closed model: manager
	allocated   atomic.Int64 // manager or scheduler
	status      atomic.Int32
}

type scenario struct {
	name      string
	kind      Kind
	startTime time.Duration
	spec      spec
	seg       *segment.Tuple // nil: the whole plan
	c         counters
}

// vuID returns the id of the scenario's i-th VU (from 0): i+1, or with a
// segment the (i+1)-th VU id the segment owns.
func (s *scenario) vuID(i int) int {
	if s.seg == nil {
		return i + 1
	}
	return int(s.seg.Nth(int64(i))) + 1
}

func (s *scenario) stats() Stats {
	c := &s.c
	st := Stats{
		Scenario:  s.name,
		Executor:  s.kind,
		Status:    Status(c.status.Load()),
		StartTime: s.startTime,
		Duration:  s.spec.duration,
	}
	// Finished iterations first: started is then never below them.
	st.Completed = c.completed.Load()
	st.Interrupted = c.interrupted.Load()
	st.Started = c.started.Load()
	st.Dropped = c.dropped.Load()
	st.Late = c.late.Load()
	st.AllocatedVUs = int(c.allocated.Load())
	if s.spec.closed {
		st.ActiveVUs = int(c.active.Load())
	} else {
		st.ActiveVUs = int(st.Started - st.Completed - st.Interrupted)
	}
	return st
}

// Runner runs a validated [Plan] once and reports its progress.
type Runner struct {
	tolerance time.Duration
	scenarios []*scenario
	used      atomic.Bool
}

// New validates the plan and returns a Runner for it.
func New(plan Plan) (*Runner, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{tolerance: orDefault(plan.LateTolerance, DefaultLateTolerance)}
	seg := plan.Segment
	if seg != nil && seg.IsFull() {
		seg = nil
	}
	for _, s := range plan.Scenarios {
		sc := &scenario{
			name:      s.Name,
			kind:      s.Executor.Kind(),
			startTime: s.StartTime,
			spec:      s.Executor.spec(),
			seg:       seg,
		}
		if seg != nil {
			sc.spec = sc.spec.segmented(seg)
		}
		r.scenarios = append(r.scenarios, sc)
	}
	return r, nil
}

// Run validates the plan, runs it and returns the final stats of every
// scenario, in plan order. See [Runner.Run].
func Run(ctx context.Context, plan Plan, fn Func, hooks Hooks) ([]Stats, error) {
	r, err := New(plan)
	if err != nil {
		return nil, err
	}
	err = r.Run(ctx, fn, hooks)
	return r.Progress(nil), err
}

// Run runs every scenario of the plan in parallel, each from its StartTime,
// and returns when all have ended: after its duration and the end of its
// running iterations (at most gracefulStop later), or promptly after ctx is
// cancelled, which cancels every running iteration. Run returns only after
// every goroutine it started has exited. The error is nil after a complete
// run and wraps ctx.Err() when ctx cut the run short.
func (r *Runner) Run(ctx context.Context, fn Func, hooks Hooks) error {
	if fn == nil {
		return errors.New("load: nil work function")
	}
	if !r.used.CompareAndSwap(false, true) {
		return ErrRunnerUsed
	}
	t0 := time.Now()
	var (
		wg  sync.WaitGroup
		cut atomic.Bool
	)
	for _, s := range r.scenarios {
		wg.Go(func() {
			if s.run(ctx, t0, fn, &hooks, r.tolerance) {
				cut.Store(true)
			}
		})
	}
	wg.Wait()
	if cut.Load() {
		return fmt.Errorf("load: run cut short: %w", ctx.Err())
	}
	return nil
}

// Progress appends a snapshot of every scenario, in plan order, to
// dst[:0] and returns it. It is safe to call at any time from any
// goroutine, and does not allocate when dst has room.
func (r *Runner) Progress(dst []Stats) []Stats {
	dst = dst[:0]
	for _, s := range r.scenarios {
		dst = append(dst, s.stats())
	}
	return dst
}

// run runs the scenario from t0+startTime and reports whether ctx cut it
// short.
func (s *scenario) run(ctx context.Context, t0 time.Time, fn Func, h *Hooks, tolerance time.Duration) (cut bool) {
	defer s.c.status.Store(int32(StatusDone))
	start := t0.Add(s.startTime)
	if d := time.Until(start); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true
		}
	}
	if ctx.Err() != nil {
		return true
	}
	s.c.status.Store(int32(StatusRunning))
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.spec.closed {
		return (&closedRun{s: s, fn: fn, h: h, ctx: sctx, cancel: cancel, start: start}).run(ctx)
	}
	return (&openRun{s: s, fn: fn, h: h, ctx: sctx, cancel: cancel, start: start, tolerance: tolerance}).run(ctx)
}
