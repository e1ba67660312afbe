// Package timeline applies a scenario's faults and actions at their phase
// boundaries, while the load runs, and records when each really went on
// and came off. Every fault is removed on every exit path: at its phase's
// end, when the run is cancelled, and (through toxics.Session.Cleanup,
// which the caller defers) on error or panic.
package timeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"

	"github.com/flagstorm/flagstorm/internal/phase"
)

// Step is one phase of the timeline.
type Step struct {
	phase.Span // the phase: offsets from the run's start; End 0: the run's end
	Fault      *toxics.Fault
	Action     scenarios.Action // done to the Redis primary at the phase's start; 0: none
	Rejoin     bool             // failover: the old primary rejoins as a replica
}

// Topology is what the actions act on.
type Topology struct {
	Session *toxics.Session
	Primary *toxics.RedisServer
	Replica *toxics.RedisServer
	// PrimaryAddr reaches a Redis primary the harness did not start
	// (a running service's): flush only. Ignored when Primary is set.
	PrimaryAddr string
	// Password is PrimaryAddr's password (AUTH), "" for none; Primary
	// knows its own.
	Password     string
	Proxy        string // the proxy clients reach the primary through ("redis")
	ReplicaProxy string // the proxy to the replica ("redis-replica")
}

// Event is what happened in one phase.
type Event struct {
	Phase            string
	What             string    // the fault or action, in words
	Applied, Removed time.Time // zero when it did not happen
	Err              error     // a fault that could not be applied or removed
	Failover         *toxics.FailoverReport
}

// Hooks observe the timeline (nil-safe).
type Hooks struct {
	// Changed is called when a step's fault or action starts (active) or
	// ends.
	Changed func(step Step, active bool)
}

// Run walks the steps from start until they are done or ctx ends. It
// returns the events in phase order. A step whose fault cannot be applied
// is recorded with its error and the run goes on: the phase then measures
// an unfaulted system, which the report shows.
func Run(ctx context.Context, start time.Time, steps []Step, topo Topology, hooks Hooks, log *slog.Logger) []Event {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type timed struct {
		at    time.Duration
		index int
		on    bool
	}
	var plan []timed
	events := make([]Event, len(steps))
	for i, s := range steps {
		events[i] = Event{Phase: s.Name, What: describe(s)}
		if s.Fault == nil && s.Action == 0 {
			continue
		}
		plan = append(plan, timed{s.Start, i, true})
		if s.End > 0 && (s.Fault != nil || s.Action == scenarios.ActionCrash) {
			plan = append(plan, timed{s.End, i, false})
		}
	}
	sort.SliceStable(plan, func(a, b int) bool {
		if plan[a].at != plan[b].at {
			return plan[a].at < plan[b].at
		}
		return !plan[a].on && plan[b].on // end a phase before starting the next
	})
	applied := make(map[int]toxics.Applied)
	undo := func(ctx context.Context, i int) {
		s := steps[i]
		var err error
		switch {
		case s.Fault != nil:
			a, ok := applied[i]
			if !ok {
				return
			}
			err = topo.Session.Remove(ctx, a)
			delete(applied, i)
		case s.Action == scenarios.ActionCrash:
			err = topo.Session.ColdRestart(ctx, topo.Primary)
		default:
			return
		}
		events[i].Removed = time.Now()
		if err != nil {
			events[i].Err = errors.Join(events[i].Err, err)
		}
		if hooks.Changed != nil {
			hooks.Changed(s, false)
		}
		log.Info("phase fault removed", "phase", s.Name, "err", err)
	}
	for _, p := range plan {
		if !wait(ctx, start.Add(p.at)) {
			break
		}
		s := steps[p.index]
		if !p.on {
			undo(ctx, p.index)
			continue
		}
		err := do(ctx, s, topo, &events[p.index], applied, p.index)
		if err != nil {
			events[p.index].Err = err
		} else {
			events[p.index].Applied = time.Now()
		}
		if err == nil && hooks.Changed != nil {
			hooks.Changed(s, true)
		}
		log.Info("phase started", "phase", s.Name, "fault", events[p.index].What, "err", err)
	}
	// A fault of an open-ended last phase stays on until the run ends (ctx
	// is cancelled); then, or when cancelled earlier, whatever is still
	// applied comes off, under a context that survives the cancellation.
	if len(applied) > 0 {
		<-ctx.Done()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), toxics.CleanupTimeout)
	defer cancel()
	for i := range steps {
		if _, ok := applied[i]; ok {
			undo(cctx, i)
		}
	}
	return events
}

func do(ctx context.Context, s Step, topo Topology, ev *Event, applied map[int]toxics.Applied, i int) error {
	switch {
	case s.Fault != nil:
		a, err := topo.Session.Apply(ctx, *s.Fault)
		if err != nil {
			return fmt.Errorf("phase %s: apply %s: %w", s.Name, s.Fault, err)
		}
		applied[i] = a
		return nil
	case s.Action == scenarios.ActionFailover:
		if topo.Primary == nil || topo.Replica == nil {
			return fmt.Errorf("phase %s: failover needs a Redis primary and replica started by the stack", s.Name)
		}
		rep, err := topo.Session.Failover(ctx, toxics.FailoverSpec{Proxy: topo.Proxy, Primary: topo.Primary, Replica: topo.Replica, Rejoin: s.Rejoin, ReplicaProxy: topo.ReplicaProxy})
		ev.Failover = &rep
		if err != nil {
			return fmt.Errorf("phase %s: failover: %w", s.Name, err)
		}
		return nil
	case s.Action == scenarios.ActionCrash:
		return topo.Session.Crash(ctx, topo.Primary)
	case s.Action == scenarios.ActionRestart:
		return topo.Session.ColdRestart(ctx, topo.Primary)
	case s.Action == scenarios.ActionFlush:
		addr, password := topo.PrimaryAddr, topo.Password
		if topo.Primary != nil {
			addr, password = topo.Primary.Addr(), topo.Primary.Password()
		}
		if addr == "" {
			return fmt.Errorf("phase %s: flush needs the Redis primary's address", s.Name)
		}
		c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
		defer c.Close()
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return c.FlushAll(fctx).Err()
	}
	return nil
}

func describe(s Step) string {
	switch {
	case s.Fault != nil:
		return s.Fault.String()
	case s.Action != 0:
		d := "redis primary: " + s.Action.String()
		if s.Action == scenarios.ActionFailover && s.Rejoin {
			d += " (old primary rejoins as replica)"
		}
		return d
	}
	return ""
}

// wait sleeps until t; false if ctx ended first.
func wait(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
