package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/segment"
)

// sequences are the splits the segment tests run: 2, 3 and 4 equal
// runners, and the unequal 50/30/20 split of k6's design discussion.
func sequences(t *testing.T) map[string]segment.Sequence {
	t.Helper()
	out := map[string]segment.Sequence{}
	for _, n := range []int{2, 3, 4} {
		_, seq := segment.Split(n)
		out[fmt.Sprintf("%d runners", n)] = seq
	}
	seq, err := segment.ParseSequence("0,1/2,4/5,1")
	if err != nil {
		t.Fatal(err)
	}
	out["50-30-20"] = seq
	return out
}

func tuplesOf(t *testing.T, seq segment.Sequence) []*segment.Tuple {
	t.Helper()
	var ts []*segment.Tuple
	for _, seg := range seq.Segments() {
		tu, err := segment.NewTuple(seg, seq)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tu)
	}
	return ts
}

// together is the plan run once whole (runner 0, no segment) and once per
// tuple (runners 1..n, each with its segment), all at the same time in the
// caller's bubble. Each runner's iterations go to its own recorder.
type together struct {
	runners []*Runner
	recs    []*recorder
}

func newTogether(t *testing.T, plan Plan, ts []*segment.Tuple) *together {
	t.Helper()
	g := &together{runners: make([]*Runner, len(ts)+1), recs: make([]*recorder, len(ts)+1)}
	for i := range g.runners {
		p := plan
		if i > 0 {
			p.Segment = ts[i-1]
		}
		r, err := New(p)
		if err != nil {
			t.Fatalf("New (runner %d): %v", i, err)
		}
		g.runners[i], g.recs[i] = r, &recorder{}
	}
	return g
}

// run runs every runner at once and returns when all have ended.
func (g *together) run(t *testing.T, work func(ctx context.Context)) {
	var wg sync.WaitGroup
	for i, r := range g.runners {
		rec := g.recs[i]
		wg.Go(func() {
			err := r.Run(t.Context(), func(ctx context.Context, it Iteration) {
				rec.add(it)
				work(ctx)
			}, Hooks{})
			if err != nil {
				t.Errorf("Run (runner %d): %v", i, err)
			}
		})
	}
	wg.Wait()
}

// runTogether runs the plan whole and segmented (see together) and returns
// the runners and their recorders once all have ended.
func runTogether(t *testing.T, plan Plan, ts []*segment.Tuple, work func(ctx context.Context)) ([]*Runner, []*recorder) {
	t.Helper()
	g := newTogether(t, plan, ts)
	g.run(t, work)
	return g.runners, g.recs
}

func indexes(its []Iteration) []int64 {
	out := make([]int64, len(its))
	for i, it := range its {
		out[i] = it.Index
	}
	return out
}

