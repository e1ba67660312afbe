package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/flagstorm/flagstorm/harness/internal/engine"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/telemetry"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// runValidate checks scenario files without running them.
func runValidate(_ context.Context, e env, args []string) error {
	fs := newFlagSet("validate", e)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: flagstorm validate FILE...\n\nChecks scenario files (format, load, timeline, thresholds) and reports every problem with its file and line.")
	}
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("validate needs at least one scenario file")
	}
	var errs []error
	for _, path := range fs.Args() {
		spec, ts, err := loadSpec(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.stdout, "ok %s: %s, %s of load, %d scenario(s), %d request type(s), %d phase(s), %d threshold(s)\n",
			path, spec.Name, spec.Duration(), len(spec.Scenarios), len(spec.Requests), len(spec.Timeline), len(ts))
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, err)
		}
		return &exitError{code: ExitUsage, err: fmt.Errorf("%d of %d file(s) invalid", len(errs), fs.NArg())}
	}
	return nil
}

type runOptions struct {
	targetURL     string
	out           string
	metricsAddr   string
	pushGateway   string
	adminToken    string
	quiet         bool
	flagserverBin string
	logLevel      string
	databaseURL   string
	// profile, when set, replaces the scenario's profiles (local stack).
	profile string
	// flagserverEnv is extra flagserver environment for the local stack,
	// like UNSAFE_NO_DB_FALLBACK=true for a deliberately broken
	// target.
	flagserverEnv map[string]string
}

// runRun runs one scenario file.
func runRun(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("run", e)
	var o runOptions
	fs.StringVar(&o.targetURL, "target-url", "", "base URL of the service under test (e.g. http://127.0.0.1:8080); several, comma-separated, spread the requests at random over them")
	fs.StringVar(&o.out, "out", "", "directory for summary.json, junit.xml and report.html")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address while running (e.g. 127.0.0.1:9464)")
	fs.StringVar(&o.pushGateway, "push-gateway", "", "push the final metrics to this Pushgateway URL")
	fs.StringVar(&o.adminToken, "admin-token", "", "bearer token added to requests that write (PATCH)")
	fs.BoolVar(&o.quiet, "quiet", false, "no live progress line")
	fs.StringVar(&o.flagserverBin, "flagserver-bin", "", "flagserver binary for the local stack (default: next to flagstorm, bin/flagserver, or PATH)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the stack and the timeline: debug, info, warn or error")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL for the local stack (used through the postgres proxy; default: a throwaway cluster, else SQLite)")
	fs.Func("profile", "run the local stack with this flagserver profile only (hardened or seed), instead of the scenario's", func(v string) error {
		if _, err := scenarios.ParseProfile(v); err != nil || v == scenarios.ProfileBoth.String() {
			return fmt.Errorf("%q: want hardened or seed", v)
		}
		o.profile = v
		return nil
	})
	o.flagserverEnv = map[string]string{}
	fs.Func("flagserver-env", "extra flagserver environment for the local stack, KEY=VALUE (repeatable; e.g. an UNSAFE_ switch of a deliberately broken target)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("%q: want KEY=VALUE", v)
		}
		o.flagserverEnv[k] = val
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: flagstorm run FILE [--target-url URL] [flags]\n\nRuns a scenario file and judges its thresholds. Without --target-url it starts the local\nstack (Redis primary and replica, PostgreSQL, Toxiproxy, flagserver) once per profile the\nscenario names, injects the timeline's faults and checks every answer against the database.\nWith --target-url it drives load against any HTTP service (no faults).\nExit codes: 0 pass, 1 threshold failed, 2 invalid usage or scenario, 3 inconclusive, 4 infrastructure, 130 interrupted.\n\nFlags:")
		fs.PrintDefaults()
	}
	// Accept the file before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := parse(fs, e, args); err != nil {
		return err
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case file == "" || fs.NArg() > 0:
		return usageError("run takes exactly one scenario file (flagstorm run FILE --target-url URL)")
	}
	spec, ts, err := loadSpec(file)
	if err != nil {
		return err
	}
	if o.targetURL == "" {
		outs, err := runLocal(ctx, e, spec, ts, o, newLogger(e.stderr, o.logLevel))
		if err != nil {
			return err
		}
		return worstExit(ctx, outs)
	}
	if f := faultsOf(spec); len(f) > 0 {
		return usageError("%s injects faults (phases %s), which need the local stack: run it without --target-url", file, joinNames(f))
	}
	if spec.Target.Start != "" {
		return usageError("%s starts the flagservers at phase %s (target.start), which needs the local stack: run it without --target-url", file, spec.Target.Start)
	}
	if o.profile != "" || len(o.flagserverEnv) > 0 {
		return usageError("--profile and --flagserver-env configure the local stack's flagservers: with --target-url there are none")
	}
	return execute(ctx, e, spec, ts, o)
}

