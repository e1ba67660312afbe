package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
)

// The charts are SVG drawn by html/template from these values, so every
// label, user input included, is escaped like the rest of the page.

// chart is one time-series chart: axes, fault bands, lines.
type chart struct {
	W, H   float64 // the viewBox
	Plot   rect    // the plotting area
	XTicks []tick
	YTicks []tick // left axis
	YLabel string
	Y2     *axis // a right axis, or nil
	Bands  []band
	NotRun *notRun   // the planned time the run did not reach, or nil
	Bounds []float64 // x of phase boundaries
	Phases []label   // phase names above the plot
	Lines  []line
	Refs   []ref
	Hover  []hover
	Legend []legendItem
	Empty  bool // no series: the chart says so
}

type rect struct{ X, Y, W, H float64 }

// Right and Bottom are the far edges.
func (r rect) Right() float64  { return round1(r.X + r.W) }
func (r rect) Bottom() float64 { return round1(r.Y + r.H) }

type axis struct {
	Ticks []tick
	Label string
	Class string // the CSS class that colours it
}

type tick struct {
	Pos   float64 // x for the x axis, y for the y axes
	Label string  // "" for a minor gridline
}

// band is a fault, shaded over the time it was on.
type band struct {
	X, W       float64
	Name       string // the phase
	Fault      string // the fault, cut to fit the band
	Title      string // the whole text, for the tooltip
	LabelX     float64
	ShowLabels bool
}

// notRun shades the planned time after an aborted or interrupted run
// ended.
type notRun struct {
	X, W   float64
	Label  string
	LabelX float64
}

type label struct {
	X, W  float64 // the span the label is centred over
	MidX  float64
	Text  string
	Fault bool
}

type line struct {
	D     string // the path
	Area  string // a closed path under the line to fill, or ""
	Class string // CSS class: colour and dash
}

// ref is a horizontal reference line: a threshold's limit.
type ref struct {
	Y     float64
	Label string
	LX    float64
	DY    float64 // the label's offset: above the line, or below near the top
}

// hover is one second's column; its tooltip gives the second's values.
type hover struct {
	X, W  float64
	Title string
}

type legendItem struct {
	Class string
	Text  string
}

const (
	chartW    = 1160
	chartH    = 300
	padLeft   = 70
	padRight  = 70
	padTop    = 30
	padBottom = 44
)

func newChart(height float64) chart {
	return chart{
		W: chartW, H: height,
		Plot: rect{X: padLeft, Y: padTop, W: chartW - padLeft - padRight, H: height - padTop - padBottom},
	}
}

// runSeconds is the span the x axis covers.
func runSeconds(r Run) float64 {
	t := r.Duration.Seconds()
	for _, p := range r.Phases {
		t = max(t, p.End.Seconds())
	}
	if n := len(r.Series); n > 0 {
		t = max(t, float64(r.Series[n-1].Second+1))
	}
	if t <= 0 {
		return 1
	}
	return t
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// xAxis fills the x ticks, the phase labels, boundaries and fault bands
// shared by every chart, and returns the scale from seconds to x.
func (c *chart) xAxis(r Run) func(float64) float64 {
	total := runSeconds(r)
	x := func(s float64) float64 {
		s = min(max(s, 0), total)
		return round1(c.Plot.X + s/total*c.Plot.W)
	}
	step := niceTimeStep(total)
	for s := 0.0; s <= total+1e-9; s += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(s), Label: fmtSeconds(s)})
	}
	for i, p := range r.Phases {
		from, to := x(p.Start.Seconds()), x(p.End.Seconds())
		c.Phases = append(c.Phases, label{X: from, W: round1(to - from), MidX: round1((from + to) / 2), Text: fitText(p.Name, to-from, 6.6), Fault: p.Fault != ""})
		if i > 0 || p.Start > 0 {
			c.Bounds = append(c.Bounds, from)
		}
	}
	if end := r.Duration.Seconds(); end > 0 && total-end >= 0.5 {
		from := x(end)
		c.NotRun = &notRun{X: from, W: round1(c.Plot.Right() - from), Label: "run ended at " + fmtOffset(r.Duration), LabelX: round1(from + 6)}
	}
	for _, p := range r.Phases {
		fromD, toD, ok := r.faultWindow(p)
		if !ok {
			continue
		}
		from, to := x(fromD.Seconds()), x(toD.Seconds())
		w := max(round1(to-from), 1)
		b := band{
			X: from, W: w, Name: p.Name, LabelX: round1(from + 6),
			Title: p.Name + ": " + p.Fault + " (" + faultTimes(r, p) + ")",
		}
		b.Fault = fitText(p.Fault, w-12, 6.1)
		b.ShowLabels = b.Fault != ""
		c.Bands = append(c.Bands, b)
	}
	return x
}

