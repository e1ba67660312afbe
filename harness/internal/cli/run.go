package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/flagstorm/flagstorm/harness/internal/rendezvous"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/segment"
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
	var dist distFlags
	dist.define(fs)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm run FILE [--target DESC | --target-url URL [--toxiproxy-url URL]] [flags]
       flagstorm run FILE --target-url URL (--segment FROM:TO [--segment-sequence LIST] | --runners N --runner-index I)
                     [--rendezvous HOST:PORT] --out DIR

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

Beyond one machine: each runner runs a segment of the load (--segment, or --runners with
--runner-index); the runner whose segment starts at 0 owns the fault timeline and, with
--rendezvous, serves the shared start the others connect to. flagstorm merge judges the
runners' --out directories as one run.
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
	if err := dist.check(); err != nil {
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
	opts.Segment, opts.Sequence = dist.seg, dist.seq
	if !dist.seg.IsFull() && nest {
		fmt.Fprintf(e.stderr, "warning: segment %s on the local stack: every runner starts a stack of its own, so the runners load different targets (and only the one of the segment starting at 0 gets the faults); to split the load of one target, give each runner --target-url (and --toxiproxy-url)\n", dist.seg)
	}
	if dist.rendezvous != "" {
		if len(targets) > 1 {
			names := make([]string, len(targets))
			for i, t := range targets {
				names[i] = t.Name()
			}
			return usageError("--rendezvous: %s runs against %d targets (%s), and a shared start is for one: give --profile or --variant", file, len(targets), strings.Join(names, ", "))
		}
		rv, err := dist.join(plan, opts.Logger)
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = rv.Close(cctx)
		}()
		if rv.Leader() {
			fmt.Fprintf(e.stderr, "rendezvous: this runner (segment %s) leads; the other runners connect to %s\n", dist.seg, rv.Addr())
		}
		opts.Rendezvous = rv
	}
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

// distFlags are the flags of one runner of a distributed run: its segment
// of the load, and the shared start.
type distFlags struct {
	segment, sequence string
	runners, index    optInt
	rendezvous        string
	rendezvousTimeout time.Duration
	seg               segment.Segment  // resolved by check
	seq               segment.Sequence // resolved by check; nil: k6's default
}

func (d *distFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&d.segment, "segment", "", "run only this execution segment `FROM:TO` of the load (k6's syntax: 1/4:1/2, 0.25:0.5 or 25%:50%; a bare value v means 0:v); the runners' segments must cover 0:1")
	fs.StringVar(&d.sequence, "segment-sequence", "", "with --segment: the `LIST` of boundaries every runner shares, e.g. 0,1/4,1/2,1 (default: 0,FROM,TO,1)")
	fs.Var(&d.runners, "runners", "split the load into `N` equal segments, one runner each (with --runner-index)")
	fs.Var(&d.index, "runner-index", "with --runners: this runner's `I`, 0 to N-1: it runs the segment I/N:(I+1)/N")
	fs.StringVar(&d.rendezvous, "rendezvous", "", "shared start at `HOST:PORT`: the runner whose segment starts at 0 listens there, the others connect to it; all start the load at one instant (default: begin at once)")
	fs.DurationVar(&d.rendezvousTimeout, "rendezvous-timeout", rendezvous.DefaultTimeout, "with --rendezvous: how long to wait for every runner; then the run does not start (exit 4, naming the missing segments)")
}

// check validates the flags together and resolves the segment.
func (d *distFlags) check() error {
	switch {
	case d.segment != "" && (d.runners.set || d.index.set):
		return usageError("--segment and --runners/--runner-index both choose this runner's segment: give one way")
	case d.sequence != "" && d.segment == "":
		return usageError("--segment-sequence goes with --segment (--runners makes its own sequence)")
	case d.runners.set != d.index.set:
		return usageError("--runners and --runner-index go together (this runner is --runner-index I of --runners N)")
	case d.runners.set && d.runners.v < 1:
		return usageError("--runners %d: want 1 or more", d.runners.v)
	case d.index.set && (d.index.v < 0 || d.index.v >= d.runners.v):
		return usageError("--runner-index %d: want 0 to %d (--runners %d)", d.index.v, d.runners.v-1, d.runners.v)
	case d.rendezvousTimeout <= 0:
		return usageError("--rendezvous-timeout %s: want a positive duration", d.rendezvousTimeout)
	}
	var err error
	switch {
	case d.segment != "":
		if d.seg, err = segment.Parse(d.segment); err != nil {
			return usageError("--segment: %v", err)
		}
		if d.seq, err = segment.ParseSequence(d.sequence); err != nil {
			return usageError("--segment-sequence: %v", err)
		}
		if _, err := segment.NewTuple(d.seg, d.seq); err != nil {
			return usageError("--segment %s with --segment-sequence %s: %v", d.seg, d.seq, err)
		}
	case d.runners.set:
		segs, seq := segment.Split(d.runners.v)
		d.seg, d.seq = segs[d.index.v], seq
	}
	if d.rendezvous != "" {
		if _, _, err := net.SplitHostPort(d.rendezvous); err != nil {
			return usageError("--rendezvous %q: want HOST:PORT (%v)", d.rendezvous, err)
		}
		if d.seg.IsFull() {
			return usageError("--rendezvous is a shared start of runners that each run a segment: give --segment or --runners with --runner-index")
		}
	}
	return nil
}

// join prepares this runner's side of the rendezvous: the leader binds
// its address now, so that the others may connect while its target
// starts.
func (d *distFlags) join(plan *run.Plan, log *slog.Logger) (*rendezvous.Runner, error) {
	t, err := segment.NewTuple(d.seg, d.seq)
	if err != nil {
		return nil, usageError("--segment: %v", err)
	}
	var segs []string
	for _, s := range t.Sequence().Segments() {
		segs = append(segs, s.String())
	}
	rv, err := rendezvous.New(rendezvous.Config{
		Addr: d.rendezvous, Segment: t.Segment().String(), Segments: segs,
		Scenario: "sha256:" + plan.SHA256, Timeout: d.rendezvousTimeout, Logger: log,
	})
	if err != nil {
		return nil, &exitError{code: ExitInfra, err: err}
	}
	return rv, nil
}

// optInt is an integer flag that remembers whether it was given (on the
// command line or by its environment fallback).
type optInt struct {
	v   int
	set bool
}

func (o *optInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.v)
}

func (o *optInt) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q: want an integer", s)
	}
	o.v, o.set = v, true
	return nil
}
