package load

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// sleep waits d or until ctx is cancelled, as a well-behaved work function
// does.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// start runs the plan in the background and returns the runner and a
// channel that yields Run's error.
func start(t *testing.T, ctx context.Context, plan Plan, fn Func, hooks Hooks) (*Runner, <-chan error) {
	t.Helper()
	r, err := New(plan)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, fn, hooks) }()
	return r, done
}

// runPlan runs the plan to the end and returns its stats and how long it
// took on the bubble's clock.
func runPlan(t *testing.T, plan Plan, fn Func, hooks Hooks) ([]Stats, time.Duration) {
	t.Helper()
	t0 := time.Now()
	stats, err := Run(t.Context(), plan, fn, hooks)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return stats, time.Since(t0)
}

// at sleeps until offset d from t0 and waits for the bubble to settle.
func at(t0 time.Time, d time.Duration) {
	time.Sleep(time.Until(t0.Add(d)))
	synctest.Wait()
}

// counts keeps the numeric fields of Stats for comparisons.
var counts = cmpopts.IgnoreFields(Stats{}, "Scenario", "Executor", "StartTime", "Duration")

// recorder collects iterations.
type recorder struct {
	mu  sync.Mutex
	its []Iteration
}

func (r *recorder) add(it Iteration) {
	r.mu.Lock()
	r.its = append(r.its, it)
	r.mu.Unlock()
}

func (r *recorder) sorted() []Iteration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.its)
	slices.SortFunc(out, func(a, b Iteration) int { return int(a.Index - b.Index) })
	return out
}

func TestConstantVUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		fn := func(ctx context.Context, it Iteration) {
			rec.add(it)
			sleep(ctx, 100*time.Millisecond)
		}
		plan := Plan{Scenarios: []Scenario{{Name: "browse", Executor: ConstantVUs{VUs: 10, Duration: 10 * time.Second}}}}
		t0 := time.Now()
		r, done := start(t, t.Context(), plan, fn, Hooks{})

		at(t0, 5050*time.Millisecond)
		got := r.Progress(nil)[0]
		want := Stats{Status: StatusRunning, ActiveVUs: 10, AllocatedVUs: 10, Started: 510, Completed: 500}
		if diff := cmp.Diff(want, got, counts); diff != "" {
			t.Errorf("progress at 5.05s (-want +got):\n%s", diff)
		}

		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if el := time.Since(t0); el != 10*time.Second {
			t.Errorf("run took %v, want 10s", el)
		}
		got = r.Progress(nil)[0]
		want = Stats{Status: StatusDone, AllocatedVUs: 10, Started: 1000, Completed: 1000}
		if diff := cmp.Diff(want, got, counts); diff != "" {
			t.Errorf("final stats (-want +got):\n%s", diff)
		}
		perVU := map[int]int{}
		for i, it := range rec.sorted() {
			perVU[it.VU]++
			if it.Index != int64(i) || it.Intended != it.Start || it.Scenario != "browse" {
				t.Fatalf("iteration %d = %+v", i, it)
			}
		}
		for vu := 1; vu <= 10; vu++ {
			if perVU[vu] != 100 {
				t.Errorf("VU %d ran %d iterations, want 100", vu, perVU[vu])
			}
		}
	})
}

func TestRampingVUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			inFlight = map[int]bool{}
			overlaps int
		)
		fn := func(ctx context.Context, it Iteration) {
			mu.Lock()
			if inFlight[it.VU] {
				overlaps++
			}
			inFlight[it.VU] = true
			mu.Unlock()
			sleep(ctx, 300*time.Millisecond)
			mu.Lock()
			inFlight[it.VU] = false
			mu.Unlock()
		}
		var hookCalls []int
		hooks := Hooks{VUs: func(_ string, active, _ int) {
			mu.Lock()
			hookCalls = append(hookCalls, active)
			mu.Unlock()
		}}
		plan := Plan{Scenarios: []Scenario{{Name: "ramp", Executor: RampingVUs{
			Stages: []Stage{{Duration: 10 * time.Second, Target: 10}, {Duration: 10 * time.Second, Target: 0}},
		}}}}
		t0 := time.Now()
		r, done := start(t, t.Context(), plan, fn, hooks)

		for ms := 250; ms < 20000; ms += 500 {
			at(t0, time.Duration(ms)*time.Millisecond)
			s := float64(ms) / 1000
			ideal := s // 0 -> 10 over 10s
			if s > 10 {
				ideal = 20 - s
			}
			got := r.Progress(nil)[0].ActiveVUs
			if math.Abs(float64(got)-ideal) > 1 {
				t.Errorf("at %.2fs: %d active VUs, want %.2f ± 1", s, got, ideal)
			}
			// Steps of one VU when the interpolation crosses an integer.
			if want := int(ideal); got != want && s <= 10 {
				t.Errorf("at %.2fs: %d active VUs, want floor(%.2f)", s, got, ideal)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		st := r.Progress(nil)[0]
		if st.Interrupted != 0 || st.AllocatedVUs != 10 || st.Completed != st.Started {
			t.Errorf("final stats %+v: want 10 VUs allocated and nothing interrupted", st)
		}
		if overlaps != 0 {
			t.Errorf("%d iterations overlapped another of the same VU", overlaps)
		}
		wantHooks := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
		if diff := cmp.Diff(wantHooks, hookCalls); diff != "" {
			t.Errorf("VUs hook active counts (-want +got):\n%s", diff)
		}
	})
}

func TestRampDownReusesStoppingVUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			inFlight = map[int]bool{}
			overlaps int
			maxVU    int
		)
		fn := func(ctx context.Context, it Iteration) {
			mu.Lock()
			if inFlight[it.VU] {
				overlaps++
			}
			inFlight[it.VU] = true
			maxVU = max(maxVU, it.VU)
			mu.Unlock()
			sleep(ctx, 1400*time.Millisecond)
			mu.Lock()
			inFlight[it.VU] = false
			mu.Unlock()
		}
		plan := Plan{Scenarios: []Scenario{{Name: "flap", Executor: RampingVUs{
			StartVUs: 4,
			Stages: []Stage{
				{Duration: 2 * time.Second, Target: 4},
				{Duration: 0, Target: 1}, // VUs 2-4 stop mid-iteration (1.4s-2.8s)
				{Duration: 500 * time.Millisecond, Target: 1},
				{Duration: 0, Target: 4}, // and come back before it ends
				{Duration: 2 * time.Second, Target: 4},
			},
			GracefulRampDown: 10 * time.Second,
		}}}}
		t0 := time.Now()
		r, done := start(t, t.Context(), plan, fn, Hooks{})
		at(t0, 2200*time.Millisecond)
		if got := r.Progress(nil)[0].ActiveVUs; got != 1 {
			t.Errorf("at 2.2s: %d active VUs, want 1", got)
		}
		at(t0, 2600*time.Millisecond)
		if got := r.Progress(nil)[0].ActiveVUs; got != 4 {
			t.Errorf("at 2.6s: %d active VUs, want 4", got)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Each VU: 0, 1.4, 2.8, 4.2 (ends 5.6, inside gracefulStop).
		want := Stats{Status: StatusDone, AllocatedVUs: 4, Started: 16, Completed: 16}
		if diff := cmp.Diff(want, r.Progress(nil)[0], counts); diff != "" {
			t.Errorf("final stats (-want +got):\n%s", diff)
		}
		if el := time.Since(t0); el != 5600*time.Millisecond {
			t.Errorf("run took %v, want 5.6s", el)
		}
		if overlaps != 0 || maxVU != 4 {
			t.Errorf("overlaps = %d, highest VU id = %d; want 0 and 4", overlaps, maxVU)
		}
	})
}

func TestGracefulRampDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var interruptedAt []time.Duration
		var mu sync.Mutex
		t0 := time.Now()
		fn := func(ctx context.Context, it Iteration) {
			d := 3 * time.Second
			if it.VU == 2 {
				d = 4 * time.Second
			}
			sleep(ctx, d)
			if ctx.Err() != nil {
				mu.Lock()
				interruptedAt = append(interruptedAt, time.Since(t0))
				mu.Unlock()
			}
		}
		plan := Plan{Scenarios: []Scenario{{Name: "down", Executor: RampingVUs{
			StartVUs:         2,
			Stages:           []Stage{{Duration: 5 * time.Second, Target: 2}, {Duration: 0, Target: 1}, {Duration: 5 * time.Second, Target: 1}},
			GracefulRampDown: 2 * time.Second,
		}}}}
		stats, el := runPlan(t, plan, fn, Hooks{})
		// VU 1: 0, 3, 6, 9 (ends 12 within gracefulStop). VU 2: 0, 4 —
		// ramped down at 5, cancelled at 5+2.
		want := Stats{Status: StatusDone, AllocatedVUs: 2, Started: 6, Completed: 5, Interrupted: 1}
		if diff := cmp.Diff(want, stats[0], counts); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]time.Duration{7 * time.Second}, interruptedAt); diff != "" {
			t.Errorf("interrupted at (-want +got):\n%s", diff)
		}
		if el != 12*time.Second {
			t.Errorf("run took %v, want 12s", el)
		}
	})
}

func TestGracefulStop(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			t0 := time.Now()
			var cancelledAt atomic.Int64
			fn := func(ctx context.Context, it Iteration) {
				d := 4 * time.Second
				if it.VU == 2 {
					d = 9 * time.Second
				}
				sleep(ctx, d)
				if ctx.Err() != nil {
					cancelledAt.Store(int64(time.Since(t0)))
				}
			}
			plan := Plan{Scenarios: []Scenario{{Name: "stop", Executor: ConstantVUs{VUs: 2, Duration: 10 * time.Second, GracefulStop: 3 * time.Second}}}}
			stats, el := runPlan(t, plan, fn, Hooks{})
			// VU 1: 0, 4, 8 (ends 12 < 13). VU 2: 0, 9 (cut at 13).
			want := Stats{Status: StatusDone, AllocatedVUs: 2, Started: 5, Completed: 4, Interrupted: 1}
			if diff := cmp.Diff(want, stats[0], counts); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if el != 13*time.Second || time.Duration(cancelledAt.Load()) != 13*time.Second {
				t.Errorf("run took %v, iteration cancelled at %v; want 13s and 13s", el, time.Duration(cancelledAt.Load()))
			}
		})
	})
	t.Run("open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fn := func(ctx context.Context, it Iteration) { sleep(ctx, time.Duration(it.Index+1)*2*time.Second) }
			// Arrivals at 0..4s taking 2, 4, 6, 8, 10s: they end at 2, 5,
			// 8, 11, 14; the duration ends at 5 and gracefulStop at 10.
			plan := Plan{Scenarios: []Scenario{{Name: "stop", Executor: ConstantArrivalRate{
				Rate: 1, Duration: 5 * time.Second, PreAllocatedVUs: 5, GracefulStop: 5 * time.Second,
			}}}}
			stats, el := runPlan(t, plan, fn, Hooks{})
			want := Stats{Status: StatusDone, AllocatedVUs: 5, Started: 5, Completed: 3, Interrupted: 2}
			if diff := cmp.Diff(want, stats[0], counts); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if el != 10*time.Second {
				t.Errorf("run took %v, want 10s", el)
			}
		})
	})
	t.Run("none", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fn := func(ctx context.Context, it Iteration) { sleep(ctx, time.Minute) }
			plan := Plan{Scenarios: []Scenario{{Name: "stop", Executor: ConstantArrivalRate{
				Rate: 1, Duration: 3 * time.Second, PreAllocatedVUs: 3, GracefulStop: -1,
			}}}}
			stats, el := runPlan(t, plan, fn, Hooks{})
			want := Stats{Status: StatusDone, AllocatedVUs: 3, Started: 3, Interrupted: 3}
			if diff := cmp.Diff(want, stats[0], counts); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if el != 3*time.Second {
				t.Errorf("run took %v, want 3s", el)
			}
		})
	})
}

func TestConstantArrivalRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		fn := func(ctx context.Context, it Iteration) {
			rec.add(it)
			sleep(ctx, 5*time.Millisecond)
		}
		plan := Plan{Scenarios: []Scenario{{Name: "api", Executor: ConstantArrivalRate{
			Rate: 100, Duration: 10 * time.Second, PreAllocatedVUs: 2, MaxVUs: 10,
		}}}}
		t0 := time.Now()
		stats, el := runPlan(t, plan, fn, Hooks{})
		want := Stats{Status: StatusDone, AllocatedVUs: 2, Started: 1000, Completed: 1000}
		if diff := cmp.Diff(want, stats[0], counts); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		if el != 10*time.Second {
			t.Errorf("run took %v, want 10s", el)
		}
		its := rec.sorted()
		if len(its) != 1000 {
			t.Fatalf("%d iterations, want 1000", len(its))
		}
		for k, it := range its {
			want := t0.Add(time.Duration(k) * 10 * time.Millisecond)
			if it.Index != int64(k) || !it.Intended.Equal(want) || !it.Start.Equal(want) {
				t.Fatalf("iteration %d: index %d intended +%v start +%v; want intended = start = +%v",
					k, it.Index, it.Intended.Sub(t0), it.Start.Sub(t0), want.Sub(t0))
			}
		}
	})
}

func TestDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			rec     recorder
			mu      sync.Mutex
			dropped []time.Duration
		)
		t0 := time.Now()
		hooks := Hooks{Dropped: func(s string, intended time.Time) {
			mu.Lock()
			dropped = append(dropped, intended.Sub(t0))
			mu.Unlock()
		}}
		// 5.005 s, not 5 s: an iteration ending exactly when an arrival is
		// due is a race in any implementation; the half period keeps the
		// expectation exact.
		fn := func(ctx context.Context, it Iteration) {
			rec.add(it)
			sleep(ctx, 5005*time.Millisecond)
		}
		plan := Plan{Scenarios: []Scenario{{Name: "slow", Executor: ConstantArrivalRate{
			Rate: 100, Duration: 10 * time.Second, PreAllocatedVUs: 10, MaxVUs: 50,
		}}}}
		stats, _ := runPlan(t, plan, fn, hooks)
		// Arrivals every 10 ms. 0-49 (0-490 ms) take the 10 preallocated and
		// 40 new VUs; 50-500 (500 ms-5 s) find all 50 busy: dropped. VU j
		// frees at 10j+5005 ms, just before arrival 501+j: 501-550 run;
		// 551-999 find all busy again: dropped. 100 run, 900 dropped.
		want := Stats{Status: StatusDone, AllocatedVUs: 50, Started: 100, Completed: 100, Dropped: 900}
		if diff := cmp.Diff(want, stats[0], counts); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		var wantDropped []time.Duration
		for k := 50; k <= 500; k++ {
			wantDropped = append(wantDropped, time.Duration(k)*10*time.Millisecond)
		}
		for k := 551; k <= 999; k++ {
			wantDropped = append(wantDropped, time.Duration(k)*10*time.Millisecond)
		}
		if diff := cmp.Diff(wantDropped, dropped); diff != "" {
			t.Errorf("dropped arrivals (-want +got):\n%s", diff)
		}
		// Nothing queued: every iteration that ran started at its intended
		// time.
		for _, it := range rec.sorted() {
			if !it.Start.Equal(it.Intended) {
				t.Fatalf("iteration %d started %v late", it.Index, it.Start.Sub(it.Intended))
			}
			if k := it.Index; !(k < 50 || (k >= 501 && k <= 550)) {
				t.Fatalf("arrival %d ran, want it dropped", k)
			}
		}
	})
}

func TestLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu   sync.Mutex
			lags []time.Duration
		)
		hooks := Hooks{
			Late: func(_ string, lag time.Duration) {
				mu.Lock()
				lags = append(lags, lag)
				mu.Unlock()
			},
			// A slow VU allocation (a hook doing I/O, say) stalls the
			// scheduler for 35 ms: the arrivals due meanwhile start late.
			VUs: func(_ string, active, allocated int) {
				if active > 0 {
					time.Sleep(35 * time.Millisecond)
				}
			},
		}
		fn := func(ctx context.Context, it Iteration) { sleep(ctx, 25*time.Millisecond) }
		plan := Plan{Scenarios: []Scenario{{Name: "late", Executor: ConstantArrivalRate{
			Rate: 100, Duration: 100 * time.Millisecond, PreAllocatedVUs: 1, MaxVUs: 3,
		}}}}
		stats, _ := runPlan(t, plan, fn, hooks)
		// Arrivals every 10 ms, iterations of 25 ms.
		//   0 ms: VU1. 10: allocates VU2 (on time), then the hook stalls until 45.
		//  45: arrival 20 on VU1 (25 ms late), 30 on VU2 (15 late), 40 allocates
		//      VU3 (5 late: within tolerance) and stalls until 80.
		//  80: arrivals 50, 60 (30 and 20 late), 70 (10 late: not more than the
		//      tolerance), 80 finds all three VUs busy and MaxVUs reached: dropped.
		//  90: dropped.
		want := Stats{Status: StatusDone, AllocatedVUs: 3, Started: 8, Completed: 8, Dropped: 2, Late: 4}
		if diff := cmp.Diff(want, stats[0], counts); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		slices.Sort(lags)
		ms := time.Millisecond
		if diff := cmp.Diff([]time.Duration{15 * ms, 20 * ms, 25 * ms, 30 * ms}, lags); diff != "" {
			t.Errorf("late lags (-want +got):\n%s", diff)
		}
	})
}

func TestRampingArrivalRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		fn := func(ctx context.Context, it Iteration) { rec.add(it) }
		plan := Plan{Scenarios: []Scenario{{Name: "ramp", Executor: RampingArrivalRate{
			Stages: []Stage{{Duration: 10 * time.Second, Target: 100}}, PreAllocatedVUs: 5, MaxVUs: 20,
		}}}}
		t0 := time.Now()
		stats, _ := runPlan(t, plan, fn, Hooks{})
		want := Stats{Status: StatusDone, AllocatedVUs: 5, Started: 500, Completed: 500}
		if diff := cmp.Diff(want, stats[0], counts); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		perSecond := make([]int, 10)
		for _, it := range rec.sorted() {
			// rate(t) = 10t/s, N(t) = 5t²: arrival k (1-based) at √(k/5) s.
			k := float64(it.Index + 1)
			wantAt := t0.Add(time.Duration(math.Round(math.Sqrt(k/5) * 1e9)))
			if d := it.Intended.Sub(wantAt); d < -1 || d > 1 || !it.Start.Equal(it.Intended) {
				t.Fatalf("arrival %d intended +%v start +%v, want +%v", int(k), it.Intended.Sub(t0), it.Start.Sub(t0), wantAt.Sub(t0))
			}
			perSecond[min(int(it.Intended.Sub(t0)/time.Second), 9)]++
		}
		// Second s holds the k in [5s², 5(s+1)²): 10s+5 arrivals, except
		// the first (k starts at 1) and the last (k = 500 lands at exactly
		// 10 s and is counted in second 9).
		for s, n := range perSecond {
			want := 10*s + 5
			switch s {
			case 0:
				want = 4
			case 9:
				want = 96
			}
			if n != want {
				t.Errorf("second %d: %d arrivals, want %d", s, n, want)
			}
		}
	})
}

func TestStartTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		fn := func(ctx context.Context, it Iteration) {
			rec.add(it)
			d := time.Second
			if it.Scenario == "spike" {
				d = 100 * time.Millisecond
			}
			sleep(ctx, d)
		}
		plan := Plan{Scenarios: []Scenario{
			{Name: "base", Executor: ConstantVUs{VUs: 1, Duration: 10 * time.Second}},
			{Name: "spike", StartTime: 5 * time.Second, Executor: ConstantArrivalRate{Rate: 2, Duration: 5 * time.Second, PreAllocatedVUs: 2}},
		}}
		t0 := time.Now()
		r, done := start(t, t.Context(), plan, fn, Hooks{})
		at(t0, 2500*time.Millisecond)
		p := r.Progress(nil)
		if p[0].Status != StatusRunning || p[1].Status != StatusPending || p[1].Started != 0 {
			t.Errorf("at 2.5s: %v/%v, spike started %d; want running/pending, 0", p[0].Status, p[1].Status, p[1].Started)
		}
		at(t0, 5200*time.Millisecond)
		if p = r.Progress(p); p[1].Status != StatusRunning || p[1].Started != 1 {
			t.Errorf("at 5.2s: spike %v with %d started, want running with 1", p[1].Status, p[1].Started)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if el := time.Since(t0); el != 10*time.Second {
			t.Errorf("run took %v, want 10s", el)
		}
		var spike []time.Duration
		for _, it := range rec.sorted() {
			if it.Scenario == "spike" {
				spike = append(spike, it.Intended.Sub(t0))
			}
		}
		s := time.Second
		want := []time.Duration{5 * s, 5*s + s/2, 6 * s, 6*s + s/2, 7 * s, 7*s + s/2, 8 * s, 8*s + s/2, 9 * s, 9*s + s/2}
		if diff := cmp.Diff(want, spike); diff != "" {
			t.Errorf("spike arrivals (-want +got):\n%s", diff)
		}
		p = r.Progress(p)
		if p[0].Completed != 10 || p[1].Completed != 10 || p[0].StartTime != 0 || p[1].StartTime != 5*s {
			t.Errorf("final stats %+v", p)
		}
	})
}

func TestCancel(t *testing.T) {
	plan := Plan{Scenarios: []Scenario{
		{Name: "closed", Executor: RampingVUs{StartVUs: 5, Stages: []Stage{{Duration: time.Hour, Target: 50}}}},
		{Name: "open", Executor: ConstantArrivalRate{Rate: 50, Duration: time.Hour, PreAllocatedVUs: 10, MaxVUs: 100}},
		{Name: "later", StartTime: time.Minute, Executor: ConstantVUs{VUs: 3, Duration: time.Hour}},
	}}
	for _, when := range []time.Duration{0, 3 * time.Second} {
		t.Run(when.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn := func(ctx context.Context, it Iteration) {
					sleep(ctx, time.Second+time.Duration(it.Index%7)*100*time.Millisecond)
				}
				ctx, cancel := context.WithCancel(t.Context())
				r, done := start(t, ctx, plan, fn, Hooks{})
				time.Sleep(when)
				cancel()
				t0 := time.Now()
				err := <-done
				if el := time.Since(t0); el != 0 {
					t.Errorf("Run returned %v after cancel, want at once", el)
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run error = %v, want context.Canceled", err)
				}
				for _, st := range r.Progress(nil) {
					if st.Status != StatusDone || st.ActiveVUs != 0 || st.Started != st.Completed+st.Interrupted {
						t.Errorf("%s: %+v", st.Scenario, st)
					}
					if when > 0 && st.Scenario != "later" && st.Interrupted == 0 {
						t.Errorf("%s: no interrupted iteration", st.Scenario)
					}
				}
				// synctest.Test fails if any goroutine Run started is
				// still around.
			})
		})
	}
	t.Run("during gracefulStop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fn := func(ctx context.Context, it Iteration) { sleep(ctx, time.Hour) }
			ctx, cancel := context.WithCancel(t.Context())
			_, done := start(t, ctx, Plan{Scenarios: []Scenario{
				{Name: "c", Executor: ConstantVUs{VUs: 2, Duration: time.Second}},
				{Name: "o", Executor: ConstantArrivalRate{Rate: 1, Duration: time.Second, PreAllocatedVUs: 1}},
			}}, fn, Hooks{})
			time.Sleep(5 * time.Second)
			cancel()
			t0 := time.Now()
			if err := <-done; !errors.Is(err, context.Canceled) || time.Since(t0) != 0 {
				t.Errorf("Run = %v after %v", err, time.Since(t0))
			}
		})
	})
}

func TestRunErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := New(Plan{Scenarios: []Scenario{{Name: "a", Executor: ConstantVUs{VUs: 1, Duration: time.Second}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context(), nil, Hooks{}); err == nil {
			t.Error("Run accepted a nil Func")
		}
		fn := func(ctx context.Context, it Iteration) { sleep(ctx, time.Millisecond) }
		if err := r.Run(t.Context(), fn, Hooks{}); err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context(), fn, Hooks{}); !errors.Is(err, ErrRunnerUsed) {
			t.Errorf("second Run = %v, want ErrRunnerUsed", err)
		}
		if _, err := Run(t.Context(), Plan{}, fn, Hooks{}); err == nil {
			t.Error("Run accepted an empty plan")
		}
	})
}

// TestRealClock runs an open and a closed scenario on the real clock while
// another goroutine reads the progress (for -race), and checks the counts
// that do not depend on timing.
func TestRealClock(t *testing.T) {
	plan := Plan{Scenarios: []Scenario{
		{Name: "open", Executor: ConstantArrivalRate{Rate: 2000, Duration: 300 * time.Millisecond, PreAllocatedVUs: 20, MaxVUs: 50}},
		{Name: "closed", Executor: RampingVUs{StartVUs: 1, Stages: []Stage{{Duration: 300 * time.Millisecond, Target: 8}}}},
	}}
	var lateHook, dropHook atomic.Int64
	hooks := Hooks{
		Late:    func(string, time.Duration) { lateHook.Add(1) },
		Dropped: func(string, time.Time) { dropHook.Add(1) },
	}
	fn := func(ctx context.Context, it Iteration) { sleep(ctx, time.Millisecond) }
	r, err := New(plan)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]Stats, 0, 2)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, st := range r.Progress(buf) {
				if st.Started < st.Completed+st.Interrupted || st.ActiveVUs < 0 {
					t.Errorf("inconsistent snapshot %+v", st)
					return
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	t0 := time.Now()
	err = r.Run(t.Context(), fn, hooks)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	p := r.Progress(nil)
	open := p[0]
	if got := open.Started + open.Dropped; got != 600 {
		t.Errorf("open: %d started + dropped, want 600 arrivals", got)
	}
	if open.Late != lateHook.Load() || open.Dropped != dropHook.Load() {
		t.Errorf("open: late %d/%d, dropped %d/%d (stats/hooks)", open.Late, lateHook.Load(), open.Dropped, dropHook.Load())
	}
	if open.Completed != open.Started {
		t.Errorf("open: %+v", open)
	}
	if p[1].Completed == 0 || p[1].AllocatedVUs != 7 {
		t.Errorf("closed: %+v, want iterations on 7 VUs (8 is reached at the end)", p[1])
	}
	t.Logf("real clock: %v; open %+v", time.Since(t0), open)
}
