package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/scenarios"
)

// runSuite runs the built-in scenarios (or the files given) on the local
// stack under both profiles and judges the suite: hardened must pass
// everything; seed must fail exactly what each scenario expects of it.
func runSuite(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("suite", e)
	var o runOptions
	o.target.define(fs, false)
	fs.StringVar(&o.out, "out", "out", "directory for each scenario's reports and the suite's index.html")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the stack and the timeline")
	fs.StringVar(&o.pushGateway, "push-gateway", "", "push each run's metrics to this Pushgateway URL")
	only := fs.String("only", "", "comma-separated names of built-in scenarios to run (default: all)")
	quick := fs.Bool("quick", false, "the quick suite: "+strings.Join(scenarios.QuickNames, ", ")+" (one per kind of fault, full length, both profiles; about 5 minutes); what CI runs")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: flagstorm suite [--out DIR] [--only a,b | --quick] [--profile P | --target DESC [--variant V]] [FILE...]\n\nRuns the built-in resilience suite (or the given scenario files) on the local stack\nagainst flagserver under both cache profiles, or against your service (--target, every\nvariant), and prints a matrix; exits 1 if a target fails a threshold the scenario does\nnot expect it to fail (or passes one it expects to fail), 3 if a run was inconclusive,\n4 if a run could not start (its row says why).\n"+exitCodesLine+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := o.target.check(e, args); err != nil {
		return err
	}
	var desc *service.Description
	if o.target.file != "" {
		var err error
		if desc, err = o.target.describedTarget(); err != nil {
			return err
		}
	}
	o.quiet = true
	if *quick {
		if *only != "" || fs.NArg() > 0 {
			return usageError("--quick is a set of built-in scenarios: give it without --only or files")
		}
		*only = strings.Join(scenarios.QuickNames, ",")
	}
	plans, err := run.Plans(fs.Args(), splitList(*only))
	if err != nil {
		return err
	}
	opts := o.runOptions(env{getenv: e.getenv, stdout: io.Discard, stderr: e.stderr}, true)
	var rows []report.SuiteRow
	begin := time.Now()
	for _, p := range plans {
		targets, _ := o.target.targets(p.Spec, desc)
		for _, t := range targets {
			if ctx.Err() != nil {
				break
			}
			row := suiteRun(ctx, p, t, opts)
			if row.Err != "" && ctx.Err() != nil {
				break // interrupted: not a row
			}
			rows = append(rows, row)
			fmt.Fprintf(e.stderr, "%-28s %-9s %s\n", p.Spec.Name, row.Target, row.Line())
		}
	}
	if err := report.WriteMatrix(e.stdout, rows); err != nil {
		return err
	}
	index := filepath.Join(o.out, "index.html")
	if err := writeFile(index, func(w io.Writer) error { return report.WriteIndex(w, rows, time.Since(begin)) }); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "suite report: %s\n", index)
	verdicts := make([]string, len(rows))
	for i, r := range rows {
		verdicts[i] = r.Verdict()
	}
	if err := outcome(ctx, verdicts...); err != nil {
		return err
	}
	if desc != nil {
		fmt.Fprintf(e.stdout, "SUITE PASS: %s passed every threshold it could judge, and failed exactly the expected ones.\n", desc.Name)
		return nil
	}
	fmt.Fprintln(e.stdout, "SUITE PASS: hardened passed every threshold; seed failed exactly the expected ones.")
	return nil
}

// suiteRun runs one file against one target; a run that could not happen
// is a row that says why.
func suiteRun(ctx context.Context, p *run.Plan, t run.Target, opts run.Options) report.SuiteRow {
	out, err := run.Execute(ctx, p, t, opts)
	if err != nil {
		row := report.SuiteRow{Target: t.Name(), Err: err.Error()}
		row.Run.Scenario, row.Run.Description = p.Spec.Name, p.Spec.Description
		var invalid *run.InvalidError
		if errors.As(err, &invalid) {
			row.Err = "invalid: " + row.Err
		}
		return row
	}
	return report.SuiteRow{Run: out.Report, Target: out.Target, Unexpected: out.Judgement.Unexpected}
}

// writeFile creates path (and its directory) and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
