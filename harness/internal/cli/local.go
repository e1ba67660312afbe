package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/stack"
	"github.com/flagstorm/flagstorm/harness/internal/telemetry"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"
)

// localOutcome is one profile's run on the local stack.
type localOutcome struct {
	Profile    string
	Run        report.Run
	Unexpected []string // thresholds that failed but were not expected to, or passed but were expected to fail
}

// runLocal runs a scenario on the local stack, once per profile it names,
// with its fault timeline, the oracle and the expectations.
func runLocal(ctx context.Context, e env, spec *scenarios.Spec, ts []verdict.Threshold, o runOptions, log *slog.Logger) ([]localOutcome, error) {
	var outs []localOutcome
	profiles := spec.Profiles()
	if o.profile != "" {
		p, _ := scenarios.ParseProfile(o.profile)
		profiles = []scenarios.Profile{p}
	}
	for _, p := range profiles {
		if ctx.Err() != nil {
			break
		}
		out, err := runLocalProfile(ctx, e, spec, ts, o, p.String(), log)
		if err != nil {
			return outs, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func runLocalProfile(ctx context.Context, e env, spec *scenarios.Spec, ts []verdict.Threshold, o runOptions, profile string, log *slog.Logger) (localOutcome, error) {
	token := randomToken()
	fmt.Fprintf(e.stderr, "starting the stack for %s (profile %s, %d instance(s))\n", spec.Name, profile, spec.Instances)
	for _, k := range slices.Sorted(maps.Keys(o.flagserverEnv)) {
		fmt.Fprintf(e.stderr, "  flagserver environment: %s=%s\n", k, o.flagserverEnv[k])
	}
	st, err := stack.Start(ctx, stack.Config{
		Instances:      spec.Instances,
		Profiles:       []string{profile},
		FlagserverBin:  o.flagserverBin,
		DatabaseURL:    o.databaseURL,
		SeedFlags:      max(stack.DefaultSeedFlags, spec.Data.Flags.Len()),
		AdminToken:     token,
		MemoryCacheTTL: spec.MemoryCacheTTL,
		Env:            o.flagserverEnv,
		DeferTargets:   spec.Target.Start != "",
		Logger:         log,
	})
	if err != nil {
		if ctx.Err() != nil {
			return localOutcome{}, &exitError{code: ExitInterrupted, err: err}
		}
		return localOutcome{}, &exitError{code: ExitInfra, err: err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			log.Warn("stack close", "err", err)
		}
	}()
	ep := st.Endpoints()
	fmt.Fprintf(e.stderr, "stack ready in %s: %s\n", st.ReadyIn().Round(time.Millisecond), strings.Join(ep.TargetURLs, ", "))
	var cold *targetStarter
	if spec.Target.Start != "" {
		cold = newTargetStarter(spec)
		fmt.Fprintf(e.stderr, "flagserver(s) not started yet: they start at phase %s (target.start)\n", cold.phase)
	}

	session := toxics.NewSession(st.Controller(), log)
	if err := session.Begin(ctx); err != nil {
		return localOutcome{}, &exitError{code: ExitInfra, err: fmt.Errorf("reset toxics before the run: %w", err)}
	}
	defer func() {
		if err := session.Cleanup(ctx); err != nil {
			log.Error("fault cleanup", "err", err)
		}
	}()

	def, mixes, err := mixesOf(spec, ep.TargetURLs, token)
	if err != nil {
		return localOutcome{}, usageError("%v", err)
	}
	plan, maxVUs := planOf(spec)
	tel := telemetry.New()
	stopMetrics, err := serveMetrics(ctx, e, tel, o.metricsAddr)
	if err != nil {
		return localOutcome{}, err
	}
	defer stopMetrics()
	orc := oracle.New()
	var rec *record.Recorder
	recorder := func() *record.Recorder { return rec }
	steps, err := stepsOf(spec)
	if err != nil {
		return localOutcome{}, usageError("%v", err)
	}
	start := time.Now()
	tel.Scenarios(spec.Name)
	phases := phasesOf(spec)
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = p.Name
	}
	tel.Checked(spec.Name, names, scenarios.KnownSources())
	cfg := engine.Config{
		Dropped: func(string) { tel.Dropped(spec.Name) },
		Plan:    plan, Mix: def, Mixes: mixes, Thresholds: ts, Catalog: verdict.DefaultCatalog(),
		Phases: phases, RequestTimeout: spec.RequestTimeout, MaxVUs: maxVUs, Start: start,
		Logger: log,
	}
	cfg.Observe = func(r engine.Response) {
		tel.Request(spec.Name, r.Phase, r.Template.Name, r.Source, r.Status, r.Done.Sub(r.Intended))
		if r.Err != nil || r.Status != 200 {
			return
		}
		switch r.Template.Method {
		case "PATCH", "PUT", "POST":
			_ = orc.Acknowledge(r.Body, r.Done)
		case "GET":
			for _, s := range orc.Check(r.Body, r.Sent) {
				if rr := recorder(); rr != nil {
					tags := record.Tags{Scenario: spec.Name, Phase: r.Phase, Source: r.Source, Name: r.Template.Name}
					rr.Add("stale_reads", tags, 1)
					rr.Add("staleness_seconds", tags, float64(s.Staleness.Microseconds()))
				}
				tel.StaleRead(spec.Name, r.Phase, r.Source)
			}
		}
	}
	if !o.quiet {
		cfg.Progress = progressPrinter(e.stderr)
	}
	// The recorder exists once the engine starts: OnStart hands it over
	// before the first request, so the observer can record stale reads.
	var events []timeline.Event
	tlDone := make(chan struct{})
	tlCtx, tlCancel := context.WithCancel(ctx)
	go func() {
		defer close(tlDone)
		events = timeline.Run(tlCtx, start, steps, timeline.Topology{
			Session: session, Primary: st.Primary(), Replica: st.Replica(),
			Proxy: stack.ProxyRedis, ReplicaProxy: stack.ProxyRedisReplica,
		}, timeline.Hooks{Changed: func(s timeline.Step, active bool) {
			if cold != nil && active && s.Phase == cold.phase {
				cold.fire()
			}
			if s.Fault != nil {
				tel.Fault(spec.Name, s.Phase, s.Fault.Proxy, s.Fault.Kind.String(), active)
			} else {
				tel.Fault(spec.Name, s.Phase, stack.ProxyRedis, s.Action.String(), active)
			}
		}}, log)
	}()
	cfg.OnStart = func(r *record.Recorder) { rec = r }
	cost := &redisCost{}
	costCtx, costCancel := context.WithCancel(ctx)
	costDone := make(chan struct{})
	var redisAddrs []string
	for _, r := range []*toxics.RedisServer{st.Primary(), st.Replica()} {
		if r != nil {
			redisAddrs = append(redisAddrs, r.Addr())
		}
	}
	go func() {
		defer close(costDone)
		cost.run(costCtx, redisAddrs)
	}()
	coldCtx, coldCancel := context.WithCancel(ctx)
	if cold != nil {
		go cold.run(coldCtx, st, start)
	}
	fmt.Fprintf(e.stderr, "running %s (profile %s) for %s\n", spec.Name, profile, spec.Duration())
	res, err := engine.Run(ctx, cfg)
	coldCancel()
	if cold != nil {
		<-cold.done
	}
	tlCancel()
	<-tlDone
	costCancel()
	<-costDone
	if err != nil {
		return localOutcome{}, err
	}
	if !o.quiet {
		fmt.Fprintln(e.stderr)
	}

	// Nothing acknowledged may be lost.
	var notes []string
	if ep.DatabaseURL != "" {
		lost := orc.VerifyDurable(context.WithoutCancel(ctx), pgTruth{url: ep.DatabaseURL})
		res.Recorder.Add("lost_writes", record.Tags{Scenario: spec.Name}, float64(len(lost)))
		for _, l := range lost {
			notes = append(notes, "LOST WRITE "+l.String())
		}
		notes = append(notes, fmt.Sprintf("durability: %d acknowledged write(s) checked in PostgreSQL, %d lost", len(orc.Written()), len(lost)))
	} else {
		notes = append(notes, "durability: not checked (SQLite database)")
	}
	if cold != nil {
		notes = append(notes, cold.record(res, start)...)
	}
	notes = append(notes, recoveryTimes(spec, res, events)...)
	notes = append(notes, cost.notes(spec, res.Recorder, start)...)
	res.Reevaluate(ts, verdict.DefaultCatalog())

	run := summarize(spec, profile, strings.Join(ep.TargetURLs, ", "), res)
	for i := range run.Phases {
		if i < len(events) {
			run.Phases[i].Applied, run.Phases[i].Removed = events[i].Applied, events[i].Removed
			if events[i].Err != nil {
				notes = append(notes, fmt.Sprintf("phase %s: %v", events[i].Phase, events[i].Err))
			}
			if f := events[i].Failover; f != nil {
				notes = append(notes, fmt.Sprintf("phase %s: failover %s -> %s, no primary for %s", events[i].Phase, f.OldPrimary, f.NewPrimary, f.Outage().Round(time.Microsecond)))
			}
		}
	}
	// Expectations: a profile may be expected to fail named thresholds.
	out := localOutcome{Profile: profile}
	p, _ := scenarios.ParseProfile(profile)
	anyExpected := false
	for _, r := range res.Summary.Results {
		expected := spec.Expected(p, r.Threshold.Key, r.Threshold.Index)
		anyExpected = anyExpected || expected
		failed := r.Verdict() == verdict.Fail
		switch {
		case failed && expected:
			notes = append(notes, "expected failure: "+r.String())
		case failed:
			out.Unexpected = append(out.Unexpected, "unexpected failure: "+r.Threshold.String())
		case expected:
			out.Unexpected = append(out.Unexpected, "expected to fail but "+r.Verdict().String()+": "+r.Threshold.String())
		}
	}
	if anyExpected && !res.Interrupted {
		if len(out.Unexpected) == 0 {
			run.Verdict, run.ExitCode = report.VerdictPass, ExitOK
			notes = append(notes, fmt.Sprintf("profile %s failed exactly the thresholds the scenario expects it to fail", profile))
		} else {
			run.Verdict, run.ExitCode = report.VerdictFail, ExitFailed
		}
	}
	notes = append(notes, out.Unexpected...)
	run.Notes = append(run.Notes, notes...)
	for _, r := range res.Summary.Results {
		tel.Verdict(spec.Name, r.Threshold.String(), r.Verdict().String())
	}
	tel.Run(spec.Name, profile, run.Verdict)
	if err := report.WriteSummary(e.stdout, run, report.SummaryOptions{Color: isTerminal(e.stdout)}); err != nil {
		return out, err
	}
	if o.out != "" {
		dir := filepath.Join(o.out, spec.Name, profile)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return out, err
		}
		if err := writeReports(dir, run); err != nil {
			return out, err
		}
		fmt.Fprintf(e.stderr, "reports in %s\n", dir)
	}
	if o.pushGateway != "" {
		if err := tel.Push(context.WithoutCancel(ctx), o.pushGateway, spec.Name+"-"+profile); err != nil {
			fmt.Fprintf(e.stderr, "flagstorm: %v\n", err)
		}
	}
	out.Run = run
	return out, nil
}

// targetStarter starts the flagservers of a scenario with target.start
// (a cold start): at the beginning of that phase, once its fault is
// applied or its action done (the timeline's Changed hook fires it), or
// at the phase's start if it has neither. It records each start's time to
// ready as target_ready_time.
type targetStarter struct {
	phase string
	at    time.Duration // the phase's start, from the run's start
	end   time.Duration // the phase's end: start anyway if the fault never came on
	hook  bool          // the phase has a fault or an action: wait for the hook
	fired chan struct{}
	once  sync.Once
	done  chan struct{} // closed when run returns

	// Set by run before done is closed.
	startedAt time.Time
	ready     []time.Duration
	err       error
	late      bool // started without the hook having fired
}

func newTargetStarter(spec *scenarios.Spec) *targetStarter {
	t := &targetStarter{phase: spec.Target.Start, fired: make(chan struct{}), done: make(chan struct{})}
	for i, p := range spec.Timeline {
		if p.Name == t.phase {
			t.at, t.end = p.At, spec.PhaseEnd(i)
			t.hook = p.Fault != nil || p.Action != 0
		}
	}
	return t
}

// fire says the phase's fault is on.
func (t *targetStarter) fire() { t.once.Do(func() { close(t.fired) }) }

// run waits for the phase, starts the flagservers and waits until they
// are ready or ctx ends (the run is over).
func (t *targetStarter) run(ctx context.Context, st *stack.Stack, start time.Time) {
	defer close(t.done)
	wait := t.at
	if t.hook {
		wait = t.end
	}
	timer := time.NewTimer(time.Until(start.Add(wait)))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		t.err = fmt.Errorf("the run ended before phase %s began", t.phase)
		return
	case <-t.fired:
	case <-timer.C:
		t.late = t.hook
	}
	t.startedAt = time.Now()
	t.ready, t.err = st.StartTargets(ctx)
}

