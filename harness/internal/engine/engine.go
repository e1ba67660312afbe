// Package engine runs one load test: it drives the executors, sends the
// templated HTTP requests, records every measurement into the recorder
// its caller gives it, judges the abortOnFail thresholds live, watches
// its own schedule (late iterations, a scheduler-lag probe), and returns
// the material for the judge and the reports. It knows nothing of
// scenario files, targets or verdicts: package run maps those onto a
// Config and judges the run once it is over.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/load"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/request"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"

	"github.com/flagstorm/flagstorm/internal/phase"
)

// Phase is a named span of the run, used to tag measurements (the one
// phase model, package phase).
type Phase = phase.Span

// Config is one run.
type Config struct {
	Plan load.Plan
	// Mix is the request mix of every scenario not in Mixes.
	Mix *request.Mix
	// Mixes, by scenario name, restrict scenarios to their own requests.
	Mixes      map[string]*request.Mix
	Thresholds []verdict.Threshold
	Phases     phase.Timeline
	// RequestTimeout bounds each request. Default 10s.
	RequestTimeout time.Duration
	// MaxVUs sizes the HTTP connection pool. Default 100.
	MaxVUs int
	// Progress, when not nil, receives a status line every second.
	Progress func(Status)
	// Observe, when not nil, sees every response (the oracle, telemetry).
	// It runs on the VU's goroutine: it must be fast and must not retain
	// the body.
	Observe func(Response)
	Logger  *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Start is the run's time zero, shared with the fault timeline.
	// Zero: the Recorder's start, or when Run is called.
	Start time.Time
	// SourceHeader is the response header the source tag comes from.
	// "": X-Flag-Source; "-": none (the target sends no such header).
	SourceHeader string
	// Recorder receives every measurement; the caller creates it (so its
	// observers and post-run measures write into the same one) and reads
	// it after Run. nil: Run makes one, returned in the Result.
	Recorder *record.Recorder
	// Dropped, when not nil, sees every dropped arrival (open model) by
	// its scenario, for observers (telemetry).
	Dropped func(scenario string)
}

// Response is one request's outcome, for observers.
type Response struct {
	Scenario string // the k6 scenario whose iteration sent it
	Template *request.Compiled
	Drawn    request.Drawn
	Phase    string
	Status   int
	Source   string
	Body     []byte
	Err      error
	Intended time.Time
	Sent     time.Time
	Done     time.Time
}

// Status is the live state of a run.
type Status struct {
	Elapsed  time.Duration
	Phase    string
	VUs      int
	RPS      float64 // requests completed in the last full second
	P95      time.Duration
	Errors   int64 // failed requests so far
	Requests int64
	Dropped  int64
}

// Result is what a run produced. It holds no verdict: the caller judges
// the thresholds once every measure is in.
type Result struct {
	Start, End time.Time
	Recorder   *record.Recorder
	// Aborted names the abortOnFail threshold that stopped the run.
	Aborted *verdict.Result
	// Interrupted is true when ctx ended the run early.
	Interrupted bool
	Stats       []load.Stats
	// Generator is how well the load generator kept its own schedule,
	// by phase ("" for time outside every phase).
	Generator map[string]GeneratorStats
}

// Run executes cfg. It returns an error only when the run could not
// happen; failed thresholds are in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Mix == nil {
		return nil, errors.New("engine: no request mix")
	}
	if err := cfg.Plan.Validate(); err != nil {
		return nil, err
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.MaxVUs <= 0 {
		cfg.MaxVUs = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	runner, err := load.New(cfg.Plan)
	if err != nil {
		return nil, err
	}
	rec := cfg.Recorder
	start := cfg.Start
	switch {
	case start.IsZero() && rec != nil:
		start = rec.Start()
	case start.IsZero():
		start = cfg.Now()
	}
	if rec == nil {
		rec = record.New(start)
	}
	e := &run{
		cfg:    cfg,
		rec:    rec,
		client: newClient(cfg),
		start:  start,
	}
	e.pool.New = func() any {
		return &vuState{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), resp: request.Response{Body: make([]byte, 0, 4096)}}
	}
	defer e.client.CloseIdleConnections()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &Result{Start: start, Recorder: rec}

	var bg sync.WaitGroup
	stopBG := make(chan struct{})
	bg.Go(func() { e.watch(runCtx, cancel, runner, res, stopBG) })
	probe := newLagProbe(e.phaseAt)
	bg.Go(func() { probe.run(runCtx, stopBG) })

	hooks := load.Hooks{
		Dropped: func(scenario string, intended time.Time) {
			rec.Count(metric.DroppedIterations, record.Tags{Scenario: scenario, Phase: e.phaseAt(intended)}, 1)
			if cfg.Dropped != nil {
				cfg.Dropped(scenario)
			}
		},
		Late: func(scenario string, lag time.Duration) {
			phase := e.phaseAt(cfg.Now())
			rec.Count(metric.LateIterations, record.Tags{Scenario: scenario, Phase: phase}, 1)
			probe.late(phase, lag)
		},
		VUs: func(scenario string, active, allocated int) {
			rec.Set(metric.VUs, record.Tags{Scenario: scenario}, float64(active))
			rec.Set(metric.VUsMax, record.Tags{Scenario: scenario}, float64(allocated))
		},
	}
	runErr := runner.Run(runCtx, e.iterate, hooks)
	close(stopBG)
	bg.Wait()
	res.End = cfg.Now()
	res.Stats = runner.Progress(nil)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return nil, runErr
	}
	res.Interrupted = ctx.Err() != nil
	res.Generator = probe.stats(rec)
	return res, nil
}