// TestSegmentsOpenModelRunTheWholePlan: for 2, 3 and 4 runners (and an
// unequal split), the union of the runners' started iteration indexes is
// the whole plan's, with no index started twice, each runner starts
// exactly the indexes its segment owns, and the runners' VU ids are
// distinct.
func TestSegmentsOpenModelRunTheWholePlan(t *testing.T) {
	executors := map[string]Executor{
		"constant-arrival-rate": ConstantArrivalRate{Rate: 300, Duration: 400 * time.Millisecond, PreAllocatedVUs: 8, MaxVUs: 40},
		"ramping-arrival-rate": RampingArrivalRate{StartRate: 100, PreAllocatedVUs: 8, MaxVUs: 40, Stages: []Stage{
			{Duration: 200 * time.Millisecond, Target: 700},
			{Duration: 100 * time.Millisecond, Target: 700},
			{Duration: 200 * time.Millisecond, Target: 0},
		}},
	}
	for ename, ex := range executors {
		for sname, seq := range sequences(t) {
			t.Run(ename+"/"+sname, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ts := tuplesOf(t, seq)
					plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: ex}}}
					runners, recs := runTogether(t, plan, ts, func(ctx context.Context) { sleep(ctx, 15*time.Millisecond) })

					whole := indexes(recs[0].sorted())
					n := runners[0].Progress(nil)[0].Started
					if n == 0 || int64(len(whole)) != n || whole[len(whole)-1] != n-1 {
						t.Fatalf("the whole plan started %d iterations, %d seen, not the indexes 0 to %d", n, len(whole), n-1)
					}
					var union []int64
					var started int64
					vus := map[int]int{} // VU id -> runner
					for i, tu := range ts {
						its := recs[i+1].sorted()
						st := runners[i+1].Progress(nil)[0]
						if st.Dropped != 0 {
							t.Errorf("runner %s dropped %d", tu, st.Dropped)
						}
						if want := tu.Scale(n); st.Started != want || int64(len(its)) != want {
							t.Errorf("runner %s started %d (%d seen), want Scale(%d) = %d", tu, st.Started, len(its), n, want)
						}
						for _, it := range its {
							if !tu.Owns(it.Index) {
								t.Errorf("runner %s started index %d, which it does not own", tu, it.Index)
							}
							if r, ok := vus[it.VU]; ok && r != i {
								t.Errorf("VU %d used by runners %d and %d", it.VU, r, i)
							}
							vus[it.VU] = i
						}
						union = append(union, indexes(its)...)
						started += st.Started
					}
					slices.Sort(union)
					if !slices.Equal(union, whole) {
						t.Errorf("the runners started %d iterations, indexes %v...; the whole plan %d, %v...", len(union), union[:min(10, len(union))], len(whole), whole[:min(10, len(whole))])
					}
					if started != n {
						t.Errorf("the runners' Started add up to %d, want %d", started, n)
					}
				})
			})
		}
	}
}

// TestSegmentsSameSchedule: a runner starts each arrival it owns at the
// time the whole plan schedules it.
func TestSegmentsSameSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, seq := segment.Split(3)
		ts := tuplesOf(t, seq)
		plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: RampingArrivalRate{StartRate: 0, PreAllocatedVUs: 4, Stages: []Stage{{Duration: 300 * time.Millisecond, Target: 900}}}}}}
		t0 := time.Now()
		_, recs := runTogether(t, plan, ts, func(context.Context) {})
		when := map[int64]time.Duration{}
		for _, it := range recs[0].sorted() {
			when[it.Index] = it.Intended.Sub(t0)
		}
		for i := range ts {
			for _, it := range recs[i+1].sorted() {
				if want, ok := when[it.Index]; !ok || it.Intended.Sub(t0) != want {
					t.Errorf("runner %d: index %d intended at %v, the whole plan at %v", i, it.Index, it.Intended.Sub(t0), want)
				}
			}
		}
	})
}

// TestSegmentsDropOnlyOwned: with too few VUs, each runner drops some of
// its own arrivals; what it started and dropped is exactly its share.
func TestSegmentsDropOnlyOwned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, seq := segment.Split(4)
		ts := tuplesOf(t, seq)
		plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: ConstantArrivalRate{Rate: 400, Duration: 300 * time.Millisecond, MaxVUs: 8}}}}
		runners, _ := runTogether(t, plan, ts, func(ctx context.Context) { sleep(ctx, 50*time.Millisecond) })
		const n = 120 // 400/s for 300ms
		var dropped int64
		for i, tu := range ts {
			st := runners[i+1].Progress(nil)[0]
			if st.Started+st.Dropped != tu.Scale(n) {
				t.Errorf("runner %s: started %d + dropped %d, want Scale(%d) = %d", tu, st.Started, st.Dropped, n, tu.Scale(n))
			}
			if st.AllocatedVUs != 2 {
				t.Errorf("runner %s allocated %d VUs, want 2 (maxVUs 8 over 4)", tu, st.AllocatedVUs)
			}
			dropped += st.Dropped
		}
		if dropped == 0 {
			t.Error("no runner dropped an arrival: the test does not test dropping")
		}
	})
}