// record adds target_ready_time{phase:...} (the slowest instance, in
// milliseconds) and returns notes. An instance that never became ready
// counts with the time it was waited for: a lower bound, said so.
func (t *targetStarter) record(res *engine.Result, start time.Time) []string {
	if t.startedAt.IsZero() {
		return []string{fmt.Sprintf("cold start: the flagservers never started: %v", t.err)}
	}
	var notes []string
	if t.late {
		notes = append(notes, fmt.Sprintf("cold start: phase %s's fault or action never came on; the flagservers started at the phase's end", t.phase))
	}
	var slowest time.Duration
	parts := make([]string, len(t.ready))
	for i, d := range t.ready {
		slowest = max(slowest, d)
		parts[i] = fmt.Sprintf("flagserver[%d] %.1f ms", i, float64(d)/float64(time.Millisecond))
	}
	res.Recorder.Add("target_ready_time", record.Tags{Phase: t.phase}, float64(slowest)/float64(time.Millisecond))
	notes = append(notes, fmt.Sprintf("cold start: flagservers started %.3f s into the run (phase %s), process start to ready: %s",
		t.startedAt.Sub(start).Seconds(), t.phase, strings.Join(parts, ", ")))
	if t.err != nil {
		msg, _, _ := strings.Cut(t.err.Error(), "\n") // not the log tail
		notes = append(notes, fmt.Sprintf("cold start: not ready (target_ready_time counts the time waited, a lower bound): %s", msg))
	}
	return notes
}

