package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/k6"
	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/run"
	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

const exportSummary = "export a scenario file to another tool: export k6 FILE writes a k6 script"

const judgeSummary = "judge a run another tool made (k6's --out json or --summary-export) with a scenario file's thresholds"

// fileFirst takes a positional argument written before the flags.
func fileFirst(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

// runExport writes a scenario file as another tool's script: k6 only.
func runExport(_ context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "k6" {
		if e.describe == nil {
			fmt.Fprintln(e.stderr, "Usage: flagstorm export k6 FILE [--toxiproxy-url URL] [-o FILE] [--allow-partial]")
		}
		return usageError("export needs a format: k6 (flagstorm export k6 FILE)")
	}
	fs := newFlagSet("export k6", e)
	var out, toxiproxyURL string
	var partial bool
	fs.StringVar(&out, "o", "", "write the script to this file instead of standard output")
	fs.StringVar(&toxiproxyURL, "toxiproxy-url", k6.DefaultToxiproxyURL, "the Toxiproxy API the script's fault timeline calls (its TOXIPROXY_URL variable overrides it)")
	fs.BoolVar(&partial, "allow-partial", false, "exit 0 even when parts of the file cannot be exported (they are listed on standard error and in the script)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm export k6 FILE [--toxiproxy-url URL] [-o FILE] [--allow-partial]

Writes the scenario file as a k6 script (an ES module, no extension needed): its load as
k6 scenarios, its request mix with name and phase tags, its thresholds (each selecting
{traffic:load}), and its fault timeline as a one-VU scenario that calls Toxiproxy's API.
Run it with: k6 run --out json=results.json.gz -e BASE_URL=URL -e ADMIN_TOKEN=TOKEN script.js
and judge it with: flagstorm judge FILE --k6-json results.json.gz --out DIR
What k6 cannot carry (Redis actions, the oracle's metrics, a cold start, latency from the
intended start, phase-scoped dropped iterations, source tags) is listed, and the command
exits 2 unless --allow-partial.
`+exitCodesLine+`

Flags:`)
		fs.PrintDefaults()
	}
	file, args := fileFirst(args[1:])
	if err := parse(fs, e, args); err != nil {
		return err
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case file == "" || fs.NArg() > 0:
		return usageError("export k6 takes exactly one scenario file (flagstorm export k6 FILE)")
	}
	plan, err := run.Load(file)
	if err != nil {
		return err
	}
	script, err := k6.Export(plan.Spec, plan.Thresholds, k6.Config{ToxiproxyURL: toxiproxyURL})
	if err != nil {
		return usageError("%v", err)
	}
	if out == "" {
		if _, err := e.stdout.Write(script.Source); err != nil {
			return err
		}
	} else if err := os.WriteFile(out, script.Source, 0o644); err != nil {
		return err
	}
	for _, w := range script.Warnings {
		fmt.Fprintf(e.stderr, "flagstorm export k6: %s: not carried over: %s\n", file, w)
	}
	if len(script.Warnings) > 0 && !partial {
		return usageError("%d part(s) of %s cannot be exported to k6 as they are (listed above; the script was written all the same): pass --allow-partial to accept them", len(script.Warnings), file)
	}
	return nil
}

// runJudge judges a k6 run with a scenario file's thresholds and writes
// the same reports and exit code as flagstorm run.
func runJudge(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("judge", e)
	var results, summary, out, target string
	fs.StringVar(&results, "k6-json", "", "k6's --out json results (newline-delimited JSON, gzipped or not)")
	fs.StringVar(&summary, "summary-export", "", "k6's --summary-export file: the fallback without --k6-json (aggregates only: no recovery time, no time series), else a cross-check")
	fs.StringVar(&out, "out", "", "directory for summary.json, junit.xml and report.html")
	fs.StringVar(&target, "profile", "", "apply the scenario's expect: list for this target (a profile, like seed, or a variant)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, `Usage: flagstorm judge FILE --k6-json RESULTS [--summary-export FILE] [--out DIR]

Judges a k6 run (of the script flagstorm export k6 wrote, or any script with name and
phase tags) with the scenario file's thresholds, phase-scoped ones by the phase tag, and
writes the same summary, summary.json, junit.xml, report.html and exit code as a run.
Thresholds on what k6 cannot measure (the oracle's metrics, a cold start, source tags) are
inconclusive, with the reason. k6 itself exits 99 on a failed threshold; flagstorm exits 1.
`+exitCodesLine+`

Flags:`)
		fs.PrintDefaults()
	}
	file, args := fileFirst(args)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case file == "" || fs.NArg() > 0:
		return usageError("judge takes exactly one scenario file (flagstorm judge FILE --k6-json RESULTS)")
	case results == "" && summary == "":
		return usageError("judge needs k6's results: --k6-json FILE (k6 run --out json=FILE) or --summary-export FILE")
	}
	plan, err := run.Load(file)
	if err != nil {
		return err
	}
	x := run.External{Tool: "k6", Target: target}
	if target != "" {
		x.Expected = func(key string, index int) scenarios.Expectation { return plan.Spec.Expectation(target, key, index) }
	}
	var sum *k6.Summary
	if summary != "" {
		if sum, err = k6.ReadSummary(summary); err != nil {
			return usageError("%v", err)
		}
	}
	if results != "" {
		res, err := k6.ReadResults(results)
		if err != nil {
			return usageError("%v", err)
		}
		x.Recorder, x.Start, x.End = res.Recorder, res.Start, res.End
		x.Events, x.Sources, x.Notes = res.Events(plan.Spec), res.Sources, res.Notes()
	} else {
		x.Recorder, x.Stats = record.New(time.Time{}), sum
		x.Notes = []string{"k6 end-of-test summary only (--summary-export): no samples, so no per-second data, no recovery time, and no statistic the summary does not list"}
	}
	if sum != nil {
		if failed := sum.Failed(); len(failed) > 0 {
			x.Notes = append(x.Notes, "k6's own verdict: failed "+strings.Join(failed, "; "))
		} else {
			x.Notes = append(x.Notes, "k6's own verdict: every threshold of the script passed")
		}
	}
	o := run.Options{Stdout: e.stdout, Stderr: e.stderr, Color: isTerminal(e.stdout), Out: out}
	outcomeOf, err := run.JudgeExternal(ctx, plan, x, o)
	if err != nil {
		return err
	}
	return outcome(ctx, outcomeOf.Report.Verdict)
}

var _ verdict.Stats = (*k6.Summary)(nil)
