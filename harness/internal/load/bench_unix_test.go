//go:build unix

package load

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOpen30k is the engine's target load on the real clock: 30,000
// arrivals per second for one second on 50 VUs, the work function doing
// nothing but noting its start lag. It reports the CPU the engine costs
// (cpu-ms per second of load) and how late iterations started.
func BenchmarkOpen30k(b *testing.B) {
	const vus = 50
	for range b.N {
		// Each VU writes only its own slot: no synchronization needed.
		var sum, most [vus + 1]time.Duration
		var n [vus + 1]int64
		fn := func(_ context.Context, it Iteration) {
			lag := it.Start.Sub(it.Intended)
			sum[it.VU] += lag
			most[it.VU] = max(most[it.VU], lag)
			n[it.VU]++
		}
		r, err := New(Plan{LateTolerance: time.Millisecond, Scenarios: []Scenario{{Name: "bench", Executor: ConstantArrivalRate{
			Rate: 30000, Duration: time.Second, PreAllocatedVUs: vus,
		}}}})
		if err != nil {
			b.Fatal(err)
		}
		before := cpuTime()
		t0 := time.Now()
		if err := r.Run(b.Context(), fn, Hooks{}); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		cpu := cpuTime() - before
		st := r.Progress(nil)[0]
		var total, worst time.Duration
		var count int64
		for i := range sum {
			total += sum[i]
			worst = max(worst, most[i])
			count += n[i]
		}
		b.ReportMetric(float64(cpu.Milliseconds())/el.Seconds(), "cpu-ms/s")
		b.ReportMetric(float64(st.Completed)/el.Seconds(), "iters/s")
		b.ReportMetric(float64(total.Microseconds())/float64(max(count, 1)), "lag-mean-µs")
		b.ReportMetric(float64(worst.Microseconds()), "lag-max-µs")
		b.ReportMetric(float64(st.Late), "late>1ms")
		b.ReportMetric(float64(st.Dropped), "dropped")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