// TestSegmentsScaleVUsOfTheOpenModel: preAllocatedVUs and maxVUs add up to
// the plan's; a runner owning arrivals gets at least one VU.
func TestSegmentsScaleVUsOfTheOpenModel(t *testing.T) {
	_, seq := segment.Split(4)
	ts := tuplesOf(t, seq)
	tests := []struct {
		pre, max int
		wantPre  []int
		wantMax  []int
	}{
		{10, 21, []int{3, 3, 2, 2}, []int{6, 5, 5, 5}},
		{0, 2, []int{0, 0, 0, 0}, []int{1, 1, 1, 1}}, // each owns arrivals: one VU each
		{6, 0, []int{2, 2, 1, 1}, []int{2, 2, 1, 1}}, // maxVUs 0 means preAllocatedVUs
	}
	for _, tt := range tests {
		ex := ConstantArrivalRate{Rate: 10, Duration: time.Second, PreAllocatedVUs: tt.pre, MaxVUs: tt.max}
		for i, tu := range ts {
			sp := ex.spec().segmented(tu)
			if sp.preAllocatedVUs != tt.wantPre[i] || sp.maxVUs != tt.wantMax[i] {
				t.Errorf("pre %d max %d, runner %s: pre %d max %d, want %d %d", tt.pre, tt.max, tu, sp.preAllocatedVUs, sp.maxVUs, tt.wantPre[i], tt.wantMax[i])
			}
		}
	}
}

// TestSegmentsClosedModelVUsAddUp: at every instant of a ramping-vus and a
// constant-vus scenario, the runners' active VUs add up to the whole
// plan's, and their VU ids are distinct and among the plan's.
func TestSegmentsClosedModelVUsAddUp(t *testing.T) {
	executors := map[string]Executor{
		"ramping-vus": RampingVUs{StartVUs: 3, GracefulRampDown: -1, Stages: []Stage{
			{Duration: 200 * time.Millisecond, Target: 13},
			{Duration: 100 * time.Millisecond, Target: 13},
			{Duration: 200 * time.Millisecond, Target: 2},
			{Duration: 0, Target: 7},
			{Duration: 100 * time.Millisecond, Target: 7},
		}},
		"constant-vus": ConstantVUs{VUs: 5, Duration: 300 * time.Millisecond},
	}
	for ename, ex := range executors {
		for sname, seq := range sequences(t) {
			t.Run(ename+"/"+sname, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ts := tuplesOf(t, seq)
					plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: ex}}}
					g := newTogether(t, plan, ts)
					t0 := time.Now()
					done := make(chan struct{})
					go func() {
						g.run(t, func(ctx context.Context) { sleep(ctx, 7*time.Millisecond) })
						close(done)
					}()
					// Sample the VU counts every 5ms until the end of the
					// stages, never on a step (the bubble settles before
					// each sample).
					dur := ex.spec().duration
					samples := 0
					for d := 3 * time.Millisecond; d < dur; d += 5 * time.Millisecond {
						at(t0, d)
						whole := g.runners[0].Progress(nil)[0].ActiveVUs
						sum := 0
						var each []int
						for _, r := range g.runners[1:] {
							a := r.Progress(nil)[0].ActiveVUs
							sum += a
							each = append(each, a)
						}
						if sum != whole {
							t.Errorf("at %v the runners have %v active VUs, %d in all; the whole plan %d", d, each, sum, whole)
						}
						samples++
					}
					<-done
					if samples < 50 {
						t.Fatalf("only %d samples", samples)
					}

					wholeVUs := map[int]bool{}
					for _, it := range g.recs[0].sorted() {
						wholeVUs[it.VU] = true
					}
					seen := map[int]int{} // VU id -> runner
					var started int64
					for i, tu := range ts {
						for _, it := range g.recs[i+1].sorted() {
							if !tu.Owns(int64(it.VU - 1)) {
								t.Errorf("runner %s used VU %d, whose index it does not own", tu, it.VU)
							}
							if r, ok := seen[it.VU]; ok && r != i {
								t.Errorf("VU %d used by runners %d and %d", it.VU, r, i)
							}
							seen[it.VU] = i
						}
						started += g.runners[i+1].Progress(nil)[0].Started
					}
					if len(seen) != len(wholeVUs) {
						t.Errorf("the runners used %d VU ids, the whole plan %d", len(seen), len(wholeVUs))
					}
					for id := range seen {
						if !wholeVUs[id] {
							t.Errorf("the runners used VU %d, the whole plan did not", id)
						}
					}
					// Same VUs at the same times on the same (virtual)
					// clock: the same iterations.
					if whole := g.runners[0].Progress(nil)[0].Started; started != whole {
						t.Errorf("the runners started %d iterations, the whole plan %d", started, whole)
					}
				})
			})
		}
	}
}

