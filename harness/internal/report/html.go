package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

//go:embed report.html.tmpl
var reportTemplate string

var pageTemplate = template.Must(template.New("report").Parse(reportTemplate))

// WriteHTML writes report.html: one self-contained page that fetches
// nothing (inline CSS, SVG drawn here, no script, no web fonts), so it
// opens from a CI artifact store or an air-gapped machine. It shows the
// verdict, headline figures, the phase timeline, latency percentiles
// (p50, p95, p99) per second and requests and errors per second with
// each fault drawn as a shaded band over the time it was on, the
// thresholds (observed against limit) and every metric. Each second of a
// chart has a tooltip with its values. Everything from the run is
// escaped by html/template.
func WriteHTML(w io.Writer, r Run) error {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, newPage(r)); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

type page struct {
	Run        Run
	Title      string
	Word       string // "PASS"
	Class      string // "pass", "fail" or "warn": the colour
	Line       string // the verdict line
	Started    string
	Duration   string
	Tiles      []tile
	Timeline   timeline
	PhaseRows  []phaseRow
	Latency    chart
	Throughput chart
	Thresholds []thresholdRow
	Trends     trendTable
	Others     []otherRow
}

type tile struct {
	Label, Value, Sub, Class string
}

type phaseRow struct {
	Name, From, To, Fault, Applied, Removed string
}

type thresholdRow struct {
	Class, Status, Submetric, Expr, Observed, Limit, Note string
}

type trendTable struct {
	Cols []string
	Rows []trendRow
}

type trendRow struct {
	Name  string
	Sub   bool
	Cells []string
}

type otherRow struct {
	Name   string
	Sub    bool
	Kind   string
	Value  string
	Detail string
}

// timeline is the phases as a bar on the charts' time axis.
type timeline struct {
	W, H   float64
	Plot   rect
	XTicks []tick
	Segs   []segment
	Faults []band
	NotRun *notRun
}

type segment struct {
	X, W  float64
	MidX  float64
	Text  string
	Title string
	Fault bool
}

func newPage(r Run) page {
	v := r.verdict()
	p := page{
		Run:        r,
		Word:       strings.ToUpper(v),
		Class:      verdictClass(v),
		Line:       verdictLine(r),
		Duration:   fmtOffset(r.Duration),
		Latency:    latencyChart(r),
		Throughput: throughputChart(r),
		Timeline:   newTimeline(r),
	}
	if r.Partial {
		p.Word += " · PARTIAL"
	}
	p.Title = "flagstorm · " + r.Scenario + " · " + p.Word
	if !r.Start.IsZero() {
		p.Started = r.Start.Format("2006-01-02 15:04:05 MST")
	}
	p.Tiles = tiles(r)
	for _, ph := range r.Phases {
		row := phaseRow{Name: ph.Name, From: fmtOffset(ph.Start), To: fmtOffset(ph.End), Fault: ph.Fault}
		if ph.Fault != "" {
			row.Applied, row.Removed = "not applied", "—"
			if !ph.Applied.IsZero() {
				row.Applied = r.offset(ph.Applied)
				row.Removed = "still on at the end"
			}
			if !ph.Removed.IsZero() {
				row.Removed = r.offset(ph.Removed)
			}
		}
		p.PhaseRows = append(p.PhaseRows, row)
	}
	for _, res := range r.Thresholds.Results {
		t := res.Threshold
		row := thresholdRow{
			Submetric: t.Submetric(), Expr: t.Expr.String(), Observed: observed(res), Limit: condition(t),
		}
		switch res.Verdict() {
		case verdict.Pass:
			row.Class, row.Status = "pass", "PASS"
		case verdict.Fail:
			row.Class, row.Status = "fail", "FAIL"
		default:
			row.Class, row.Status = "warn", "NO DATA"
			row.Observed = "—"
			row.Note = "no samples: the phase did not run or the selector matched nothing"
			if res.Reason != "" {
				row.Status, row.Note = "INCONCLUSIVE", res.Reason
			}
		}
		var notes []string
		if row.Note != "" {
			notes = append(notes, row.Note)
		}
		if t.AbortOnFail {
			notes = append(notes, "abortOnFail")
		}
		if t.Key != t.Submetric() {
			notes = append(notes, "key as written: "+t.Key)
		}
		row.Note = strings.Join(notes, "; ")
		p.Thresholds = append(p.Thresholds, row)
	}
	p.Trends, p.Others = metricTables(r.Metrics)
	return p
}

func verdictClass(v string) string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictFail:
		return "fail"
	}
	return "warn"
}

