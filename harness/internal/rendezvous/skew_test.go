package rendezvous

import (
	"testing"
	"time"
)

// The arithmetic on a made-up clock: the follower's clock is 40 ms
// behind the leader's; exchanges with asymmetric delays err by half
// their asymmetry, and the least round trip wins.
func TestEstimate(t *testing.T) {
	base := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	const behind = 40 * time.Millisecond
	// exchange: sent at base+at on the follower's clock, out and back are
	// the delays to and from the leader.
	exchange := func(at, out, back time.Duration) Sample {
		sent := base.Add(at)
		return Sample{Sent: sent, Leader: sent.Add(out).Add(behind), Received: sent.Add(out + back)}
	}
	tests := []struct {
		name    string
		samples []Sample
		want    Skew
	}{
		{"symmetric", []Sample{exchange(0, 2*time.Millisecond, 2*time.Millisecond)},
			Skew{Offset: behind, Uncertainty: 2 * time.Millisecond, RTT: 4 * time.Millisecond, Exchanges: 1}},
		{"asymmetric errs by half the asymmetry", []Sample{exchange(0, 9*time.Millisecond, time.Millisecond)},
			Skew{Offset: behind + 4*time.Millisecond, Uncertainty: 5 * time.Millisecond, RTT: 10 * time.Millisecond, Exchanges: 1}},
		{"least round trip wins", []Sample{
			exchange(0, 30*time.Millisecond, time.Millisecond),
			exchange(time.Second, 300*time.Microsecond, 100*time.Microsecond),
			exchange(2*time.Second, time.Millisecond, 20*time.Millisecond),
		}, Skew{Offset: behind + 100*time.Microsecond, Uncertainty: 200 * time.Microsecond, RTT: 400 * time.Microsecond, Exchanges: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Estimate(tt.samples)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Estimate = %+v, want %+v", got, tt.want)
			}
			// The true offset is within the uncertainty.
			if d := got.Offset - behind; d < -got.Uncertainty || d > got.Uncertainty {
				t.Errorf("offset %s is %s from the truth, beyond its uncertainty %s", got.Offset, d, got.Uncertainty)
			}
		})
	}
}

func TestEstimateRejects(t *testing.T) {
	if _, err := Estimate(nil); err == nil {
		t.Error("no samples: no error")
	}
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	if _, err := Estimate([]Sample{{Sent: now, Leader: now, Received: now.Add(-time.Millisecond)}}); err == nil {
		t.Error("negative round trip: no error")
	}
}

// The leader's start read on the follower's clock: start − offset, and
// the result keeps the monotonic reading of now.
func TestLocal(t *testing.T) {
	k := Skew{Offset: 40 * time.Millisecond}
	now := time.Now() // has a monotonic reading
	leaderAt := now.Round(0).Add(time.Second + k.Offset)
	got := k.Local(leaderAt, now)
	if want := now.Round(0).Add(time.Second); !got.Round(0).Equal(want) {
		t.Errorf("Local = %s, want %s", got.Round(0), want)
	}
	if got.Round(0) == got {
		t.Error("Local lost the monotonic reading")
	}
	if d := got.Sub(now); d != time.Second {
		t.Errorf("Local is %s after now, want 1s", d)
	}
}

func TestSkewString(t *testing.T) {
	k := Skew{Offset: -12 * time.Microsecond, Uncertainty: 45 * time.Microsecond}
	if got, want := k.String(), "-0.012 ms ± 0.045 ms"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
