package load

import (
	"math"
	"math/bits"
	"time"
)

// arrivals yields the offsets, from the scenario start, of an open-model
// scenario's arrivals, in order. Every offset is computed from the start,
// never by adding intervals, so the schedule cannot drift. The zero value
// yields nothing. A copy has its own position; the stages are shared and
// read-only.
type arrivals struct {
	n int64 // number of arrivals
	k int64 // next arrival, 0-based

	// Constant rate (!ramping): arrival k at floor(k*unit/rate), in
	// integer arithmetic, so rate/timeUnit is evenly spaced to the
	// nanosecond; the first arrival is at 0 as in k6's constant-arrival-rate.
	rate, unit uint64

	// Ramping rate: arrival k at the time the integral of the rate reaches
	// k+1 (the first arrival completes the first expected unit, as in k6's
	// ramping-arrival-rate), so floor(total) arrivals in all.
	ramping bool
	stages  []rateStage
	si      int
	total   float64 // expected arrivals over all stages
	eps     float64 // float slack when comparing counts
}

// rateStage is a stage with a non-zero expected number of arrivals.
type rateStage struct {
	start         time.Duration
	dur           float64 // ns
	b, a          float64 // expected arrivals t ns into the stage: b*t + a*t*t
	before, after float64 // expected arrivals before the stage and at its end
}

func constantArrivals(rate int, unit, dur time.Duration) arrivals {
	if rate <= 0 || unit <= 0 || dur <= 0 {
		return arrivals{}
	}
	n, ok := mulDiv(uint64(dur), uint64(rate), uint64(unit), true)
	if !ok {
		n = maxArrivals + 1 // rejected by validation
	}
	return arrivals{n: int64(n), rate: uint64(rate), unit: uint64(unit)}
}

func rampingArrivals(startRate int, unit time.Duration, stages []Stage) arrivals {
	a := arrivals{ramping: true}
	if unit <= 0 {
		return a
	}
	u := float64(unit)
	from := float64(startRate)
	var start time.Duration
	for _, st := range stages {
		to := float64(st.Target)
		d := float64(st.Duration)
		area := (from + to) / 2 * d / u
		if area > 0 {
			a.stages = append(a.stages, rateStage{
				start:  start,
				dur:    d,
				b:      from / u,
				a:      (to - from) / (2 * d * u),
				before: a.total,
				after:  a.total + area,
			})
		}
		a.total += area
		start += st.Duration
		from = to
	}
	a.eps = 1e-9 * max(1, a.total)
	switch n := math.Floor(a.total + a.eps); {
	case math.IsNaN(n) || n > maxArrivals:
		a.n = maxArrivals + 1 // rejected by validation
	default:
		a.n = int64(n)
	}
	return a
}

// skipTo moves the position forward to arrival k, skipping the arrivals
// before it; it never moves back.
func (a *arrivals) skipTo(k int64) {
	a.k = max(a.k, k)
}

// next returns the offset of the next arrival, or false when there is none.
func (a *arrivals) next() (time.Duration, bool) {
	if a.k >= a.n {
		return 0, false
	}
	k := a.k
	a.k++
	if !a.ramping {
		q, _ := mulDiv(uint64(k), a.unit, a.rate, false)
		return time.Duration(q), true
	}
	m := float64(k + 1)
	for a.si < len(a.stages)-1 && m > a.stages[a.si].after+a.eps {
		a.si++
	}
	st := &a.stages[a.si]
	m = max(m-st.before, 0)
	// Solve a*t² + b*t = m for the root in [0, dur]. The form 2m/(b+√disc)
	// is the usual (-b+√disc)/2a without its cancellation, and is valid for
	// a = 0 (constant rate) and a < 0 (falling rate) alike.
	disc := max(st.b*st.b+4*st.a*m, 0)
	t := st.dur
	if den := st.b + math.Sqrt(disc); den > 0 {
		t = min(2*m/den, st.dur)
	}
	return st.start + time.Duration(math.Round(t)), true
}

// vuSteps yields the changes of a closed-model VU count after the start:
// the offset from the scenario start and the new count. Within a stage
// going from a to b VUs over d, the count is a ± floor(|b-a|·t/d) — the
// linear interpolation, moved one VU at a time, the j-th change at
// ceil(j·d/|b-a|). A zero-duration stage jumps at once.
type vuSteps struct {
	stages []Stage
	i, j   int
	from   int
	base   time.Duration
}

func (s *vuSteps) next() (time.Duration, int, bool) {
	for s.i < len(s.stages) {
		st := s.stages[s.i]
		diff := st.Target - s.from
		n := diff
		if n < 0 {
			n = -n
		}
		if s.j < n {
			if st.Duration == 0 {
				s.j = n
				return s.base, st.Target, true
			}
			s.j++
			off, _ := mulDiv(uint64(s.j), uint64(st.Duration), uint64(n), true)
			target := s.from + s.j
			if diff < 0 {
				target = s.from - s.j
			}
			return s.base + time.Duration(off), target, true
		}
		s.base += st.Duration
		s.from = st.Target
		s.i++
		s.j = 0
	}
	return 0, 0, false
}

// mulDiv returns a*b/c, rounded up or down, computed in 128 bits; ok is
// false if the result does not fit an int64.
func mulDiv(a, b, c uint64, up bool) (q uint64, ok bool) {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, c)
	if up && r != 0 {
		q++
	}
	return q, q <= math.MaxInt64
}