// newClient is the run's HTTP client, reading the configured source
// header.
func newClient(cfg Config) *request.Client {
	c := request.NewClient(cfg.MaxVUs, cfg.RequestTimeout, cfg.Now)
	switch cfg.SourceHeader {
	case "":
	case "-":
		c.SetSourceHeader("")
	default:
		c.SetSourceHeader(cfg.SourceHeader)
	}
	return c
}

type run struct {
	cfg    Config
	rec    *record.Recorder
	client *request.Client
	start  time.Time
	pool   sync.Pool
}

type vuState struct {
	rng  *rand.Rand
	out  request.Outgoing
	resp request.Response
}

func (e *run) stats() stats { return stats{rec: e.rec, now: e.cfg.Now} }

func (e *run) phaseAt(t time.Time) string {
	return e.cfg.Phases.At(t.Sub(e.start))
}

// iterate is one iteration: one request from the mix.
func (e *run) iterate(ctx context.Context, it load.Iteration) {
	st := e.pool.Get().(*vuState)
	defer e.pool.Put(st)
	mix := e.cfg.Mix
	if m, ok := e.cfg.Mixes[it.Scenario]; ok {
		mix = m
	}
	tpl := mix.Pick(st.rng)
	phase := e.phaseAt(it.Intended)
	mix.Render(tpl, st.rng, &st.out)
	sent := e.cfg.Now()
	resp := &st.resp
	err := e.client.Do(ctx, &st.out, resp)
	done := e.cfg.Now()
	if ctx.Err() != nil && err != nil {
		// Cut short by gracefulStop or Ctrl-C: not the target's fault.
		return
	}
	first := resp.FirstByte
	if first.IsZero() {
		first = done
	}
	status := resp.Status
	if err != nil {
		status = 0
	}
	failed := err != nil || !tpl.Expected(status)
	e.rec.AddRequest(record.Request{
		Tags: record.Tags{Scenario: it.Scenario, Name: tpl.Name, Method: tpl.Method, Phase: phase,
			Status: statusText(status), Source: resp.Source},
		At:       it.Intended,
		Duration: done.Sub(it.Intended),
		Waiting:  first.Sub(sent),
		Service:  done.Sub(sent),
		Failed:   failed,
		BytesIn:  resp.BytesIn,
		BytesOut: resp.BytesOut,
		Check:    true,
	})
	if e.cfg.Observe != nil {
		e.cfg.Observe(Response{Scenario: it.Scenario, Template: tpl, Drawn: st.out.Drawn, Phase: phase, Status: status, Source: resp.Source,
			Body: resp.Body, Err: err, Intended: it.Intended, Sent: sent, Done: done})
	}
}

// statusTexts are the status tags, made once.
var statusTexts = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusText(code int) string {
	if code >= 0 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}

// watch reports progress every second and evaluates abortOnFail
// thresholds every two seconds.
func (e *run) watch(ctx context.Context, cancel context.CancelFunc, runner *load.Runner, res *Result, stop <-chan struct{}) {
	watcher := verdict.NewWatcher(e.cfg.Thresholds)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var progress []load.Stats
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := e.cfg.Now()
		progress = runner.Progress(progress[:0])
		e.sampleBusyVUs(progress)
		if e.cfg.Progress != nil {
			e.cfg.Progress(e.status(now, progress))
		}
		if n%2 == 0 && watcher.Active() {
			if r, failed := watcher.Check(now.Sub(e.start), e.stats()); failed {
				e.cfg.Logger.Warn("threshold failed with abortOnFail; stopping the run", "threshold", r.Threshold.String())
				res.Aborted = &r
				cancel()
				return
			}
		}
	}
}

// sampleBusyVUs records, once a second, how many VUs of each running
// open-model scenario are busy: its vus gauge is otherwise written only
// when the scenario starts, ends or allocates, and would read 0 (the
// closed model records every change of its VU count itself).
func (e *run) sampleBusyVUs(progress []load.Stats) {
	for _, p := range progress {
		open := p.Executor == load.KindConstantArrivalRate || p.Executor == load.KindRampingArrivalRate
		if open && p.Status == load.StatusRunning {
			e.rec.Set(metric.VUs, record.Tags{Scenario: p.Scenario}, float64(p.ActiveVUs))
		}
	}
}

func (e *run) status(now time.Time, progress []load.Stats) Status {
	s := Status{Elapsed: now.Sub(e.start), Phase: e.phaseAt(now)}
	for _, p := range progress {
		s.VUs += p.ActiveVUs
		s.Dropped += p.Dropped
	}
	if b, ok := e.rec.LastComplete(now); ok {
		s.RPS = float64(b.Requests)
		s.P95 = time.Duration(b.Quantile(95)) * time.Microsecond
	}
	s.Requests, s.Errors = e.rec.Totals()
	return s
}

// String is the live progress line.
func (s Status) String() string {
	phase := s.Phase
	if phase == "" {
		phase = "-"
	}
	return fmt.Sprintf("%6.1fs  phase %-10s  VUs %4d  %7.0f req/s  p95 %8s  errors %d/%d  dropped %d",
		s.Elapsed.Seconds(), phase, s.VUs, s.RPS, s.P95.Round(10*time.Microsecond), s.Errors, s.Requests, s.Dropped)
}
