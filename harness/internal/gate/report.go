package gate

import (
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
