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
	"github.com/flagstorm/flagstorm/harness/internal/service"
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
	out         string
	metricsAddr string
	pushGateway string
	quiet       bool
	logLevel    string
	target      targetFlags
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
	o.target.define(fs, true)
	fs.StringVar(&o.out, "out", "", "directory for summary.json, junit.xml and report.html")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address while running (e.g. 127.0.0.1:9464)")
	fs.StringVar(&o.pushGateway, "push-gateway", "", "push the final metrics to this Pushgateway URL")
	fs.BoolVar(&o.quiet, "quiet", false, "no live progress line")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the stack and the timeline: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm run FILE [--target DESC | --target-url URL [--toxiproxy-url URL]] [flags]

Runs a scenario file and judges its thresholds against one of:
  (default)          flagserver on the local stack (Redis primary and replica, PostgreSQL,
                     Toxiproxy), once per profile the scenario names;
  --target DESC      your service, from a target description (docs/target-contract.md):
                     started on the local stack like flagserver, once per variant, or
                     already running behind your Toxiproxy;
  --target-url URL   a running service: load only (no faults, no oracle: thresholds on the
                     oracle's metrics are inconclusive), or with --toxiproxy-url its faults
                     and the oracle too.
The harness injects the timeline's faults and checks every answer against its own writes.
`+exitCodesLine+`

Flags:`)
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
	if err := o.target.check(e, args); err != nil {
		return err
	}
	plan, err := run.Load(file)
	if err != nil {
		return err
	}
	var desc *service.Description
	if o.target.file != "" {
		if desc, err = o.target.describedTarget(); err != nil {
			return err
		}
	}
	targets, nest := o.target.targets(plan.Spec, desc)
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

// newLogger logs at level (warn when it does not parse) to w.
func newLogger(w io.Writer, level string) *slog.Logger {
	l, err := parseLevel(level)
	if err != nil {
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
