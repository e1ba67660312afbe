package rendezvous

import (
	"errors"
	"fmt"
	"time"
)

// Sample is one clock exchange with the leader: this runner's clock when
// it sent the request (Sent) and when the answer was in (Received), and
// the leader's clock in the answer.
type Sample struct {
	Sent, Leader, Received time.Time
}

// RTT is the exchange's round trip.
func (s Sample) RTT() time.Duration { return s.Received.Sub(s.Sent) }

// Offset is the leader's clock minus this runner's, taking the leader's
// reading to have been made halfway through the round trip.
func (s Sample) Offset() time.Duration {
	mid := s.Sent.Add(s.RTT() / 2)
	return s.Leader.Sub(mid.Round(0)) // wall clocks: the leader's has no monotonic reading
}

// Skew is a runner's clock measured against the leader's.
type Skew struct {
	// Offset is the leader's clock minus this runner's: a runner whose
	// clock is behind has a positive offset. Zero for the leader.
	Offset time.Duration
	// Uncertainty bounds the error of Offset: half the round trip of the
	// exchange it came from (the leader read its clock somewhere within
	// it).
	Uncertainty time.Duration
	// RTT is that exchange's round trip, the least of Exchanges.
	RTT time.Duration
	// Exchanges is how many exchanges were made.
	Exchanges int
}

// Estimate takes the exchange with the least round trip: the one whose
// midpoint is pinned down best (the least time for queueing on either
// side to shift the leader's reading).
func Estimate(samples []Sample) (Skew, error) {
	if len(samples) == 0 {
		return Skew{}, errors.New("rendezvous: no clock exchange with the leader")
	}
	best := -1
	for i, s := range samples {
		if s.RTT() < 0 {
			return Skew{}, fmt.Errorf("rendezvous: clock exchange %d has a negative round trip (%s)", i+1, s.RTT())
		}
		if best < 0 || s.RTT() < samples[best].RTT() {
			best = i
		}
	}
	s := samples[best]
	return Skew{Offset: s.Offset(), Uncertainty: s.RTT() / 2, RTT: s.RTT(), Exchanges: len(samples)}, nil
}

// Local is the instant at, read on the leader's clock, on this runner's
// clock, measured from now (a reading of this runner's clock that carries
// its monotonic part, so the result does too and waiting for it is immune
// to wall-clock steps).
func (k Skew) Local(at, now time.Time) time.Time {
	return now.Add(at.Add(-k.Offset).Sub(now.Round(0)))
}

// String is the offset with its uncertainty, e.g. "+0.012 ms ± 0.045 ms".
func (k Skew) String() string {
	return fmt.Sprintf("%+.3f ms ± %.3f ms", ms(k.Offset), ms(k.Uncertainty))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
