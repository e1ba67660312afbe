package cli

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/report"
	"github.com/flagstorm/flagstorm/scenarios"
)

// runSuite runs the built-in scenarios (or the files given) on the local
// stack under both profiles and judges the suite: hardened must pass
// everything; seed must fail exactly what each scenario expects of it.
func runSuite(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("suite", e)
	var o runOptions
	fs.StringVar(&o.out, "out", "out", "directory for each scenario's reports and the suite's index.html")
	fs.StringVar(&o.flagserverBin, "flagserver-bin", "", "flagserver binary (default: next to flagstorm, bin/flagserver, or PATH)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the stack and the timeline")
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL for the local stack (default: a throwaway cluster per run, else SQLite)")
	fs.StringVar(&o.pushGateway, "push-gateway", "", "push each run's metrics to this Pushgateway URL")
	only := fs.String("only", "", "comma-separated names of built-in scenarios to run (default: all)")
	quick := fs.Bool("quick", false, "the quick suite: "+strings.Join(scenarios.QuickNames, ", ")+" (one per kind of fault, full length, both profiles; about 5 minutes); what CI runs")
	fs.Func("profile", "run one cache profile only (hardened or seed) instead of both", func(v string) error {
		if v != scenarios.ProfileHardened.String() && v != scenarios.ProfileSeed.String() {
			return fmt.Errorf("%q: want hardened or seed", v)
		}
		o.profile = v
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: flagstorm suite [--out DIR] [--only a,b | --quick] [--profile P] [FILE...]\n\nRuns the built-in resilience suite (or the given scenario files) on the local stack\nunder both cache profiles and prints a matrix; exits 1 if hardened fails anything or\nseed fails differently than the scenarios expect.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, e, args); err != nil {
		return err
	}
	o.quiet = true
	if *quick {
		if *only != "" || fs.NArg() > 0 {
			return usageError("--quick is a set of built-in scenarios: give it without --only or files")
		}
		*only = strings.Join(scenarios.QuickNames, ",")
	}
	var specs []*scenarios.Spec
	if fs.NArg() > 0 {
		for _, f := range fs.Args() {
			s, _, err := loadSpec(f)
			if err != nil {
				return err
			}
			specs = append(specs, s)
		}
	} else {
		all, err := scenarios.Builtin()
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			if n = strings.TrimSpace(n); n != "" {
				want[n] = true
			}
		}
		missing := map[string]bool{}
		for n := range want {
			missing[n] = true
		}
		for _, s := range all {
			if len(want) == 0 || want[s.Name] {
				specs = append(specs, s)
				delete(missing, s.Name)
			}
		}
		if len(missing) > 0 {
			return usageError("--only names unknown built-in scenario(s) %v (have %s)", keys(missing), strings.Join(scenarios.BuiltinNames(), ", "))
		}
	}
	log := newLogger(e.stderr, o.logLevel)
	var rows []suiteRow
	begin := time.Now()
	for _, spec := range specs {
		ts, err := thresholdsOf(spec)
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		outs, err := runLocal(ctx, env{getenv: e.getenv, stdout: io.Discard, stderr: e.stderr}, spec, ts, o, log)
		for _, out := range outs {
			rows = append(rows, suiteRow{Scenario: spec.Name, Description: spec.Description, Out: out})
			fmt.Fprintf(e.stderr, "%-28s %-9s %s\n", spec.Name, out.Profile, rowVerdict(out))
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	printMatrix(e.stdout, rows)
	if err := writeIndex(filepath.Join(o.out, "index.html"), rows, time.Since(begin)); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "suite report: %s\n", filepath.Join(o.out, "index.html"))
	if ctx.Err() != nil {
		return &exitError{code: ExitInterrupted, err: errReported}
	}
	for _, r := range rows {
		if r.Out.Run.ExitCode != ExitOK {
			return &exitError{code: ExitFailed, err: fmt.Errorf("the suite failed: see the matrix")}
		}
	}
	fmt.Fprintln(e.stdout, "SUITE PASS: hardened passed every threshold; seed failed exactly the expected ones.")
	return nil
}

type suiteRow struct {
	Scenario, Description string
	Out                   localOutcome
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func rowVerdict(o localOutcome) string {
	s := o.Run.Thresholds
	v := fmt.Sprintf("%-12s %d passed, %d failed, %d no data", strings.ToUpper(o.Run.Verdict), s.Passed, s.Failed, s.NoData)
	if len(o.Unexpected) > 0 {
		v += " — " + strings.Join(o.Unexpected, "; ")
	}
	return v
}

func printMatrix(w io.Writer, rows []suiteRow) {
	fmt.Fprintln(w, "\nSCENARIO                     PROFILE   VERDICT      THRESHOLDS")
	for _, r := range rows {
		fmt.Fprintf(w, "%-28s %-9s %s\n", r.Scenario, r.Out.Profile, rowVerdict(r.Out))
		for _, res := range r.Out.Run.Thresholds.Results {
			fmt.Fprintf(w, "    %s\n", res.String())
		}
	}
}

var indexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{
	"lower": strings.ToLower,
	"verdictClass": func(v string) string {
		switch v {
		case report.VerdictPass:
			return "pass"
		case report.VerdictFail:
			return "fail"
		}
		return "other"
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flagstorm suite</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem}table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #e3e6ea;padding:.45rem .6rem;text-align:left;vertical-align:top}
.pass{color:#11703a;font-weight:600}.fail{color:#b42318;font-weight:600}.other{color:#8a5a00;font-weight:600}
ul{margin:0;padding-left:1.1rem}small{color:#5b6270}
</style></head><body>
<h1>flagstorm resilience suite</h1>
<p><small>{{len .Rows}} run(s) in {{.Took}}. hardened must pass every threshold; seed must fail exactly the thresholds each scenario expects (the story's settings contradict its own SLO under faults).</small></p>
<table><tr><th>scenario</th><th>profile</th><th>verdict</th><th>thresholds</th><th>report</th></tr>
{{range .Rows}}<tr><td><b>{{.Scenario}}</b><br><small>{{.Description}}</small></td><td>{{.Out.Profile}}</td>
<td class="{{verdictClass .Out.Run.Verdict}}">{{.Out.Run.Verdict}}{{range .Out.Unexpected}}<br><small>{{.}}</small>{{end}}</td>
<td><ul>{{range .Out.Run.Thresholds.Results}}<li>{{.String}}</li>{{end}}</ul></td>
<td><a href="{{.Scenario}}/{{.Out.Profile}}/report.html">report</a> · <a href="{{.Scenario}}/{{.Out.Profile}}/summary.json">json</a> · <a href="{{.Scenario}}/{{.Out.Profile}}/junit.xml">junit</a></td></tr>
{{end}}</table></body></html>
`))

func writeIndex(path string, rows []suiteRow, took time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = indexTmpl.Execute(f, struct {
		Rows []suiteRow
		Took time.Duration
	}{rows, took.Round(time.Second)})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