// stepsOf maps the scenario's timeline onto timeline steps.
func stepsOf(spec *scenarios.Spec) ([]timeline.Step, error) {
	var steps []timeline.Step
	for i, p := range spec.Timeline {
		s := timeline.Step{Phase: p.Name, Start: p.At, End: spec.PhaseEnd(i), Rejoin: p.Rejoin}
		if i == len(spec.Timeline)-1 && p.For == 0 {
			s.End = 0
		}
		if p.Fault != nil {
			f, err := p.Fault.Fault()
			if err != nil {
				return nil, fmt.Errorf("%s: phase %s: %w", spec.File, p.Name, err)
			}
			s.Fault = &f
		}
		switch p.Action {
		case scenarios.ActionFailover:
			s.Action = timeline.Failover
		case scenarios.ActionCrash:
			s.Action = timeline.Crash
		case scenarios.ActionRestart:
			s.Action = timeline.Restart
		case scenarios.ActionFlush:
			s.Action = timeline.Flush
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// recoveryTimes records, for every phase with a fault or action, how long
// after it ended the per-second windows were back within the steady-state
// band: three consecutive seconds with p95 at most twice the first phase's
// median p95 (plus 5 ms) and no more failures than that phase had per
// second. Recorded as recovery_time{phase:...} in seconds.
func recoveryTimes(spec *scenarios.Spec, res *engine.Result, events []timeline.Event) []string {
	buckets := res.Recorder.Buckets()
	if len(spec.Timeline) < 2 || len(buckets) == 0 {
		return nil
	}
	first := spec.Timeline[0]
	if first.Fault != nil || first.Action != 0 {
		return []string{"recovery time: not measured (the first phase is not a steady state)"}
	}
	endFirst := int(spec.PhaseEnd(0) / time.Second)
	var p95s []float64
	var failed int64
	for _, b := range buckets[:min(endFirst, len(buckets))] {
		if b.Requests > 0 {
			p95s = append(p95s, b.Quantile(95))
			failed = max(failed, b.Failed)
		}
	}
	if len(p95s) == 0 {
		return nil
	}
	sort.Float64s(p95s)
	band := 2*p95s[len(p95s)/2] + 5000 // µs
	var notes []string
	for i, ev := range events {
		if ev.Removed.IsZero() && (i >= len(spec.Timeline) || spec.Timeline[i].Action == 0) {
			continue
		}
		end := ev.Removed
		if end.IsZero() {
			end = ev.Applied // actions: from when they were done
		}
		if end.IsZero() {
			continue
		}
		from := int(end.Sub(res.Start) / time.Second)
		rec := -1.0
		for s := from; s+2 < len(buckets); s++ {
			ok := true
			for _, b := range buckets[s : s+3] {
				if b.Requests == 0 || b.Quantile(95) > band || b.Failed > failed {
					ok = false
					break
				}
			}
			if ok {
				rec = max(0, res.Start.Add(time.Duration(s)*time.Second).Sub(end).Seconds())
				break
			}
		}
		tags := record.Tags{Phase: ev.Phase}
		if rec < 0 {
			rec = res.End.Sub(end).Seconds()
			notes = append(notes, fmt.Sprintf("recovery after %s: not back within the steady band (p95 ≤ %.1f ms) before the run ended (%.1f s)", ev.Phase, band/1000, rec))
		} else {
			notes = append(notes, fmt.Sprintf("recovery after %s: %.1f s (steady band p95 ≤ %.1f ms)", ev.Phase, rec, band/1000))
		}
		res.Recorder.Add("recovery_time", tags, rec)
	}
	return notes
}

// pgTruth reads flag versions straight from PostgreSQL, not through the
// proxies the faults are on.
type pgTruth struct{ url string }

func (p pgTruth) Version(ctx context.Context, env, key string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v int64
	err = conn.QueryRow(ctx, `SELECT version FROM feature_flags WHERE environment = $1 AND key = $2`, env, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