func execute(ctx context.Context, e env, spec *scenarios.Spec, ts []verdict.Threshold, o runOptions) error {
	def, mixes, err := mixesOf(spec, splitList(o.targetURL), o.adminToken)
	if err != nil {
		return usageError("%v", err)
	}
	plan, maxVUs := planOf(spec)
	tel := telemetry.New()
	stopMetrics, err := serveMetrics(ctx, e, tel, o.metricsAddr)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	profile := spec.Profiles()[0].String()
	tel.Scenarios(spec.Name)
	cfg := engine.Config{
		Dropped:        func(string) { tel.Dropped(spec.Name) },
		Plan:           plan,
		Mix:            def,
		Mixes:          mixes,
		Thresholds:     ts,
		Catalog:        verdict.DefaultCatalog(),
		Phases:         phasesOf(spec),
		RequestTimeout: spec.RequestTimeout,
		MaxVUs:         maxVUs,
		Observe: func(r engine.Response) {
			tel.Request(spec.Name, r.Phase, r.Template.Name, r.Source, r.Status, r.Done.Sub(r.Intended))
		},
	}
	if !o.quiet {
		cfg.Progress = progressPrinter(e.stderr)
	}
	fmt.Fprintf(e.stderr, "running %s against %s for %s\n", spec.Name, o.targetURL, spec.Duration())
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintln(e.stderr)
	}
	run := summarize(spec, profile, o.targetURL, res)
	for _, r := range res.Summary.Results {
		tel.Verdict(spec.Name, r.Threshold.String(), r.Verdict().String())
	}
	tel.Run(spec.Name, profile, run.Verdict)
	if err := report.WriteSummary(e.stdout, run, report.SummaryOptions{Color: isTerminal(e.stdout)}); err != nil {
		return err
	}
	if o.out != "" {
		if err := writeReports(o.out, run); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "reports in %s (summary.json, junit.xml, report.html)\n", o.out)
	}
	if o.pushGateway != "" {
		if err := tel.Push(context.WithoutCancel(ctx), o.pushGateway, spec.Name); err != nil {
			fmt.Fprintf(e.stderr, "flagstorm: %v\n", err)
		}
	}
	if run.ExitCode != ExitOK {
		return &exitError{code: run.ExitCode, err: errReported}
	}
	return nil
}

