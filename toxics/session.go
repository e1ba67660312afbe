package toxics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// CleanupTimeout bounds [Session.Cleanup].
const CleanupTimeout = 15 * time.Second

// Session records every fault and topology action a run takes through it,
// so that Cleanup can undo them on every exit path: phase end, error,
// Ctrl-C, panic. Use it as
//
//	s := toxics.NewSession(ctrl, log)
//	defer s.Cleanup(ctx) // runs on panic too, and after ctx is cancelled
//	if err := s.Begin(ctx); err != nil { ... }
//	a, err := s.Apply(ctx, fault)
//
// What Cleanup restores:
//   - every fault still applied is removed, and then the server is reset:
//     on a server the session's controller owns ([Embedded]: the local
//     stack's), ResetAll, so no toxic is left (even one added by someone
//     else, or by an Apply that timed out half-way) and every proxy is
//     enabled; on a shared one (a [Sweeper]: [Remote]), a sweep, which
//     removes this run's faults and the expired ones of any flagstorm run
//     and leaves everything else as it was;
//   - every proxy moved with [Session.SetUpstream] goes back to the
//     upstream it had before the session first moved it;
//   - every server crashed with [Session.Crash] and still down is
//     restarted (cold: empty, same port, same role);
//   - a failover is not reversed but completed. Moving the proxy back
//     would point clients at a dead server or at a replica (READONLY
//     errors) and would lose the writes made since; failing back is
//     another failover. So Cleanup leaves the proxy on the promoted
//     replica and, if the old primary is still down, restarts it as a
//     replica of the new primary: one primary and one replica again,
//     roles swapped. A failover that broke off before the promotion is
//     repaired the other way: the old primary is restarted (empty) as the
//     primary, which the proxy still points at.
//
// The methods are safe for concurrent use.
type Session struct {
	c   Controller
	log *slog.Logger

	mu        sync.Mutex
	dirty     bool // something may need undoing
	applied   []Applied
	moves     []upstreamMove
	crashed   []*RedisServer
	failovers []failoverRecord
}

// upstreamMove is a proxy's upstream before the session first moved it.
type upstreamMove struct {
	proxy, from string
}

// failoverRecord is a failover the session ran, with how far it got.
type failoverRecord struct {
	spec FailoverSpec
	rep  FailoverReport
}

// NewSession returns a session over c. A nil log discards.
func NewSession(c Controller, log *slog.Logger) *Session {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Session{c: c, log: log}
}

// Begin starts from a clean slate: every toxic removed and every proxy
// enabled (ResetAll) on a server the controller owns; on a shared one (a
// [Sweeper]) the faults left by flagstorm runs that expired (killed
// before their cleanup) removed, and nothing else touched.
func (s *Session) Begin(ctx context.Context) error {
	s.markDirty()
	if err := s.reset(ctx); err != nil {
		return fmt.Errorf("toxics: begin session: %w", err)
	}
	return nil
}

// reset is ResetAll, or a sweep on a shared server.
func (s *Session) reset(ctx context.Context) error {
	sw, ok := s.c.(Sweeper)
	if !ok {
		return s.c.ResetAll(ctx)
	}
	swept, err := sw.Sweep(ctx)
	if !swept.Empty() {
		s.log.Info("swept faults of this run and expired runs", "run_id", sw.Owner().RunID,
			"toxic", strings.Join(swept.Toxics, ","), "proxy", strings.Join(swept.Enabled, ","))
	}
	return err
}

func (s *Session) markDirty() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// Apply applies f through the controller and records it for Cleanup.
func (s *Session) Apply(ctx context.Context, f Fault) (Applied, error) {
	s.markDirty() // even a failed Apply may leave something for the reset
	a, err := s.c.Apply(ctx, f)
	if err != nil {
		return Applied{}, err
	}
	s.mu.Lock()
	s.applied = append(s.applied, a)
	s.mu.Unlock()
	s.log.Info("fault applied", "proxy", a.Proxy, "fault", a.Fault.String(), "toxic", strings.Join(a.Toxics, ","))
	return a, nil
}