// hovers adds a tooltip column per second.
func (c *chart) hovers(r Run, x func(float64) float64) {
	for _, p := range r.Series {
		from, to := x(float64(p.Second)), x(float64(p.Second+1))
		title := fmt.Sprintf("%s–%s · %d req/s · %d errors/s", fmtSeconds(float64(p.Second)), fmtSeconds(float64(p.Second+1)), p.Requests, p.Failed)
		if p.Requests > 0 {
			title += fmt.Sprintf(" · p50 %s · p95 %s · p99 %s", fmtTime(msOf(p.P50)), fmtTime(msOf(p.P95)), fmtTime(msOf(p.P99)))
		}
		c.Hover = append(c.Hover, hover{X: from, W: max(round1(to-from), 0.1), Title: title})
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fitText cuts s to what fits in width pixels at about charW pixels a
// character, with an ellipsis; "" when not even a few characters fit.
func fitText(s string, width, charW float64) string {
	n := int(width / charW)
	r := []rune(s)
	switch {
	case len(r) <= n:
		return s
	case n < 4:
		return ""
	}
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// latencyChart draws p50, p95 and p99 per second, on a log scale when
// they span more than a factor of 20 (an outage's seconds-long timeouts
// next to a cache's milliseconds), with the limits of the latency
// thresholds as dashed lines.
func latencyChart(r Run) chart {
	c := newChart(chartH + 40)
	x := c.xAxis(r)
	c.Legend = []legendItem{{"p50", "p50"}, {"p95", "p95"}, {"p99", "p99"}}
	limits := latencyLimits(r.Thresholds.Results)
	lo, hi := latencySpan(r.Series)
	if hi == 0 {
		c.Empty = true
		c.YLabel = "latency"
		return c
	}
	for _, l := range limits {
		if l.limit > 0 {
			lo, hi = min(lo, l.limit), max(hi, l.limit)
		}
	}
	var y func(float64) float64
	if hi/lo > 20 {
		y, c.YTicks = logScale(lo, hi, c.Plot)
		c.YLabel = "latency (log scale)"
	} else {
		y, c.YTicks = linearScale(hi, c.Plot, fmtTick)
		c.YLabel = "latency"
	}
	for _, q := range []struct {
		class string
		get   func(Point) time.Duration
	}{
		{"p50", func(p Point) time.Duration { return p.P50 }},
		{"p95", func(p Point) time.Duration { return p.P95 }},
		{"p99", func(p Point) time.Duration { return p.P99 }},
	} {
		c.Lines = append(c.Lines, line{D: path(r.Series, x, func(p Point) (float64, bool) {
			v := msOf(q.get(p))
			if p.Requests == 0 || v <= 0 {
				return 0, false
			}
			return y(v), true
		}), Class: q.class})
	}
	c.limitRefs(limits, y)
	c.hovers(r, x)
	return c
}

// latencyLimit is one limit of the latency thresholds, drawn as one
// dashed line labelled with what it limits:
// "p(95) < 50ms · whole run, phase:outage".
type latencyLimit struct {
	limit float64
	aggs  []string            // "p(95) <", in order of appearance
	sels  map[string][]string // the selectors, by aggs
}

// latencyLimits gathers the limits of the upper-bound thresholds on
// http_req_duration in milliseconds, in order of appearance.
func latencyLimits(results []verdict.Result) []*latencyLimit {
	var limits []*latencyLimit
	for _, res := range results {
		t := res.Threshold
		if t.Metric != "http_req_duration" || t.Type != verdict.Trend || t.Unit != verdict.UnitMilliseconds {
			continue
		}
		switch t.Expr.Op {
		case verdict.OpLess, verdict.OpLessEq:
		default:
			continue
		}
		i := slices.IndexFunc(limits, func(a *latencyLimit) bool { return a.limit == t.Expr.Limit })
		if i < 0 {
			limits = append(limits, &latencyLimit{limit: t.Expr.Limit, sels: map[string][]string{}})
			i = len(limits) - 1
		}
		l, agg := limits[i], t.Expr.Agg.String()+" "+t.Expr.Op.String()
		if _, ok := l.sels[agg]; !ok {
			l.aggs = append(l.aggs, agg)
		}
		sel := "whole run"
		if len(t.Tags) > 0 {
			sel = strings.Trim(t.Tags.String(), "{}")
		}
		if !slices.Contains(l.sels[agg], sel) {
			l.sels[agg] = append(l.sels[agg], sel)
		}
	}
	return limits
}

// latencySpan is the least and greatest positive percentile, in
// milliseconds, of the seconds with requests; hi is 0 if there is none.
func latencySpan(series []Point) (lo, hi float64) {
	lo, hi = math.Inf(1), 0.0
	for _, p := range series {
		if p.Requests == 0 {
			continue
		}
		for _, d := range []time.Duration{p.P50, p.P95, p.P99} {
			if v := msOf(d); v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	return lo, hi
}

// limitRefs adds a dashed line per positive limit, and the legend's
// entry for them if there is one.
func (c *chart) limitRefs(limits []*latencyLimit, y func(float64) float64) {
	for _, l := range limits {
		if l.limit <= 0 {
			continue
		}
		var parts []string
		for _, agg := range l.aggs {
			parts = append(parts, agg+" "+fmtTick(l.limit)+" · "+strings.Join(l.sels[agg], ", "))
		}
		rv := ref{Y: y(l.limit), Label: strings.Join(parts, "; "), LX: round1(c.Plot.Right() - 6), DY: -5}
		if rv.Y-c.Plot.Y < 16 {
			rv.DY = 14
		}
		c.Refs = append(c.Refs, rv)
	}
	if len(c.Refs) > 0 {
		c.Legend = append(c.Legend, legendItem{"limit", "threshold limit"})
	}
}

// throughputChart draws requests/s on the left axis and errors/s on the
// right one, so a handful of errors beside thousands of requests still
// shows.
func throughputChart(r Run) chart {
	c := newChart(chartH)
	x := c.xAxis(r)
	c.Legend = []legendItem{{"reqs", "requests/s (left axis)"}, {"errs", "errors/s (right axis)"}}
	if len(r.Series) == 0 {
		c.Empty = true
		c.YLabel = "requests/s"
		return c
	}
	var maxReq, maxErr float64
	for _, p := range r.Series {
		maxReq = max(maxReq, float64(p.Requests))
		maxErr = max(maxErr, float64(p.Failed))
	}
	y, ticks := linearScale(max(maxReq, 1), c.Plot, fmtCount)
	c.YTicks, c.YLabel = ticks, "requests/s"
	y2, ticks2 := linearScale(max(maxErr, 1), c.Plot, fmtCount)
	// The right axis draws no gridlines of its own: its ticks are labels.
	c.Y2 = &axis{Ticks: ticks2, Label: "errors/s", Class: "errs"}

	reqPath := path(r.Series, x, func(p Point) (float64, bool) { return y(float64(p.Requests)), true })
	c.Lines = append(c.Lines, line{D: reqPath, Class: "reqs"})
	errPath := path(r.Series, x, func(p Point) (float64, bool) { return y2(float64(p.Failed)), true })
	first, last := float64(r.Series[0].Second)+0.5, float64(r.Series[len(r.Series)-1].Second)+0.5
	area := errPath + fmt.Sprintf("L%s %sL%s %sZ", num(x(last)), num(c.Plot.Bottom()), num(x(first)), num(c.Plot.Bottom()))
	c.Lines = append(c.Lines, line{D: errPath, Area: area, Class: "errs"})
	c.hovers(r, x)
	return c
}

// path is an SVG path through the points at the middle of each second,
// broken where value says there is none.
func path(ps []Point, x func(float64) float64, value func(Point) (float64, bool)) string {
	var b strings.Builder
	pen := false
	prev := -2
	for _, p := range ps {
		v, ok := value(p)
		if !ok {
			pen = false
			continue
		}
		cmd := "L"
		if !pen || p.Second != prev+1 {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%s %s", cmd, num(x(float64(p.Second)+0.5)), num(v))
		pen, prev = true, p.Second
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }

// linearScale maps 0..hi (rounded up to a nice number) onto the plot's
// height, with about five labelled ticks.
func linearScale(hi float64, plot rect, format func(float64) string) (func(float64) float64, []tick) {
	step := niceStep(hi / 5)
	top := math.Ceil(hi/step-1e-9) * step
	y := func(v float64) float64 { return round1(plot.Bottom() - v/top*plot.H) }
	var ticks []tick
	for i := 0; float64(i)*step <= top+step/1e6; i++ {
		v := float64(i) * step
		ticks = append(ticks, tick{Pos: y(v), Label: format(v)})
	}
	return y, ticks
}

// logScale maps whole decades around lo..hi onto the plot's height:
// labelled ticks at each decade, and at 2× and 5× when there are three
// decades or fewer, minor gridlines at 2× and 5× otherwise.
func logScale(lo, hi float64, plot rect) (func(float64) float64, []tick) {
	l := math.Floor(math.Log10(lo))
	h := math.Ceil(math.Log10(hi))
	if h <= l {
		h = l + 1
	}
	y := func(v float64) float64 {
		if v <= 0 {
			return plot.Bottom()
		}
		return round1(plot.Bottom() - (math.Log10(v)-l)/(h-l)*plot.H)
	}
	var ticks []tick
	for e := l; e <= h; e++ {
		d := math.Pow(10, e)
		ticks = append(ticks, tick{Pos: y(d), Label: fmtTick(d)})
		if e == h {
			break
		}
		for _, m := range []float64{2, 5} {
			t := tick{Pos: y(m * d)}
			if h-l <= 3 {
				t.Label = fmtTick(m * d)
			}
			ticks = append(ticks, t)
		}
	}
	return y, ticks
}

// niceStep is the 1, 2 or 5 times a power of ten nearest above v.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v-1e-12 {
			return m * p
		}
	}
	return 10 * p
}

// niceTimeStep picks an x tick interval giving at most 12 ticks.
func niceTimeStep(total float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		if total/s <= 12 {
			return s
		}
	}
	return math.Ceil(total/12/3600) * 3600
}

// fmtSeconds writes an x tick: "0s", "45s", "1m", "1m30s", "1h5m".
func fmtSeconds(s float64) string {
	t := int64(math.Round(s))
	h, m, sec := t/3600, t/60%60, t%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || t == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// fmtTick writes a latency tick given in milliseconds without needless
// decimals: "500µs", "2ms", "2.5ms", "1s".
func fmtTick(ms float64) string {
	trim := func(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return trim(ms*1000) + "µs"
	case ms < 1000:
		return trim(ms) + "ms"
	}
	return trim(ms/1000) + "s"
}

// fmtCount writes a count tick: "0", "800", "2.5k", "12k", "1.2M".
func fmtCount(v float64) string {
	trim := func(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
	switch {
	case v >= 1e6:
		return trim(v/1e6) + "M"
	case v >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}