func writeReports(dir string, run report.Run) error {
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressPrinter redraws one line on a terminal, and logs a line every
// five seconds otherwise (CI logs).
func progressPrinter(w io.Writer) func(engine.Status) {
	if isTerminal(w) {
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

// summarize turns an engine result into the reports' model, and decides
// the verdict and exit code.
func summarize(spec *scenarios.Spec, profile, target string, res *engine.Result) report.Run {
	run := report.Run{
		Scenario:    spec.Name,
		Description: spec.Description,
		Profile:     profile,
		TargetURL:   target,
		Start:       res.Start,
		Duration:    res.End.Sub(res.Start),
		Thresholds:  res.Summary,
	}
	switch {
	case res.Interrupted:
		run.Verdict, run.ExitCode = report.VerdictInterrupted, ExitInterrupted
	case res.Aborted != nil:
		run.Verdict, run.ExitCode = report.VerdictFail, ExitFailed
		run.Abort = fmt.Sprintf("%s failed with abortOnFail; the run stopped after %s", res.Aborted.Threshold.String(), run.Duration.Round(time.Second))
	case res.Summary.Verdict == verdict.Fail:
		run.Verdict, run.ExitCode = report.VerdictFail, ExitFailed
	case res.Summary.Verdict == verdict.NoData:
		run.Verdict, run.ExitCode = report.VerdictInconclusive, ExitInconclusive
	default:
		run.Verdict, run.ExitCode = report.VerdictPass, ExitOK
	}
	for i, p := range spec.Timeline {
		ph := report.Phase{Name: p.Name, Start: p.At, End: spec.PhaseEnd(i)}
		if p.Fault != nil {
			if f, err := p.Fault.Fault(); err == nil {
				ph.Fault = f.String()
			}
		} else if p.Action != 0 {
			ph.Fault = p.Action.String()
		}
		run.Phases = append(run.Phases, ph)
	}
	for _, b := range res.Recorder.Buckets() {
		run.Series = append(run.Series, report.Point{
			Second: b.Second, Requests: b.Requests, Failed: b.Failed,
			P50: time.Duration(b.Quantile(50)) * time.Microsecond,
			P95: time.Duration(b.Quantile(95)) * time.Microsecond,
			P99: time.Duration(b.Quantile(99)) * time.Microsecond,
		})
	}
	run.Metrics = metricsOf(res, spec)
	return run
}

// metricsOf lists every recorded metric, whole, and the submetrics that
// thresholds judge or that split the run by phase and source.
func metricsOf(res *engine.Result, spec *scenarios.Spec) []report.Metric {
	cat := verdict.DefaultCatalog()
	type sel struct {
		name string
		tags verdict.Tags
	}
	seen := map[string]bool{}
	var sels []sel
	add := func(name string, tags verdict.Tags) {
		k := name + tags.String()
		if !seen[k] {
			seen[k] = true
			sels = append(sels, sel{name, tags})
		}
	}
	names := make([]string, 0, len(cat.Metrics))
	for n := range cat.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, nil)
	}
	for _, r := range res.Summary.Results {
		add(r.Threshold.Metric, r.Threshold.Tags)
	}
	for _, p := range spec.Timeline {
		add(record.HTTPReqDuration, verdict.Tags{{Name: "phase", Value: p.Name}})
	}
	for _, src := range scenarios.KnownSources() {
		add(record.HTTPReqDuration, verdict.Tags{{Name: "source", Value: src}})
	}
	st := engineStats(res)
	var out []report.Metric
	for _, s := range sels {
		m := cat.Metrics[s.name]
		values := map[string]float64{}
		aggs := map[verdict.MetricType][]verdict.Agg{
			verdict.Counter: {{Kind: verdict.AggCount}, {Kind: verdict.AggRate}},
			verdict.Gauge:   {{Kind: verdict.AggValue}, {Kind: verdict.AggMin}, {Kind: verdict.AggMax}},
			verdict.Rate:    {{Kind: verdict.AggRate}},
			verdict.Trend:   {{Kind: verdict.AggAvg}, {Kind: verdict.AggMin}, {Kind: verdict.AggMed}, {Kind: verdict.AggMax}, {Kind: verdict.AggPercentile, P: 90}, {Kind: verdict.AggPercentile, P: 95}, {Kind: verdict.AggPercentile, P: 99}},
		}[m.Type]
		for _, a := range aggs {
			v, ok := st.Aggregate(s.name, s.tags, a)
			if !ok {
				break
			}
			values[a.String()] = v
		}
		if len(values) == 0 {
			continue
		}
		if m.Type == verdict.Rate {
			sum, _ := res.Recorder.Summarize(record.Selector{Metric: s.name, Tags: s.tags.Map()})
			values["passes"] = sum.Sum
			values["fails"] = float64(sum.Count) - sum.Sum
		}
		out = append(out, report.Metric{Name: s.name, Submetric: s.tags.String(), Kind: m.Type.String(), Unit: m.Unit.String(), Values: values})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Submetric < out[j].Submetric
	})
	return out
}

// engineStats evaluates aggregations over a finished run.
func engineStats(res *engine.Result) verdict.Stats {
	return engine.Stats(res.Recorder, verdict.DefaultCatalog(), func() time.Time { return res.End })
}

var _ = errors.New

// worstExit is the exit of several profiles' runs: interrupted, else
// failed, else inconclusive, else pass.
func worstExit(ctx context.Context, outs []localOutcome) error {
	if ctx.Err() != nil {
		return &exitError{code: ExitInterrupted, err: errReported}
	}
	code := ExitOK
	for _, o := range outs {
		switch {
		case o.Run.ExitCode == ExitInterrupted:
			return &exitError{code: ExitInterrupted, err: errReported}
		case o.Run.ExitCode == ExitFailed:
			code = ExitFailed
		case o.Run.ExitCode == ExitInconclusive && code == ExitOK:
			code = ExitInconclusive
		}
	}
	if code != ExitOK {
		return &exitError{code: code, err: errReported}
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// serveMetrics serves tel's /metrics on addr while the run lasts ("" serves
// nothing); call the returned function to stop.
func serveMetrics(ctx context.Context, e env, tel *telemetry.Metrics, addr string) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	at, stop, err := tel.Serve(ctx, addr)
	if err != nil {
		return nil, usageError("--metrics-addr: %v", err)
	}
	fmt.Fprintf(e.stderr, "metrics on http://%s/metrics\n", at)
	return stop, nil
}
