package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// SummaryOptions tune the terminal summary.
type SummaryOptions struct {
	// Color adds ANSI colors: green for passes, red for failures, yellow
	// for no data, inconclusive and interrupted runs. Default false: plain
	// text, for files, pipes and CI logs.
	Color bool
	// Width is the terminal's width in columns; 0 means 80. It caps the
	// dotted column the metric names are padded to. Lines are never cut:
	// a CI log that loses a number is worse than one that wraps.
	Width int
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

// WriteSummary writes the end-of-run summary for a terminal: a header
// (scenario, profile, target, start, duration), the phases with their
// faults and when each was applied and removed, the metrics in k6's
// dotted layout (submetrics indented under their metric), the
// thresholds with ✓, ✗ or ? and the observed value, the notes, and last
// one verdict line, the line a CI log's tail shows:
//
//	PASS: 6 of 6 thresholds passed
//	FAIL: 1 of 6 thresholds failed: http_req_duration{phase:outage} p(95)<50 (observed 812.00ms)
//	INCONCLUSIVE: 1 of 6 thresholds had no data: http_req_duration{source:stale} p(99)<100; 5 passed
//	INTERRUPTED after 34.2s: thresholds judged on partial data: 5 passed, 1 failed
func WriteSummary(w io.Writer, r Run, opts SummaryOptions) error {
	if opts.Width <= 0 {
		opts.Width = 80
	}
	s := summaryWriter{opts: opts}
	s.header(r)
	s.phases(r)
	s.metrics(r)
	s.thresholds(r)
	s.notes(r)
	s.verdict(r)
	_, err := w.Write(s.b.Bytes())
	return err
}

type summaryWriter struct {
	b    bytes.Buffer
	opts SummaryOptions
}

func (s *summaryWriter) line(format string, args ...any) {
	fmt.Fprintf(&s.b, format, args...)
	s.b.WriteByte('\n')
}

func (s *summaryWriter) paint(color, text string) string {
	if !s.opts.Color {
		return text
	}
	return color + text + ansiReset
}

func (s *summaryWriter) section(title string) {
	s.line("")
	s.line("  █ %s", title)
	s.line("")
}

func (s *summaryWriter) header(r Run) {
	s.line("")
	s.line("  █ flagstorm: %s", r.Scenario)
	if r.Description != "" {
		s.line("    %s", r.Description)
	}
	s.line("")
	field := func(name, value string) {
		if value != "" {
			s.line("    %-9s %s", name, value)
		}
	}
	field("profile", r.Profile)
	field("target", r.TargetURL)
	if !r.Start.IsZero() {
		field("started", r.Start.Format("2006-01-02 15:04:05 MST"))
	}
	field("duration", fmtOffset(r.Duration))
	if r.Partial {
		field("report", "PARTIAL: "+cmp.Or(r.PartialReason, "the run was cut short")+"; only what was recorded until then")
	}
}

func (s *summaryWriter) phases(r Run) {
	if len(r.Phases) == 0 {
		return
	}
	s.section("PHASES")
	nameW, fromW, toW := 0, 0, 0
	for _, p := range r.Phases {
		nameW = max(nameW, utf8.RuneCountInString(p.Name))
		fromW = max(fromW, len(fmtOffset(p.Start)))
		toW = max(toW, len(fmtOffset(p.End)))
	}
	for _, p := range r.Phases {
		row := fmt.Sprintf("    %s  %*s → %-*s", pad(p.Name, nameW), fromW, fmtOffset(p.Start), toW, fmtOffset(p.End))
		if p.Fault == "" {
			s.line("%s", strings.TrimRight(row, " "))
			continue
		}
		s.line("%s  fault: %s", row, p.Fault)
		s.line("%s  %s", strings.Repeat(" ", utf8.RuneCountInString(row)), faultTimes(r, p))
	}
}

// faultTimes says when a phase's fault was applied and removed.
func faultTimes(r Run, p Phase) string {
	switch {
	case p.Applied.IsZero():
		return "not applied"
	case p.Removed.IsZero():
		return "applied at " + r.offset(p.Applied) + ", still on at the end"
	}
	return "applied at " + r.offset(p.Applied) + ", removed at " + r.offset(p.Removed)
}

// metricRow is one line of the metrics table.
type metricRow struct {
	label  string
	m      Metric
	fields []string // a trend's "avg=3.21ms" fields
}

func (s *summaryWriter) metrics(r Run) {
	if len(r.Metrics) == 0 {
		return
	}
	s.section("METRICS")
	groups := map[string][]metricRow{}
	labelW := 0
	statW := map[string]int{} // widest "k=v" per trend aggregate
	prev := ""
	for _, m := range r.Metrics {
		label := m.Key()
		if m.Submetric != "" && m.Name == prev {
			label = "  " + m.Submetric
		}
		prev = m.Name
		row := metricRow{label: label, m: m}
		if m.Kind == "trend" {
			for _, st := range trendStats(m) {
				f := st.Name + "=" + st.Value
				row.fields = append(row.fields, f)
				statW[st.Name] = max(statW[st.Name], utf8.RuneCountInString(f))
			}
		}
		g := group(m.Name)
		groups[g] = append(groups[g], row)
		labelW = max(labelW, utf8.RuneCountInString(label))
	}
	col := max(labelW+3, 32)
	if limit := max(s.opts.Width/2, 24); col > limit {
		col = limit
	}
	first := true
	for _, g := range groupOrder {
		rows := groups[g]
		if len(rows) == 0 {
			continue
		}
		if !first {
			s.line("")
		}
		first = false
		s.line("    %s", g)
		for _, row := range rows {
			dots := max(col-utf8.RuneCountInString(row.label), 0)
			value := brief(row.m)
			if row.fields != nil {
				stats := trendStats(row.m)
				parts := make([]string, len(row.fields))
				for i, f := range row.fields {
					if i < len(row.fields)-1 {
						f = pad(f, statW[stats[i].Name])
					}
					parts[i] = f
				}
				value = strings.Join(parts, " ")
			}
			s.line("    %s%s: %s", row.label, strings.Repeat(".", dots), value)
		}
	}
}

func (s *summaryWriter) thresholds(r Run) {
	s.section("THRESHOLDS")
	if len(r.Thresholds.Results) == 0 {
		s.line("    none: the run passes on its own, as in k6")
		return
	}
	for _, res := range r.Thresholds.Results {
		line := res.String()
		if s.opts.Color {
			mark, rest, _ := strings.Cut(line, " ")
			line = s.paint(resultColor(res.Verdict()), mark) + " " + rest
		}
		s.line("    %s", line)
	}
}

func resultColor(v verdict.Verdict) string {
	switch v {
	case verdict.Pass:
		return ansiGreen
	case verdict.Fail:
		return ansiRed
	}
	return ansiYellow
}

func (s *summaryWriter) notes(r Run) {
	if len(r.Notes) == 0 {
		return
	}
	s.section("NOTES")
	for _, n := range r.Notes {
		s.line("    %s", n)
	}
}

func (s *summaryWriter) verdict(r Run) {
	line := verdictLine(r)
	s.line("")
	color := ansiYellow
	switch r.verdict() {
	case VerdictPass:
		color = ansiGreen
	case VerdictFail:
		color = ansiRed
	}
	s.line("%s", s.paint(ansiBold+color, line))
}

// verdictLine is the run's verdict in one line: the outcome in capitals,
// then the counts and the thresholds that decided it.
func verdictLine(r Run) string {
	sum := r.Thresholds
	n := len(sum.Results)
	var b strings.Builder
	switch v := r.verdict(); v {
	case VerdictPass:
		if n == 0 {
			b.WriteString("PASS: no thresholds to judge")
		} else {
			fmt.Fprintf(&b, "PASS: %d of %d thresholds passed", sum.Passed, n)
		}
	case VerdictFail:
		b.WriteString("FAIL: ")
		var parts []string
		if r.Abort != "" {
			parts = append(parts, "aborted: "+r.Abort)
		}
		if sum.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d %s failed: %s", sum.Failed, n, plural(n, "threshold"), listResults(sum, verdict.Fail)))
		}
		if sum.NoData > 0 {
			parts = append(parts, fmt.Sprintf("%d had no data", sum.NoData))
		}
		if len(parts) == 0 {
			parts = append(parts, "the run failed")
		}
		b.WriteString(strings.Join(parts, "; "))
	case VerdictInconclusive:
		if sum.NoData == 0 {
			b.WriteString("INCONCLUSIVE: not enough data to judge")
			break
		}
		fmt.Fprintf(&b, "INCONCLUSIVE: %d of %d %s had no data: %s; %d passed", sum.NoData, n, plural(n, "threshold"), listResults(sum, verdict.NoData), sum.Passed)
	case VerdictInterrupted:
		fmt.Fprintf(&b, "INTERRUPTED after %s", fmtOffset(r.Duration))
		if r.Partial {
			b.WriteString(" (partial report")
			if r.PartialReason != "" {
				b.WriteString(": " + r.PartialReason)
			}
			b.WriteString(")")
		}
		if r.Abort != "" {
			b.WriteString(": aborted: " + r.Abort)
		}
		if n > 0 {
			fmt.Fprintf(&b, ": thresholds judged on partial data: %s", counts(sum))
			if sum.Failed > 0 {
				b.WriteString(": " + listResults(sum, verdict.Fail))
			}
		}
	default:
		fmt.Fprintf(&b, "%s: %s", strings.ToUpper(v), counts(sum))
	}
	return b.String()
}

// listResults lists the results with verdict v: "key expr (observed
// 812.00ms)" for failures, "key expr" for no data.
func listResults(sum verdict.Summary, v verdict.Verdict) string {
	var parts []string
	for _, res := range sum.Results {
		if res.Verdict() != v {
			continue
		}
		if v == verdict.Fail {
			parts = append(parts, res.Threshold.String()+" (observed "+observed(res)+")")
		} else {
			parts = append(parts, res.Threshold.String())
		}
	}
	return strings.Join(parts, ", ")
}

func counts(sum verdict.Summary) string {
	parts := []string{fmt.Sprintf("%d passed", sum.Passed)}
	if sum.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", sum.Failed))
	}
	if sum.NoData > 0 {
		parts = append(parts, fmt.Sprintf("%d had no data", sum.NoData))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// pad right-pads s with spaces to w runes.
func pad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
