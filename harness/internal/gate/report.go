package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the result as a human table: the verdict, then one
// row per check and window.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict   %s\n", strings.ToUpper(r.Reason[:1])+r.Reason[1:])
	fmt.Fprintf(&b, "canary    %s\nbaseline  %s\n", r.Canary, r.Baseline)
	fmt.Fprintf(&b, "evaluated %s over %s; at least %d samples per window\n\n", r.EvaluatedAt, strings.Join(r.Windows, " and "), r.MinSamples)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tWINDOW\tSTATUS\tCANARY\tBASELINE\tSAMPLES C/B\tLIMIT\tREASON")
	for _, c := range r.Checks {
		status := c.Status.String()
		if c.Critical {
			status += " (critical)"
		}
		limit := "<= " + c.formatLimit(c.Limit)
		if c.CriticalLimit != nil {
			limit += ", crit " + c.formatLimit(*c.CriticalLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", c.Name, c.Window, status,
			c.formatValue(c.Canary), c.formatValue(c.Baseline),
			fmtCount(c.Canary.Samples), fmtCount(c.Baseline.Samples), limit, c.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "prometheus warning: %s\n", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatValue renders a side's value in the check's unit.
func (c Check) formatValue(m Measure) string {
	if m.Value == nil {
		return "-"
	}
	if c.Unit == "fraction" {
		return fmtPercent(*m.Value)
	}
	return fmtSeconds(*m.Value) // latency and its ratio show the latencies
}

func (c Check) formatLimit(v float64) string {
	switch c.Unit {
	case "fraction":
		return fmtPercent(v)
	case "ratio":
		return fmtRatio(v)
	}
	return fmtSeconds(v)
}

// WritePlan writes the queries an evaluation runs, one per line.
func WritePlan(w io.Writer, qs []Query) error {
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%-4s %-8s %-16s %s\n", q.Window, q.Side, q.Kind, q.PromQL)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Output is what `flagstorm gate evaluate` prints: the result as a table
// or JSON (with the command's exit code), and with a dry run the queries
// and the exit it would have made.
type Output struct {
	Format   string // "table" or "json"
	Result   *Result
	Err      error // the evaluation's error, if it could not evaluate
	DryRun   bool
	ExitCode int
	Plan     []Query
}

// outputJSON is the --format json document: the result, plus what the
// command decided.
type outputJSON struct {
	*Result
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exitCode"`
	DryRun   bool   `json:"dryRun"`
}

// Write prints the output.
func (o Output) Write(w io.Writer) error {
	if o.Format == "json" {
		doc := outputJSON{Result: o.Result, ExitCode: o.ExitCode, DryRun: o.DryRun}
		if o.Err != nil {
			doc.Error = o.Err.Error()
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return fmt.Errorf("encode the result: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if o.Result != nil {
		if err := o.Result.WriteTable(w); err != nil {
			return err
		}
	}
	if !o.DryRun {
		return nil
	}
	fmt.Fprintln(w, "\nqueries:")
	if err := WritePlan(w, o.Plan); err != nil {
		return err
	}
	if o.Err != nil {
		fmt.Fprintf(w, "\ncould not evaluate: %v\n", o.Err)
	}
	_, err := fmt.Fprintf(w, "\ndry run: would exit %d; exiting 0\n", o.ExitCode)
	return err
}
