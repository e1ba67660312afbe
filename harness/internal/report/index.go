package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// SuiteRow is one run of a suite: a scenario file against one target.
type SuiteRow struct {
	Run    Run
	Target string // the profile or variant; "" for a running service
	// Unexpected lists what went against the scenario's expectations.
	Unexpected []string
	// Err says why the run could not happen; Run is then empty but for
	// Scenario and Description.
	Err string
}

// Verdict is the row's outcome: the run's verdict, or "error".
func (r SuiteRow) Verdict() string {
	if r.Err != "" {
		return "error"
	}
	return r.Run.verdict()
}

// Line is the row's verdict and threshold counts, on one line.
func (r SuiteRow) Line() string {
	if r.Err != "" {
		return fmt.Sprintf("%-12s %s", "ERROR", r.Err)
	}
	s := r.Run.Thresholds
	v := fmt.Sprintf("%-12s %d passed, %d failed, %d no data", strings.ToUpper(r.Run.verdict()), s.Passed, s.Failed, s.NoData)
	if len(r.Unexpected) > 0 {
		v += " — " + strings.Join(r.Unexpected, "; ")
	}
	return v
}

// WriteMatrix writes the suite's matrix: a line per run, then its
// thresholds.
func WriteMatrix(w io.Writer, rows []SuiteRow) error {
	fmt.Fprintln(w, "\nSCENARIO                     PROFILE   VERDICT      THRESHOLDS")
	for _, r := range rows {
		fmt.Fprintf(w, "%-28s %-9s %s\n", r.Run.Scenario, r.Target, r.Line())
		for _, res := range r.Run.Thresholds.Results {
			if _, err := fmt.Fprintf(w, "    %s\n", res.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

var indexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{
	"verdictClass": func(v string) string {
		switch v {
		case VerdictPass:
			return "pass"
		case VerdictFail, "error":
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
{{range .Rows}}<tr><td><b>{{.Run.Scenario}}</b><br><small>{{.Run.Description}}</small></td><td>{{.Target}}</td>
<td class="{{verdictClass .Verdict}}">{{.Verdict}}{{with .Err}}<br><small>{{.}}</small>{{end}}{{range .Unexpected}}<br><small>{{.}}</small>{{end}}</td>
<td><ul>{{range .Run.Thresholds.Results}}<li>{{.String}}</li>{{end}}</ul></td>
<td>{{if not .Err}}<a href="{{.Run.Scenario}}/{{.Target}}/report.html">report</a> · <a href="{{.Run.Scenario}}/{{.Target}}/summary.json">json</a> · <a href="{{.Run.Scenario}}/{{.Target}}/junit.xml">junit</a>{{end}}</td></tr>
{{end}}</table></body></html>
`))

// WriteIndex writes the suite's index page: a row per run, linking each
// run's reports (laid out as DIR/<scenario>/<target>/).
func WriteIndex(w io.Writer, rows []SuiteRow, took time.Duration) error {
	return indexTmpl.Execute(w, struct {
		Rows []SuiteRow
		Took time.Duration
	}{rows, took.Round(time.Second)})
}