// TestFullSegmentIsTheWholePlan: a tuple owning everything runs what no
// segment runs: the same iterations, indexes, VUs and times.
func TestFullSegmentIsTheWholePlan(t *testing.T) {
	full, err := segment.NewTuple(segment.Full(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, ex := range map[string]Executor{
		"ramping-arrival-rate": RampingArrivalRate{StartRate: 50, PreAllocatedVUs: 2, MaxVUs: 6, Stages: []Stage{{Duration: 300 * time.Millisecond, Target: 500}}},
		// No ramp-down: a VU ramped down at the instant its iteration ends
		// may or may not start another one (goroutines woken at one
		// instant of the bubble's clock run in any order).
		"constant-vus": ConstantVUs{VUs: 4, Duration: 300 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: ex}}}
				t0 := time.Now()
				runners, recs := runTogether(t, plan, []*segment.Tuple{full}, func(ctx context.Context) { sleep(ctx, 9*time.Millisecond) })
				type key struct {
					index int64
					vu    int
					at    time.Duration
				}
				keys := func(its []Iteration) []key {
					var out []key
					for _, it := range its {
						k := key{it.Index, it.VU, it.Intended.Sub(t0)}
						if ex.Kind() == KindConstantVUs {
							// VUs that start iterations at one instant
							// number them in any order.
							k.index = 0
						}
						out = append(out, k)
					}
					slices.SortFunc(out, func(a, b key) int {
						if a.at != b.at {
							return int(a.at - b.at)
						}
						if a.index != b.index {
							return int(a.index - b.index)
						}
						return a.vu - b.vu
					})
					return out
				}
				if a, b := keys(recs[0].sorted()), keys(recs[1].sorted()); !slices.Equal(a, b) || len(a) == 0 {
					t.Errorf("without a segment %d iterations, with the full one %d, or they differ", len(a), len(b))
				}
				if a, b := runners[0].Progress(nil)[0], runners[1].Progress(nil)[0]; a != b {
					t.Errorf("stats without a segment %+v, with the full one %+v", a, b)
				}
			})
		})
	}
}

// TestSegmentsRealClock: on the real clock, three runners of a
// constant-arrival-rate plan started together start exactly the whole
// plan's arrival indexes between them (the union does not depend on
// timing while no arrival is dropped).
func TestSegmentsRealClock(t *testing.T) {
	_, seq := segment.Split(3)
	ts := tuplesOf(t, seq)
	plan := Plan{Scenarios: []Scenario{{Name: "s", Executor: ConstantArrivalRate{Rate: 400, Duration: 300 * time.Millisecond, PreAllocatedVUs: 90}}}}
	runners, recs := runTogether(t, plan, ts, func(context.Context) {})
	var union []int64
	for i := range ts {
		st := runners[i+1].Progress(nil)[0]
		if st.Dropped != 0 {
			t.Skipf("runner %d dropped %d arrivals: the machine is too busy for this test", i, st.Dropped)
		}
		union = append(union, indexes(recs[i+1].sorted())...)
	}
	slices.Sort(union)
	whole := indexes(recs[0].sorted())
	if len(whole) != 120 || !slices.Equal(union, whole) {
		t.Errorf("the runners started %d iterations, the whole plan %d; want the same 120 indexes", len(union), len(whole))
	}
}
