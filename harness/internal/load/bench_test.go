package load

import (
	"context"
	"testing"
	"time"
)

// The scheduler alone: the work function does nothing, so these measure
// the cost of starting iterations. One op is one iteration; allocs/op
// includes the run's setup (VU goroutines, contexts), amortized over b.N.

func BenchmarkClosed(b *testing.B) {
	for _, vus := range []int{1, 50} {
		b.Run(vuName(vus), func(b *testing.B) {
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			last := int64(b.N) - 1
			fn := func(_ context.Context, it Iteration) {
				if it.Index == last {
					cancel()
				}
			}
			r, err := New(Plan{Scenarios: []Scenario{{Name: "bench", Executor: ConstantVUs{VUs: vus, Duration: time.Hour}}}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			_ = r.Run(ctx, fn, Hooks{})
			el := time.Since(t0)
			b.StopTimer()
			st := r.Progress(nil)[0]
			b.ReportMetric(float64(st.Started)/el.Seconds(), "iters/s")
		})
	}
}

// BenchmarkOpen schedules b.N arrivals 1 ns apart: every arrival is due
// at once, so the scheduler dispatches flat out and the VUs, not the
// clock, set the pace. Arrivals that find all VUs busy are dropped, as in
// a real run, and reported.
func BenchmarkOpen(b *testing.B) {
	for _, vus := range []int{1, 50} {
		b.Run(vuName(vus), func(b *testing.B) {
			fn := func(context.Context, Iteration) {}
			r, err := New(Plan{Scenarios: []Scenario{{Name: "bench", Executor: ConstantArrivalRate{
				Rate: 1, TimeUnit: time.Nanosecond, Duration: time.Duration(b.N), PreAllocatedVUs: vus,
			}}}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			if err := r.Run(b.Context(), fn, Hooks{}); err != nil {
				b.Fatal(err)
			}
			el := time.Since(t0)
			b.StopTimer()
			st := r.Progress(nil)[0]
			b.ReportMetric(float64(st.Started)/el.Seconds(), "iters/s")
			b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
		})
	}
}

func vuName(n int) string {
	if n == 1 {
		return "1vu"
	}
	return "50vus"
}