// Remove removes a fault applied through the session.
func (s *Session) Remove(ctx context.Context, a Applied) error {
	if err := s.c.Remove(ctx, a); err != nil {
		return err
	}
	s.mu.Lock()
	s.applied = slices.DeleteFunc(s.applied, a.same)
	s.mu.Unlock()
	s.log.Info("fault removed", "proxy", a.Proxy, "fault", a.Fault.String())
	return nil
}

// Active returns the faults applied through the session and not removed
// yet, oldest first.
func (s *Session) Active() []Applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.applied)
}

// SetUpstream moves the proxy to upstream; Cleanup moves it back to where
// it was before the session first moved it.
func (s *Session) SetUpstream(ctx context.Context, proxy, upstream string) error {
	proxies, err := s.c.Proxies(ctx)
	if err != nil {
		return fmt.Errorf("toxics: move proxy %q: %w", proxy, err)
	}
	i := slices.IndexFunc(proxies, func(p ProxyInfo) bool { return p.Name == proxy })
	if i < 0 {
		return fmt.Errorf("toxics: move proxy %q: %w", proxy, ErrProxyNotFound)
	}
	s.mu.Lock()
	s.dirty = true
	if !slices.ContainsFunc(s.moves, func(m upstreamMove) bool { return m.proxy == proxy }) {
		s.moves = append(s.moves, upstreamMove{proxy: proxy, from: proxies[i].Upstream})
	}
	s.mu.Unlock()
	if err := s.c.SetUpstream(ctx, proxy, upstream); err != nil {
		return err
	}
	s.log.Info("proxy moved", "proxy", proxy, "upstream", upstream)
	return nil
}

// Crash kills r (SIGKILL: its data is lost); Cleanup restarts it if it is
// still down.
func (s *Session) Crash(ctx context.Context, r *RedisServer) error {
	s.mu.Lock()
	s.dirty = true
	if !slices.Contains(s.crashed, r) {
		s.crashed = append(s.crashed, r)
	}
	s.mu.Unlock()
	if err := r.Kill(ctx); err != nil {
		return err
	}
	s.log.Info("redis-server crashed", "addr", r.Addr())
	return nil
}

