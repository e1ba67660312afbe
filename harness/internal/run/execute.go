// Package run owns one run of a scenario file against a target, whatever
// the target: plan (the file → load plan, request mixes, timeline steps),
// start the target (the seam Target: the local stack's flagserver, a
// service already running, later a user's command), run (the engine, the
// fault timeline, the oracle, telemetry and backend cost, all goroutines
// owned by one group), post-run measures (durability, cold start,
// recovery time, the generator's own lag), judge (once, after every
// measure is in, expectations included; checks that could not run are
// inconclusive), and report (summary, JSON, JUnit, HTML, Pushgateway).
//
// The CLI maps flags onto a Plan, Targets and Options, and the Outcome
// onto an exit code (package exitcode).
package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/rendezvous"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
	"github.com/flagstorm/flagstorm/harness/internal/telemetry"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"
)

// Options are a run's outputs. The zero value writes nothing.
type Options struct {
	// Stdout receives the summary; Stderr the progress and what happens
	// (stack start, reports written). nil discards.
	Stdout, Stderr io.Writer
	// Color colours the summary (a terminal).
	Color bool
	// Progress shows a live progress line on Stderr: redrawn on a
	// terminal (Live), a line every 5 s otherwise.
	Progress, Live bool
	// Out is the directory for summary.json, junit.xml and report.html;
	// "" writes none. With Nest, each run goes to Out/<file>/<target>.
	Out  string
	Nest bool
	// MetricsAddr serves Prometheus /metrics while the run lasts.
	MetricsAddr string
	// PushGateway receives the final metrics; "" pushes nothing.
	PushGateway string
	Logger      *slog.Logger
	// Segment is this runner's part of a run split between runners
	// (package segment; run --segment or --runners): the load plan runs
	// only its share. The zero Segment runs the whole plan. Sequence is
	// the segment sequence every runner of the run shares; nil: k6's
	// default, 0, FROM, TO, 1.
	//
	// The runner whose segment starts at 0 (the whole run's, alone)
	// owns the fault timeline; the others follow the phases on the shared
	// clock without touching Toxiproxy (see Execute).
	Segment  segment.Segment
	Sequence segment.Sequence
	// Rendezvous, when not nil, agrees on the load's start with the other
	// runners (package rendezvous): Execute waits there once the target
	// is ready and starts the load at the agreed instant. nil: the load
	// starts at once.
	Rendezvous Rendezvous
}

// Rendezvous is a shared start with the other runners of a distributed
// run (*rendezvous.Runner).
type Rendezvous interface {
	// Await blocks until every runner is ready and returns the start.
	Await(ctx context.Context) (rendezvous.Start, error)
}

// ownsTimeline reports whether this runner applies the fault timeline:
// the one whose segment starts at 0 (with equal segments it also holds
// index 0 of the striping), which is also the rendezvous's leader.
func (o Options) ownsTimeline() bool {
	return o.Segment.From == nil || o.Segment.From.Sign() == 0
}

