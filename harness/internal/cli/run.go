package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/flagstorm/flagstorm/harness/internal/run"
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
		p, err := run.Load(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spec := p.Spec
		fmt.Fprintf(e.stdout, "ok %s: %s, %s of load, %d scenario(s), %d request type(s), %d phase(s), %d threshold(s)\n",
			path, spec.Name, spec.Duration(), len(spec.Scenarios), len(spec.Requests), len(spec.Timeline), len(p.Thresholds))
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(e.stderr, err)
		}
		return &exitError{code: ExitUsage, err: fmt.Errorf("%d of %d file(s) invalid", len(errs), fs.NArg())}
	}
	return nil
}

// runOptions are the flags run and suite share.
type runOptions struct {
	targetURL     string
	out           string
	metricsAddr   string
	pushGateway   string
	adminToken    string
	sourceHeader  string
	quiet         bool
	flagserverBin string
	logLevel      string
	databaseURL   string
	// profile, when set, replaces the scenario's profiles (local stack).
	profile string
	// flagserverEnv is extra flagserver environment for the local stack,
	// like UNSAFE_NO_DB_FALLBACK=true for a deliberately broken target.
	flagserverEnv map[string]string
}

// localTargets are the local stack's flagservers for spec: one per
// profile it names, or the one --profile chose.
func (o runOptions) localTargets(spec *scenarios.Spec) []run.Target {
	profiles := spec.Profiles()
	if o.profile != "" {
		p, _ := scenarios.ParseProfile(o.profile)
		profiles = []scenarios.Profile{p}
	}
	var out []run.Target
	for _, p := range profiles {
		out = append(out, run.Local{Profile: p.String(), FlagserverBin: o.flagserverBin, DatabaseURL: o.databaseURL, Env: o.flagserverEnv})
	}
	return out
}

func (o runOptions) runOptions(e env, nest bool) run.Options {
	return run.Options{
		Stdout: e.stdout, Stderr: e.stderr, Color: isTerminal(e.stdout),
		Progress: !o.quiet, Live: isTerminal(e.stderr),
		Out: o.out, Nest: nest, MetricsAddr: o.metricsAddr, PushGateway: o.pushGateway,
		Logger: newLogger(e.stderr, o.logLevel),
	}
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
	fs.StringVar(&o.sourceHeader, "source-header", "X-Flag-Source", "with --target-url: the response header naming where an answer came from (redis, db, ...); \"\" if the service sends none")
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
		fmt.Fprintln(e.stderr, "Usage: flagstorm run FILE [--target-url URL] [flags]\n\nRuns a scenario file and judges its thresholds. Without --target-url it starts the local\nstack (Redis primary and replica, PostgreSQL, Toxiproxy, flagserver) once per profile the\nscenario names, injects the timeline's faults and checks every answer against the database.\nWith --target-url it drives load against any HTTP service (no faults, no oracle: thresholds\non the oracle's metrics are inconclusive).\n"+exitCodesLine+"\n\nFlags:")
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
	plan, err := run.Load(file)
	if err != nil {
		return err
	}
	targets := o.localTargets(plan.Spec)
	nest := true
	if o.targetURL != "" {
		if o.profile != "" || len(o.flagserverEnv) > 0 {
			return usageError("--profile and --flagserver-env configure the local stack's flagservers: with --target-url there are none")
		}
		targets, nest = []run.Target{run.Remote{URLs: splitList(o.targetURL), AdminToken: o.adminToken, SourceHeader: o.sourceHeader}}, false
	}
	opts := o.runOptions(e, nest)
	var verdicts []string
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		out, err := run.Execute(ctx, plan, t, opts)
		if err != nil {
			return err
		}
		verdicts = append(verdicts, out.Report.Verdict)
	}
	return outcome(ctx, verdicts...)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