// tiles are the headline figures, from the whole-run metrics present.
func tiles(r Run) []tile {
	find := func(name string) (Metric, bool) {
		for _, m := range r.Metrics {
			if m.Name == name && m.Submetric == "" {
				return m, true
			}
		}
		return Metric{}, false
	}
	var out []tile
	if m, ok := find("http_reqs"); ok {
		out = append(out, tile{Label: "Requests", Value: fmtNumber(m.Values["count"]), Sub: fmtNumber(m.Values["rate"]) + " per second"})
	}
	if m, ok := find("http_req_failed"); ok {
		t := tile{Label: "Failed requests", Value: fmtPercent(m.Values["rate"])}
		if f, ok := m.Values["passes"]; ok {
			t.Sub = fmtNumber(f) + " out of " + fmtNumber(f+m.Values["fails"])
		}
		if m.Values["rate"] > 0 {
			t.Class = "fail"
		}
		out = append(out, t)
	}
	if m, ok := find("http_req_duration"); ok {
		if v, ok := m.Values["p(95)"]; ok {
			t := tile{Label: "p95 latency", Value: fmtValue(v, m.Unit)}
			if v99, ok := m.Values["p(99)"]; ok {
				t.Sub = "p99 " + fmtValue(v99, m.Unit) + " · max " + fmtValue(m.Values["max"], m.Unit)
			}
			out = append(out, t)
		}
	}
	if m, ok := find("recovery_time"); ok {
		out = append(out, tile{Label: "Recovery time", Value: fmtValue(m.Values["value"], m.Unit), Sub: "after the fault was removed"})
	}
	sum := r.Thresholds
	if n := len(sum.Results); n > 0 {
		t := tile{Label: "Thresholds", Value: fmt.Sprintf("%d / %d passed", sum.Passed, n)}
		var parts []string
		if sum.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d failed", sum.Failed))
			t.Class = "fail"
		}
		if sum.NoData > 0 {
			parts = append(parts, fmt.Sprintf("%d no data", sum.NoData))
			if t.Class == "" {
				t.Class = "warn"
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "all passed")
			t.Class = "pass"
		}
		t.Sub = strings.Join(parts, " · ")
		out = append(out, t)
	}
	return out
}

// metricTables splits the metrics into a table of trends, one column per
// aggregate, and a list of the rest.
func metricTables(ms []Metric) (trendTable, []otherRow) {
	var tt trendTable
	var others []otherRow
	seen := map[string]bool{}
	var extra []string
	for _, m := range ms {
		if m.Kind != "trend" {
			continue
		}
		for _, s := range trendStats(m) {
			if !seen[s.Name] {
				seen[s.Name] = true
				extra = append(extra, s.Name)
			}
		}
	}
	for _, k := range trendStatOrder {
		if seen[k] {
			tt.Cols = append(tt.Cols, k)
		}
	}
	for _, k := range extra {
		if !slices.Contains(tt.Cols, k) {
			tt.Cols = append(tt.Cols, k)
		}
	}
	prevTrend, prevOther := "", ""
	for _, m := range ms {
		if m.Kind == "trend" {
			row := trendRow{Name: m.Key()}
			if m.Submetric != "" && m.Name == prevTrend {
				row.Name, row.Sub = m.Submetric, true
			}
			prevTrend = m.Name
			for _, c := range tt.Cols {
				cell := "—"
				if v, ok := m.Values[c]; ok {
					cell = fmtValue(v, m.Unit)
				}
				row.Cells = append(row.Cells, cell)
			}
			tt.Rows = append(tt.Rows, row)
			continue
		}
		row := otherRow{Name: m.Key(), Kind: m.Kind}
		row.Value, row.Detail = briefParts(m)
		if m.Submetric != "" && m.Name == prevOther {
			row.Name, row.Sub = m.Submetric, true
		}
		prevOther = m.Name
		others = append(others, row)
	}
	return tt, others
}

func newTimeline(r Run) timeline {
	c := newChart(96)
	c.Plot.Y, c.Plot.H = 8, 34
	x := c.xAxis(r)
	tl := timeline{W: c.W, H: c.H, Plot: c.Plot, XTicks: c.XTicks, NotRun: c.NotRun}
	for _, ph := range r.Phases {
		from, to := x(ph.Start.Seconds()), x(ph.End.Seconds())
		text := ph.Name
		if ph.Fault != "" {
			text += " · " + ph.Fault
		}
		title := ph.Name + ": " + fmtOffset(ph.Start) + " → " + fmtOffset(ph.End)
		if ph.Fault != "" {
			title += ", " + ph.Fault + " (" + faultTimes(r, ph) + ")"
		}
		tl.Segs = append(tl.Segs, segment{
			X: from, W: max(round1(to-from-2), 1), MidX: round1((from + to) / 2),
			Text: fitText(text, to-from-12, 7), Title: title, Fault: ph.Fault != "",
		})
	}
	// The faults' actual windows, as a thin bar under the phases.
	tl.Faults = c.Bands
	return tl
}