func (o Options) withDefaults() Options {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Outcome is one judged run.
type Outcome struct {
	Target    string // the target's name (a profile), "" for a running service
	Report    report.Run
	Judgement Judgement
}

// Expecter is a target that a scenario's expect: lists may name (a
// flagserver profile).
type Expecter interface {
	Expected(spec *scenarios.Spec) Expected
}

// Expected is the scenario's expectations of the profile.
func (l Local) Expected(spec *scenarios.Spec) Expected {
	return func(key string, index int) scenarios.Expectation { return spec.Expectation(l.Profile, key, index) }
}

// Execute runs the plan against the target and judges it. It returns an
// error only when the run could not happen: an *InvalidError for a plan
// the target cannot carry out (or a runner the rendezvous's leader
// refused), the context's error when interrupted before the load began,
// anything else for infrastructure (runners missing at the shared start
// included). A failed or inconclusive run is an Outcome.
//
// A runner of a segment that does not start at 0 (a follower) runs its
// share of the load on the same phases, on the shared clock, and leaves
// to the owner of the timeline everything that acts on the target or
// needs one actor: the faults and Redis actions (it needs no Toxiproxy,
// and ignores one it is given), the preflight (its wiring check injects
// faults, which would hit the other runners), the read-back of the whole
// key space at rest, and the backend-cost sampler (one reader of Redis's
// INFO: several would count the backend's work once per runner on the
// merge). What each runner does for itself: the oracle on its own
// answers and the durability of its own acknowledged writes (a read-only
// check that stays sound with other writers: versions only grow, an
// unacknowledged nonce counts as in flight), its generator's lag, and a
// cold start of instances only its own target holds back. A follower's
// recovery time is not measured (it has no fault times): flagstorm merge
// measures it on the merged per-second data.
func Execute(ctx context.Context, p *Plan, t Target, o Options) (*Outcome, error) {
	o = o.withDefaults()
	p, tuple, err := p.Segmented(o.Segment, o.Sequence)
	if err != nil {
		return nil, err
	}
	// The sequence the load is striped over, k6's default made explicit
	// (0, FROM, TO, 1): runners striped over different sequences do not
	// add up, and the raw output says which one this runner used.
	o.Sequence = tuple.Sequence()
	spec := p.Spec
	log := o.Logger.With("scenario", spec.Name)
	owner := o.ownsTimeline()
	started := p
	if !owner {
		started = p.followed()
		log = log.With("segment", tuple.Segment().String())
	}
	sys, err := t.Start(ctx, started, o.Stderr, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := sys.Close(cctx); err != nil {
			log.Warn("target close", "err", err)
		}
	}()
	if !owner {
		// The owner of the timeline alone touches the faults.
		sys.Faults = nil
		fmt.Fprintf(o.Stderr, "segment %s of %s: the runner of the segment starting at 0 checks the target (preflight) and applies the timeline's faults and actions; this one follows the phases\n", tuple.Segment(), tuple.Sequence())
	} else {
		rep, err := Preflight(ctx, p, cmp.Or(t.Name(), strings.Join(secret.URLs(sys.URLs), ", ")), sys)
		if err != nil {
			return nil, err
		}
		if len(rep.Checked) > 0 {
			fmt.Fprintf(o.Stderr, "preflight: the target meets the contract and its traffic crosses the proxies (%d checks in %s)\n", len(rep.Checked), rep.Elapsed.Round(time.Millisecond))
		}
	}
	if owner && p.HasFaults() && sys.Faults == nil {
		return nil, &InvalidError{Err: fmt.Errorf("%s injects faults (phases %s), and target %q has no Toxiproxy to inject them with", spec.File, strings.Join(p.Disturbances(), ", "), t.Name())}
	}
	if owner && p.HasActions() && sys.Primary == nil && len(sys.RedisAddrs) == 0 {
		return nil, &InvalidError{Err: fmt.Errorf("%s acts on the Redis primary (phases %s), and the harness cannot reach target %q's Redis", spec.File, strings.Join(p.Disturbances(), ", "), t.Name())}
	}
	var session *toxics.Session
	if sys.Faults != nil {
		if rem, ok := sys.Faults.(*toxics.Remote); ok {
			// A shared server: the run's faults carry its id and expire
			// after the planned end, so that the next run removes them
			// even when this one is killed (SIGKILL) before its cleanup.
			rem.SetExpiry(time.Now().Add(spec.Duration() + FaultExpiryMargin))
			log = log.With("run_id", rem.Owner().RunID)
			fmt.Fprintf(o.Stderr, "faults on the shared Toxiproxy carry run id %s and expire at %s\n", rem.Owner().RunID, rem.Owner().Expires.Format(time.RFC3339))
		}
		session = toxics.NewSession(sys.Faults, log)
		if err := session.Begin(ctx); err != nil {
			return nil, fmt.Errorf("reset toxics before the run: %w", err)
		}
		defer func() {
			if err := session.Cleanup(ctx); err != nil {
				log.Error("fault cleanup", "err", err)
			}
		}()
	}
	tel := telemetry.New()
	if o.MetricsAddr != "" {
		at, stop, err := tel.Serve(ctx, o.MetricsAddr)
		if err != nil {
			return nil, &InvalidError{Err: fmt.Errorf("--metrics-addr: %w", err)}
		}
		defer stop()
		fmt.Fprintf(o.Stderr, "metrics on http://%s/metrics\n", at)
	}
	r := &execution{plan: p, target: t, sys: sys, session: session, tel: tel, opts: o, log: log, tuple: tuple, follower: !owner}
	if err := r.drive(ctx); err != nil {
		return nil, err
	}
	return r.finish(ctx)
}

// FaultExpiryMargin is how long after its planned end a run's faults on
// a shared Toxiproxy (--toxiproxy-url) stay its own: past that, any later
// run removes them (see toxics.Owner). It covers the graceful stop, the
// post-run measures, the reports and the cleanup.
const FaultExpiryMargin = 5 * time.Minute

// execution is one run in progress: what drive measures and finish
// judges.
type execution struct {
	plan    *Plan
	target  Target
	sys     *System
	session *toxics.Session
	tel     *telemetry.Metrics
	opts    Options
	log     *slog.Logger

	rec    *record.Recorder
	orc    *oracle.Oracle // nil: no oracle
	res    *engine.Result
	events []timeline.Event
	cold   *coldStart
	cost   *redisCost
	ev     Evidence // what finish measured, for the raw output

	// tuple is this runner's segment within its sequence (the whole run
	// when not split); follower is true when another runner owns the
	// fault timeline (Execute says what a follower leaves to it).
	tuple    *segment.Tuple
	follower bool
	// shared is the start agreed at the rendezvous, nil without one: its
	// Skew.Offset added to this runner's times puts them on the leader's
	// clock.
	shared *rendezvous.Start
}

// rendezvous waits for the shared start and then until its instant.
func (r *execution) rendezvous(ctx context.Context) error {
	o := r.opts
	fmt.Fprintf(o.Stderr, "segment %s: waiting for the other runners at the rendezvous\n", r.tuple.Segment())
	st, err := o.Rendezvous.Await(ctx)
	var refused *rendezvous.RefusedError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &refused):
		return &InvalidError{Err: err}
	case err != nil:
		return err
	}
	r.shared = &st
	if rem, ok := r.sys.Faults.(*toxics.Remote); ok {
		// The faults expire after the planned end counted from the
		// start, however long the rendezvous took.
		rem.SetExpiry(st.At.Add(r.plan.Spec.Duration() + FaultExpiryMargin))
	}
	if st.Led {
		fmt.Fprintf(o.Stderr, "shared start: all %d runners in; the load starts in %s\n", st.Runners, time.Until(st.At).Round(time.Millisecond))
	} else {
		fmt.Fprintf(o.Stderr, "shared start: all %d runners in; clock offset to the leader %s; the load starts in %s\n", st.Runners, st.Skew, time.Until(st.At).Round(time.Millisecond))
	}
	wait := time.NewTimer(time.Until(st.At))
	defer wait.Stop()
	select {
	case <-wait.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drive runs the load with the timeline, the oracle, the cold start and
// the backend-cost sampler beside it, and returns when all are done.
func (r *execution) drive(ctx context.Context) error {
	spec, sys := r.plan.Spec, r.sys
	def, mixes, err := r.plan.Mixes(sys.URLs, sys.AdminToken, sys.Oracle)
	if err != nil {
		return &InvalidError{Err: err}
	}
	if r.opts.Rendezvous != nil {
		// Everything that takes time is done: wait for the other runners
		// and then for the agreed instant.
		if err := r.rendezvous(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	if r.shared != nil {
		// The agreed instant, not the timer's wake-up: every runner's
		// phases are offsets from it.
		start = r.shared.At
	}
	r.rec = record.New(start)
	if f := sys.Oracle; f.Name != "" {
		if f.Nonce {
			f.Prefix = request.NoncePrefix
		}
		r.orc = oracle.NewWith(f)
		if !r.tuple.IsFull() {
			// A runner sees only its own writes: it keeps its reads for
			// flagstorm merge, which judges them against every runner's.
			r.orc.Keep(start)
		}
	}
	r.tel.Scenarios(spec.Name)
	if r.orc != nil {
		r.tel.Checked(spec.Name, r.plan.Phases.Names(), metric.Sources())
	}
	cfg := engine.Config{
		Plan: r.plan.Load, Mix: def, Mixes: mixes, Thresholds: r.plan.Thresholds,
		Phases: r.plan.Phases, RequestTimeout: spec.RequestTimeout, MaxVUs: r.plan.MaxVUs,
		Start: start, Recorder: r.rec, Logger: r.log, SourceHeader: cmp.Or(sys.SourceHeader, "-"),
		Observe: r.observe,
		Dropped: func(string) { r.tel.Dropped(spec.Name) },
	}
	if r.opts.Progress {
		cfg.Progress = progressPrinter(r.opts.Stderr, r.opts.Live)
	}
	if spec.Target.Start != "" && sys.StartDeferred != nil {
		r.cold = newColdStart(spec)
	}
	side, stopSide := context.WithCancel(ctx)
	defer stopSide()
	var g errgroup.Group
	if !r.follower {
		g.Go(func() error {
			r.events = timeline.Run(side, start, r.plan.Steps, timeline.Topology{
				Session: r.session, Primary: sys.Primary, Replica: sys.Replica, PrimaryAddr: firstOr(sys.RedisAddrs), Password: sys.RedisPassword,
				Proxy: sys.RedisProxy, ReplicaProxy: sys.ReplicaProxy,
			}, timeline.Hooks{Changed: r.phaseChanged}, r.log)
			return nil
		})
	}
	if addrs := redisAddrs(sys); len(addrs) > 0 && !r.follower {
		r.cost = &redisCost{password: sys.RedisPassword}
		g.Go(func() error { r.cost.run(side, addrs); return nil })
	}
	if r.cold != nil {
		g.Go(func() error { r.cold.run(side, start, sys.StartDeferred); return nil })
	}
	fmt.Fprintf(r.opts.Stderr, "running %s%s for %s\n", spec.Name, describeTarget(r.target, sys), spec.Duration())
	res, err := engine.Run(ctx, cfg)
	stopSide()
	_ = g.Wait()
	if r.opts.Progress {
		fmt.Fprintln(r.opts.Stderr)
	}
	if err != nil {
		return err
	}
	r.res = res
	return nil
}

func describeTarget(t Target, sys *System) string {
	if t.Name() != "" {
		return " (" + t.Name() + ")"
	}
	return " against " + strings.Join(secret.URLs(sys.URLs), ", ")
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func redisAddrs(sys *System) []string {
	out := slices.Clone(sys.RedisAddrs)
	for _, s := range []*toxics.RedisServer{sys.Primary, sys.Replica} {
		if s != nil {
			out = append(out, s.Addr())
		}
	}
	return out
}

// observe sees every response: telemetry, and the oracle's checks.
func (r *execution) observe(resp engine.Response) {
	spec := r.plan.Spec.Name
	r.tel.Request(spec, resp.Phase, resp.Template.Name, resp.Source, resp.Status, resp.Done.Sub(resp.Intended))
	if r.orc == nil || resp.Err != nil || resp.Status != 200 {
		return
	}
	switch resp.Template.Method {
	case "PATCH", "PUT", "POST":
		_ = r.orc.Acknowledge(resp.Body, resp.Sent, resp.Done)
	case "GET":
		stale, nonmono := r.orc.ReadAs(resp.Body, resp.Sent, resp.Done, oracle.Label{Scenario: resp.Scenario, Name: resp.Template.Name, Phase: resp.Phase, Source: resp.Source})
		if len(stale)+len(nonmono) == 0 {
			return
		}
		tags := record.Tags{Scenario: resp.Scenario, Phase: resp.Phase, Source: resp.Source, Name: resp.Template.Name}
		for _, s := range stale {
			r.rec.Count(metric.StaleReads, tags, 1)
			r.rec.Observe(metric.Staleness, tags, s.Staleness)
			r.tel.StaleRead(spec, resp.Phase, resp.Source)
		}
		r.rec.Count(metric.NonMonotonicReads, tags, float64(len(nonmono)))
	}
}

// phaseChanged follows the timeline: it fires the cold start and keeps
// the fault gauges.
func (r *execution) phaseChanged(s timeline.Step, active bool) {
	if r.cold != nil && active && s.Name == r.cold.phase {
		r.cold.fire()
	}
	spec := r.plan.Spec.Name
	if s.Fault != nil {
		r.tel.Fault(spec, s.Name, s.Fault.Proxy, s.Fault.Kind.String(), active)
	} else {
		r.tel.Fault(spec, s.Name, r.sys.RedisProxy, s.Action.String(), active)
	}
}

// finish takes the post-run measures, judges the run once and reports it.
func (r *execution) finish(ctx context.Context) (*Outcome, error) {
	spec, res := r.plan.Spec, r.res
	ev, notes := r.measure(ctx)
	r.ev = ev
	var expected Expected
	if e, ok := r.target.(Expecter); ok {
		expected = e.Expected(spec)
	}
	j := judge(judgeInput{
		thresholds: r.plan.Thresholds, stats: stats(res), evidence: ev, expected: expected,
		interrupted: res.Interrupted, aborted: res.Aborted, ran: res.End.Sub(res.Start),
	})
	rep := summarize(spec, r.target.Name(), strings.Join(r.sys.URLs, ", "), res, j, ev)
	notes = append(r.distributedNotes(), notes...)
	if res.Interrupted {
		// What was recorded until the signal, marked as such; the judge
		// made the verdict "interrupted" whatever the thresholds say.
		rep.Partial = true
		rep.PartialReason = partialReason(r.plan.Phases, res.End.Sub(res.Start), spec.Duration(), context.Cause(ctx))
	}
	for i := range rep.Phases {
		if i >= len(r.events) {
			continue
		}
		e := r.events[i]
		rep.Phases[i].Applied, rep.Phases[i].Removed = e.Applied, e.Removed
		if e.Err != nil {
			notes = append(notes, fmt.Sprintf("phase %s: %v", e.Phase, e.Err))
		}
		if f := e.Failover; f != nil {
			notes = append(notes, fmt.Sprintf("phase %s: failover %s -> %s, no primary for %s", e.Phase, f.OldPrimary, f.NewPrimary, f.Outage().Round(time.Microsecond)))
		}
	}
	rep.Notes = append(notes, j.Notes...)
	out := &Outcome{Target: r.target.Name(), Report: rep, Judgement: j}
	return out, r.report(ctx, out)
}

// distributedNotes say which part of a split run this runner ran, who
// owned the timeline and how the start was agreed; nil for a whole run.
func (r *execution) distributedNotes() []string {
	if r.tuple.IsFull() && r.shared == nil {
		return nil
	}
	var notes []string
	if !r.tuple.IsFull() {
		role := "it owns the fault timeline"
		if r.follower {
			role = "the runner of the segment starting at 0 owns the fault timeline (faults, actions, preflight, read-back, backend cost); this runner followed the phases"
		}
		notes = append(notes, fmt.Sprintf("segment %s of the sequence %s: this runner ran its share of the load; %s; judge the whole run with flagstorm merge", r.tuple.Segment(), r.tuple.Sequence(), role))
	}
	if r.shared != nil {
		notes = append(notes, r.shared.Notes()...)
	} else {
		notes = append(notes, "no shared start (--rendezvous): this runner began at once; its phases line up with the other runners' only as far as they were started together")
	}
	return notes
}

// measure takes the measures only known once the load is over and says
// what the run could not measure.
func (r *execution) measure(ctx context.Context) (Evidence, []string) {
	spec, res, sys := r.plan.Spec, r.res, r.sys
	var notes []string
	ev := Evidence{Sources: hasSources(r.rec), Starved: starved(res.Generator)}
	switch {
	case r.orc == nil:
		ev.NoOracle = "the harness is not the only writer of this target's data"
		ev.NoDurability = ev.NoOracle
	case sys.Truth == nil:
		ev.NoDurability = sys.NoTruth
		notes = append(notes, "durability: not checked ("+sys.NoTruth+")")
	default:
		lost := r.orc.VerifyDurable(context.WithoutCancel(ctx), sys.Truth)
		r.rec.Count(metric.LostWrites, record.Tags{}, float64(len(lost)))
		for _, l := range lost {
			notes = append(notes, "LOST WRITE "+l.String())
		}
		notes = append(notes, fmt.Sprintf("durability: %d flag(s) written, checked in %s, %d lost", r.orc.Written(), sys.TruthName, len(lost)))
		if _, db := sys.Truth.(pgTruth); db && !r.follower {
			notes = append(notes, r.readBack(ctx)...)
		}
	}
	if r.cold != nil {
		notes = append(notes, r.cold.record(r.rec, res.Start)...)
	} else {
		ev.NoColdStart = "the scenario has no cold start (target.start), so no start was timed"
	}
	for _, s := range r.plan.Steps {
		if s.Fault != nil || s.Action != 0 {
			ev.Disturbed = append(ev.Disturbed, s.Name)
		}
	}
	rs, band, why := recoveries(spec, r.rec.Buckets(), res.Start, res.End, r.events)
	if r.follower && len(ev.Disturbed) > 0 {
		why = "the runner of the segment starting at 0 applies the faults and has their times; flagstorm merge times the recovery on every runner's per-second data"
	}
	ev.NoRecovery = why
	if why != "" && len(ev.Disturbed) > 0 {
		notes = append(notes, "recovery time: not measured ("+why+")")
	}
	notes = append(notes, recordRecoveries(r.rec, rs, band)...)
	if r.cost != nil {
		notes = append(notes, r.cost.notes(spec, r.rec, res.Start)...)
	}
	notes = append(notes, generatorNotes(res.Generator, ev.Starved)...)
	return ev, notes
}

// ReadBackBound is how long after the run a flag read through the API may
// still be older than the database (in-process caches expiring, a pending
// invalidation retried) before it counts as stale at rest.
const ReadBackBound = 5 * time.Second

// readBack reads every flag of the run's key space (its environments and
// flags) back through the API once the faults are off and compares it
// with the database: an answer still older than
// the database after ReadBackBound is stale at rest (a write whose answer
// never came left the cache behind), counted as
// stale_reads{phase:read-back}.
func (r *execution) readBack(ctx context.Context) []string {
	ctx = context.WithoutCancel(ctx)
	api := apiTruth{base: r.sys.URLs[0], field: r.orc.Field().Name}
	deadline := time.Now().Add(ReadBackBound)
	var all []oracle.Ref
	data := r.plan.Spec.Data
	for _, env := range data.Environments {
		for i := range data.Flags.Len() {
			all = append(all, oracle.Ref{Env: env, Key: data.Flags.At(i)})
		}
	}
	stale := r.orc.ReadBack(ctx, all, api, r.sys.Truth)
	for len(stale) > 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond) // give caches their bound; not synchronization
		stale = r.orc.ReadBack(ctx, all, api, r.sys.Truth)
	}
	r.rec.Count(metric.StaleReads, record.Tags{Phase: ReadBackPhase}, float64(len(stale)))
	notes := []string{fmt.Sprintf("read-back: %d flag(s) (%d written) read through the API with the faults off; %d still differ from the database after up to %s", len(all), r.orc.Written(), len(stale), ReadBackBound)}
	for i, s := range stale {
		if i == 5 {
			notes = append(notes, fmt.Sprintf("read-back: ... and %d more", len(stale)-5))
			break
		}
		notes = append(notes, fmt.Sprintf("STALE AT REST %s/%s: the API answers %s, the database holds %s", s.Env, s.Key, s.Got, s.Want))
	}
	return notes
}

// ReadBackPhase tags what the read-back after the run finds.
const ReadBackPhase = "read-back"

// hasSources reports whether any response carried a source header.
func hasSources(rec *record.Recorder) bool {
	for _, t := range rec.TagSets(metric.HTTPReqs.Name()) {
		if t.Source != "" {
			return true
		}
	}
	return false
}

// report prints the summary, writes the files, exports the verdicts and
// pushes the metrics.
func (r *execution) report(ctx context.Context, out *Outcome) error {
	spec, o := r.plan.Spec, r.opts
	for _, res := range out.Judgement.Summary.Results {
		r.tel.Verdict(spec.Name, res.Threshold.String(), res.Verdict().String())
	}
	r.tel.Run(spec.Name, out.Target, out.Report.Verdict)
	if err := report.WriteSummary(o.Stdout, out.Report, report.SummaryOptions{Color: o.Color}); err != nil {
		return err
	}
	if o.Out != "" {
		dir := o.Out
		if o.Nest {
			dir = filepath.Join(o.Out, spec.Name, out.Target)
		}
		if err := WriteReports(dir, out.Report); err != nil {
			return err
		}
		if err := r.writeRaw(dir, out); err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "reports in %s (summary.json, junit.xml, report.html)\n", dir)
	}
	if o.PushGateway != "" {
		job := spec.Name
		if out.Target != "" {
			job += "-" + out.Target
		}
		if err := r.tel.Push(context.WithoutCancel(ctx), o.PushGateway, job); err != nil {
			fmt.Fprintf(o.Stderr, "flagstorm: %v\n", err)
		}
	}
	return nil
}

// WriteReports writes summary.json, junit.xml and report.html into dir,
// creating it.
func WriteReports(dir string, run report.Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer, report.Run) error{
		"summary.json": report.WriteJSON,
		"junit.xml":    report.WriteJUnit,
		"report.html":  report.WriteHTML,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = write(f, run)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// progressPrinter redraws one line on a terminal, and logs a line every
// five seconds otherwise (CI logs).
func progressPrinter(w io.Writer, live bool) func(engine.Status) {
	if live {
		return func(s engine.Status) { fmt.Fprintf(w, "\r\033[K%s", s) }
	}
	var last time.Duration
	return func(s engine.Status) {
		if s.Elapsed-last >= 5*time.Second {
			last = s.Elapsed
			fmt.Fprintln(w, s)
		}
	}
}
