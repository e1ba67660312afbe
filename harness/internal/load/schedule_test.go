package load

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func allArrivals(a arrivals) []time.Duration {
	var out []time.Duration
	for {
		off, ok := a.next()
		if !ok {
			return out
		}
		out = append(out, off)
	}
}

func TestConstantArrivals(t *testing.T) {
	tests := []struct {
		name string
		rate int
		unit time.Duration
		dur  time.Duration
		want []time.Duration
	}{
		{"even", 4, time.Second, time.Second, []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}},
		{"fractional period, no drift", 3, time.Second, time.Second, []time.Duration{0, 333333333, 666666666}},
		{"partial last period", 2, time.Second, 1500 * time.Millisecond, []time.Duration{0, 500 * time.Millisecond, time.Second}},
		{"per minute", 30, time.Minute, 5 * time.Second, []time.Duration{0, 2 * time.Second, 4 * time.Second}},
		{"slower than duration", 1, time.Minute, time.Second, []time.Duration{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := allArrivals(constantArrivals(tt.rate, tt.unit, tt.dur))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("arrivals (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("100/s for 10s", func(t *testing.T) {
		got := allArrivals(constantArrivals(100, time.Second, 10*time.Second))
		if len(got) != 1000 {
			t.Fatalf("%d arrivals, want 1000", len(got))
		}
		for k, off := range got {
			if want := time.Duration(k) * 10 * time.Millisecond; off != want {
				t.Fatalf("arrival %d at %v, want %v", k, off, want)
			}
		}
	})

	t.Run("high rate stays exact", func(t *testing.T) {
		// 7 per 3 ms over an hour: the n-th arrival from the start, not
		// accumulated intervals.
		a := constantArrivals(7, 3*time.Millisecond, time.Hour)
		wantN := int64(math.Ceil(float64(time.Hour) * 7 / float64(3*time.Millisecond)))
		if a.n != wantN {
			t.Fatalf("n = %d, want %d", a.n, wantN)
		}
		var last time.Duration
		for k := int64(0); ; k++ {
			off, ok := a.next()
			if !ok {
				break
			}
			last = off
			if k == a.n-1 {
				if want := time.Duration(k * int64(3*time.Millisecond) / 7); off != want {
					t.Fatalf("last arrival at %v, want %v", off, want)
				}
			}
		}
		if last >= time.Hour {
			t.Fatalf("last arrival %v not before the duration", last)
		}
	})
}

// expected is the integral of a piecewise linear rate (per unit) from 0 to
// t, computed independently of the code under test.
func expected(startRate int, unit time.Duration, stages []Stage, t time.Duration) float64 {
	sum := 0.0
	from := float64(startRate)
	var base time.Duration
	for _, s := range stages {
		to := float64(s.Target)
		if t <= base {
			break
		}
		d := min(t-base, s.Duration)
		if s.Duration > 0 {
			x := d.Seconds()
			D := s.Duration.Seconds()
			sum += (from*x + (to-from)*x*x/(2*D)) / unit.Seconds()
		}
		base += s.Duration
		from = to
	}
	return sum
}

func TestRampingArrivals(t *testing.T) {
	t.Run("0 to 100/s over 10s", func(t *testing.T) {
		stages := []Stage{{Duration: 10 * time.Second, Target: 100}}
		got := allArrivals(rampingArrivals(0, time.Second, stages))
		if len(got) != 500 {
			t.Fatalf("%d arrivals, want 500 (the area under the ramp)", len(got))
		}
		// N(t) = 5t² (t in s): arrival k (1-based) at √(k/5) s.
		for i, off := range got {
			k := float64(i + 1)
			want := time.Duration(math.Round(math.Sqrt(k/5) * 1e9))
			if d := off - want; d < -1 || d > 1 {
				t.Fatalf("arrival %d at %v, want %v", i+1, off, want)
			}
		}
		firstHalf := 0
		for _, off := range got {
			if off <= 5*time.Second {
				firstHalf++
			}
		}
		if firstHalf != 125 {
			t.Errorf("%d arrivals in the first 5s, want 125 (a quarter: density grows with the rate)", firstHalf)
		}
	})

	t.Run("constant stage equals k/rate after the first unit", func(t *testing.T) {
		got := allArrivals(rampingArrivals(4, time.Second, []Stage{{Duration: time.Second, Target: 4}}))
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("arrivals (-want +got):\n%s", diff)
		}
	})

	t.Run("multi-stage matches the integral", func(t *testing.T) {
		start := 10
		unit := 500 * time.Millisecond
		stages := []Stage{
			{Duration: 2 * time.Second, Target: 10},
			{Duration: 3 * time.Second, Target: 40},
			{Duration: 0, Target: 5}, // jump
			{Duration: 1500 * time.Millisecond, Target: 0},
			{Duration: time.Second, Target: 0}, // idle
			{Duration: 2 * time.Second, Target: 25},
		}
		a := rampingArrivals(start, unit, stages)
		var total time.Duration
		for _, s := range stages {
			total += s.Duration
		}
		area := expected(start, unit, stages, total)
		if want := int64(math.Floor(area + 1e-9)); a.n != want {
			t.Fatalf("n = %d, want floor(%v)", a.n, area)
		}
		got := allArrivals(a)
		prev := time.Duration(-1)
		for i, off := range got {
			if off < prev {
				t.Fatalf("arrival %d at %v before arrival %d at %v", i, off, i-1, prev)
			}
			prev = off
			if n := expected(start, unit, stages, off); math.Abs(n-float64(i+1)) > 1e-4 {
				t.Fatalf("arrival %d at %v: integral %v, want %d", i+1, off, n, i+1)
			}
			if off > 6500*time.Millisecond && off < 7500*time.Millisecond {
				t.Fatalf("arrival %d at %v, inside the zero-rate stage", i+1, off)
			}
		}
	})

	t.Run("zero rate schedules nothing", func(t *testing.T) {
		if got := allArrivals(rampingArrivals(0, time.Second, []Stage{{Duration: time.Minute, Target: 0}})); len(got) != 0 {
			t.Fatalf("got %d arrivals", len(got))
		}
	})
}

type step struct {
	At     time.Duration
	Target int
}

func TestVUSteps(t *testing.T) {
	tests := []struct {
		name   string
		start  int
		stages []Stage
		want   []step
	}{
		{
			name:   "up and down",
			start:  0,
			stages: []Stage{{Duration: 4 * time.Second, Target: 4}, {Duration: 4 * time.Second, Target: 0}},
			want: []step{
				{1 * time.Second, 1}, {2 * time.Second, 2}, {3 * time.Second, 3}, {4 * time.Second, 4},
				{5 * time.Second, 3}, {6 * time.Second, 2}, {7 * time.Second, 1}, {8 * time.Second, 0},
			},
		},
		{
			name:   "uneven steps round up",
			start:  2,
			stages: []Stage{{Duration: time.Second, Target: 5}},
			want:   []step{{333333334, 3}, {666666667, 4}, {time.Second, 5}},
		},
		{
			name:   "jump and hold",
			start:  1,
			stages: []Stage{{Duration: 0, Target: 5}, {Duration: time.Minute, Target: 5}, {Duration: 0, Target: 2}},
			want:   []step{{0, 5}, {time.Minute, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vuSteps{stages: tt.stages, from: tt.start}
			var got []step
			for {
				at, target, ok := s.next()
				if !ok {
					break
				}
				got = append(got, step{at, target})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}
