package timeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/toxics"

	"github.com/flagstorm/flagstorm/internal/phase"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func session(t *testing.T) (*toxics.Session, *toxics.Embedded) {
	t.Helper()
	r := testenv.Redis(t)
	e, err := toxics.NewEmbedded(toxics.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	if _, err := e.AddProxy(t.Context(), "redis", "127.0.0.1:0", r.Addr()); err != nil {
		t.Fatal(err)
	}
	s := toxics.NewSession(e, nil)
	t.Cleanup(func() { s.Cleanup(context.Background()) })
	return s, e
}

func toxicCount(t *testing.T, e *toxics.Embedded) int {
	t.Helper()
	ps, err := e.Proxies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range ps {
		n += len(p.Toxics)
		if !p.Enabled {
			n++
		}
	}
	return n
}

func TestFaultsGoOnAndOffAtPhaseBoundaries(t *testing.T) {
	s, e := session(t)
	latency := toxics.Fault{Proxy: "redis", Kind: toxics.Latency, Latency: 50 * time.Millisecond}
	refused := toxics.Fault{Proxy: "redis", Kind: toxics.Refused}
	steps := []Step{
		{Span: phase.Span{Name: "steady", Start: 0, End: 200 * time.Millisecond}},
		{Span: phase.Span{Name: "slow", Start: 200 * time.Millisecond, End: 400 * time.Millisecond}, Fault: &latency},
		{Span: phase.Span{Name: "down", Start: 400 * time.Millisecond, End: 600 * time.Millisecond}, Fault: &refused},
		{Span: phase.Span{Name: "recovery", Start: 600 * time.Millisecond}},
	}
	var during []int
	start := time.Now()
	events := Run(t.Context(), start, steps, Topology{Session: s}, Hooks{Changed: func(st Step, active bool) {
		if active {
			during = append(during, toxicCount(t, e))
		}
	}}, nil)
	if got := toxicCount(t, e); got != 0 {
		t.Errorf("%d toxics or disabled proxies left after the timeline", got)
	}
	if len(during) != 2 || during[0] != 1 || during[1] != 1 {
		t.Errorf("faults active during their phases: %v, want [1 1] (one at a time)", during)
	}
	for _, ev := range events[1:3] {
		if ev.Err != nil || ev.Applied.IsZero() || ev.Removed.IsZero() {
			t.Fatalf("phase %s: %+v", ev.Phase, ev)
		}
	}
	// Applied and removed on time, give or take the scheduler.
	for i, want := range []struct{ on, off time.Duration }{{200 * time.Millisecond, 400 * time.Millisecond}, {400 * time.Millisecond, 600 * time.Millisecond}} {
		ev := events[i+1]
		if on := ev.Applied.Sub(start); on < want.on || on > want.on+500*time.Millisecond {
			t.Errorf("phase %s applied at %v, want %v", ev.Phase, on, want.on)
		}
		if off := ev.Removed.Sub(start); off < want.off || off > want.off+500*time.Millisecond {
			t.Errorf("phase %s removed at %v, want %v", ev.Phase, off, want.off)
		}
	}
}

func TestCancelMidFaultLeavesNothingApplied(t *testing.T) {
	s, e := session(t)
	blackhole := toxics.Fault{Proxy: "redis", Kind: toxics.Blackhole}
	steps := []Step{{Span: phase.Span{Name: "outage", End: time.Hour}, Fault: &blackhole}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan []Event)
	on := make(chan struct{}, 1)
	go func() {
		done <- Run(ctx, time.Now(), steps, Topology{Session: s}, Hooks{Changed: func(_ Step, active bool) {
			if active {
				on <- struct{}{}
			}
		}}, nil)
	}()
	select {
	case <-on:
	case <-time.After(5 * time.Second):
		t.Fatal("the fault was never applied")
	}
	if toxicCount(t, e) == 0 {
		t.Fatal("the fault is not on the proxy")
	}
	cancel()
	select {
	case evs := <-done:
		if evs[0].Removed.IsZero() {
			t.Error("the cancelled phase has no removal time")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if got := toxicCount(t, e); got != 0 {
		t.Errorf("%d toxics left after cancelling mid-fault", got)
	}
}

// A fault in an open-ended last phase (no for:) stays on until the run
// ends, then comes off: it was removed right after it was applied.
func TestOpenEndedPhaseKeepsItsFaultUntilTheRunEnds(t *testing.T) {
	s, e := session(t)
	latency := toxics.Fault{Proxy: "redis", Kind: toxics.Latency, Latency: 20 * time.Millisecond}
	steps := []Step{{Span: phase.Span{Name: "steady", End: 50 * time.Millisecond}}, {Span: phase.Span{Name: "slow", Start: 50 * time.Millisecond}, Fault: &latency}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan []Event, 1)
	go func() { done <- Run(ctx, time.Now(), steps, Topology{Session: s}, Hooks{}, nil) }()
	testenv.Poll(t, 5*time.Second, "the open-ended phase's fault", func() error {
		if n := toxicCount(t, e); n != 1 {
			return fmt.Errorf("%d toxics", n)
		}
		return nil
	})
	select {
	case <-done:
		t.Fatal("Run returned while the run was still going: the open-ended phase's fault came off")
	case <-time.After(300 * time.Millisecond): // a bounded window in which nothing may happen
	}
	if n := toxicCount(t, e); n != 1 {
		t.Fatalf("%d toxics while the run goes on, want the phase's 1", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return at the run's end")
	}
	if n := toxicCount(t, e); n != 0 {
		t.Errorf("%d toxics left after the run ended", n)
	}
}