// ColdRestart restarts r, empty, on the same port and in the same role.
func (s *Session) ColdRestart(ctx context.Context, r *RedisServer) error {
	if err := r.Restart(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.crashed = slices.DeleteFunc(s.crashed, func(x *RedisServer) bool { return x == r })
	s.mu.Unlock()
	s.log.Info("redis-server restarted cold", "addr", r.Addr())
	return nil
}

// Failover runs [Failover] and records it; see Session for what Cleanup
// does about it.
func (s *Session) Failover(ctx context.Context, spec FailoverSpec) (FailoverReport, error) {
	rep, err := Failover(ctx, s.c, spec)
	if !rep.Started.IsZero() {
		s.mu.Lock()
		s.dirty = true
		s.failovers = append(s.failovers, failoverRecord{spec: spec, rep: rep})
		// The failover decides where these proxies lead from now on, and
		// the old primary's fate.
		s.moves = slices.DeleteFunc(s.moves, func(m upstreamMove) bool {
			return m.proxy == spec.Proxy || (spec.ReplicaProxy != "" && m.proxy == spec.ReplicaProxy)
		})
		s.crashed = slices.DeleteFunc(s.crashed, func(x *RedisServer) bool { return x == spec.Primary })
		s.mu.Unlock()
	}
	if err != nil {
		return rep, err
	}
	s.log.Info("failover done", "proxy", spec.Proxy, "old_primary", rep.OldPrimary, "new_primary", rep.NewPrimary,
		"duration", rep.Outage())
	return rep, nil
}

// Cleanup undoes what the session did (see Session), under a context that
// outlives ctx's cancellation and is bounded by [CleanupTimeout], so it
// works after Ctrl-C. It returns nil when the end state is clean, even if
// some steps failed on the way (a toxic whose removal timed out that
// ResetAll then removed); failures are logged. What could not be restored
// stays recorded and a later Cleanup tries again; otherwise calling it
// again does nothing.
func (s *Session) Cleanup(ctx context.Context) error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	applied, moves, crashed, failovers := s.applied, s.moves, s.crashed, s.failovers
	s.applied, s.moves, s.crashed, s.failovers = nil, nil, nil, nil
	s.dirty = false
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	start := time.Now()

	// Faults first, newest first, so that restarted servers are reachable.
	var removeErrs []error
	for _, a := range slices.Backward(applied) {
		if err := s.c.Remove(ctx, a); err != nil {
			s.log.Warn("cleanup: remove fault", "proxy", a.Proxy, "fault", a.Fault.String(), "err", err)
			removeErrs = append(removeErrs, err)
		}
	}

	var errs []error
	var failedMoves []upstreamMove
	for _, m := range moves {
		if err := s.c.SetUpstream(ctx, m.proxy, m.from); err != nil {
			s.log.Warn("cleanup: move proxy back", "proxy", m.proxy, "upstream", m.from, "err", err)
			errs = append(errs, err)
			failedMoves = append(failedMoves, m)
		}
	}
	var failedFailovers []failoverRecord
	for _, f := range failovers {
		if err := s.completeFailover(ctx, f); err != nil {
			s.log.Warn("cleanup: complete failover", "proxy", f.spec.Proxy, "err", err)
			errs = append(errs, err)
			failedFailovers = append(failedFailovers, f)
		}
	}
	var failedCrashes []*RedisServer
	for _, r := range crashed {
		if r.Running() {
			continue
		}
		if err := r.Restart(ctx); err != nil {
			s.log.Warn("cleanup: restart crashed redis-server", "addr", r.Addr(), "err", err)
			errs = append(errs, err)
			failedCrashes = append(failedCrashes, r)
		}
	}

	// The safety net: whatever is left, from this session or not (on a
	// shared server: of this run, or expired).
	resetErr := s.reset(ctx)
	var failedApplied []Applied
	if resetErr != nil {
		s.log.Warn("cleanup: reset all proxies", "err", resetErr)
		errs = append(errs, resetErr)
		errs = append(errs, removeErrs...)
		if len(removeErrs) > 0 {
			failedApplied = applied // which ones is unknown: retry all; gone ones are fine
		}
	}

	if len(errs) > 0 {
		s.mu.Lock()
		s.dirty = true
		s.applied = append(failedApplied, s.applied...)
		s.moves = append(failedMoves, s.moves...)
		s.crashed = append(failedCrashes, s.crashed...)
		s.failovers = append(failedFailovers, s.failovers...)
		s.mu.Unlock()
		return fmt.Errorf("toxics: session cleanup: %w", errors.Join(errs...))
	}
	s.log.Info("cleanup done", "duration", time.Since(start))
	return nil
}

// completeFailover brings a failover's topology back to one primary and
// one replica (see Session).
func (s *Session) completeFailover(ctx context.Context, f failoverRecord) error {
	spec, rep := f.spec, f.rep
	if rep.Promoted.IsZero() {
		// Broken off before the promotion: the proxy still leads to the
		// old primary, so bring it back (empty) in its old role.
		if spec.Primary.Running() {
			return nil
		}
		return spec.Primary.Restart(ctx)
	}
	if rep.Switched.IsZero() {
		if err := s.c.SetUpstream(ctx, spec.Proxy, spec.Replica.Addr()); err != nil {
			return err
		}
	}
	if spec.Primary.Running() {
		return nil
	}
	if err := spec.Primary.restartAsReplicaOf(ctx, spec.Replica.Addr()); err != nil {
		return err
	}
	if spec.ReplicaProxy != "" {
		return s.c.SetUpstream(ctx, spec.ReplicaProxy, spec.Primary.Addr())
	}
	return nil
}
