package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFmtValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{0, "ms", "0s"},
		{0.41, "ms", "410.00µs"},
		{3.2099, "ms", "3.21ms"},
		{812, "ms", "812.00ms"},
		{2013.77, "ms", "2.01s"},
		{65300, "ms", "1m5.30s"},
		{3.2, "s", "3.20s"},
		{0.0021, "s", "2.10ms"},
		{812, "B", "812 B"},
		{412_803_112, "B", "412.8 MB"},
		{999_960, "B", "1.0 MB"},
		{167169, "", "167169"},
		{2786.152, "", "2786.15"},
		{0.000299099, "", "0.000299099"},
		{math.NaN(), "ms", "n/a"},
		{math.Inf(1), "", "n/a"},
	}
	for _, tt := range tests {
		if got := fmtValue(tt.v, tt.unit); got != tt.want {
			t.Errorf("fmtValue(%v, %q) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

func TestBrief(t *testing.T) {
	tests := []struct {
		name string
		m    Metric
		want string
	}{
		{"counter", Metric{Kind: "counter", Values: map[string]float64{"count": 48213, "rate": 803.551}}, "48213  803.55/s"},
		{"bytes", Metric{Kind: "counter", Unit: "B", Values: map[string]float64{"count": 1.3e6, "rate": 31000}}, "1.3 MB  31.0 kB/s"},
		{"rate", Metric{Kind: "rate", Values: map[string]float64{"rate": 0.0125, "passes": 150, "fails": 11850}}, "1.25%  150 out of 12000"},
		{"gauge", Metric{Kind: "gauge", Values: map[string]float64{"value": 50, "min": 1, "max": 50}}, "50  min=1 max=50"},
		{"trend with an extra percentile", Metric{Kind: "trend", Unit: "ms", Values: map[string]float64{
			"p(99.9)": 40, "avg": 3, "p(95)": 9, "p(50)": 2, "max": 41,
		}}, "avg=3.00ms max=41.00ms p(95)=9.00ms p(50)=2.00ms p(99.9)=40.00ms"},
		{"unknown kind", Metric{Kind: "histogram", Values: map[string]float64{"b": 2, "a": 1}}, "a=1 b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := brief(tt.m); got != tt.want {
				t.Errorf("brief = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTicks(t *testing.T) {
	plot := rect{X: 0, Y: 0, W: 100, H: 100}
	_, lin := linearScale(4290, plot, fmtCount)
	var labels []string
	for _, tk := range lin {
		labels = append(labels, tk.Label)
	}
	if d := cmp.Diff([]string{"0", "1k", "2k", "3k", "4k", "5k"}, labels); d != "" {
		t.Errorf("linear ticks (-want +got):\n%s", d)
	}

	y, logTicks := logScale(1.9, 2004, plot)
	labels = labels[:0]
	for _, tk := range logTicks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if d := cmp.Diff([]string{"1ms", "10ms", "100ms", "1s", "10s"}, labels); d != "" {
		t.Errorf("log ticks (-want +got):\n%s", d)
	}
	if y(1) != 100 || y(10000) != 0 || y(100) != 50 {
		t.Errorf("log scale: y(1ms)=%v y(100ms)=%v y(10s)=%v", y(1), y(100), y(10000))
	}

	for _, tt := range []struct {
		s    float64
		want string
	}{{0, "0s"}, {45, "45s"}, {60, "1m"}, {90, "1m30s"}, {3900, "1h5m"}} {
		if got := fmtSeconds(tt.s); got != tt.want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", tt.s, got, tt.want)
		}
	}
	for _, tt := range []struct {
		total, want float64
	}{{60, 5}, {10, 1}, {600, 60}, {3600, 300}} {
		if got := niceTimeStep(tt.total); got != tt.want {
			t.Errorf("niceTimeStep(%v) = %v, want %v", tt.total, got, tt.want)
		}
	}
}

func TestPathBreaksOnEmptySeconds(t *testing.T) {
	ps := []Point{
		{Second: 0, Requests: 10, P50: time.Millisecond},
		{Second: 1, Requests: 10, P50: time.Millisecond},
		{Second: 2}, // no requests
		{Second: 3, Requests: 10, P50: time.Millisecond},
		{Second: 5, Requests: 10, P50: time.Millisecond}, // second 4 missing
	}
	x := func(s float64) float64 { return s * 10 }
	got := path(ps, x, func(p Point) (float64, bool) { return 1, p.Requests > 0 })
	want := "M5 1L15 1M35 1M55 1"
	if got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestLatencyChartScale(t *testing.T) {
	c := latencyChart(outageRun(t))
	if c.YLabel != "latency (log scale)" {
		t.Errorf("an outage from 2ms to 2s should be on a log scale, got %q", c.YLabel)
	}
	if len(c.Bands) != 1 || c.Bands[0].Name != "outage" {
		t.Fatalf("bands %+v, want the outage", c.Bands)
	}
	// The band covers 20.004s..40.002s of 60s on the plot.
	b := c.Bands[0]
	wantX := round1(c.Plot.X + 20.004/60*c.Plot.W)
	if b.X != wantX {
		t.Errorf("band starts at %v, want %v", b.X, wantX)
	}
	if len(c.Refs) != 2 {
		t.Errorf("refs %+v, want the 50ms and 100ms limits", c.Refs)
	}
	if !strings.Contains(c.Refs[0].Label, "p(95) < 50ms · whole run, phase:outage") {
		t.Errorf("ref label %q", c.Refs[0].Label)
	}

	steady := outageRun(t)
	steady.Thresholds.Results = nil
	for i := range steady.Series {
		steady.Series[i].P50, steady.Series[i].P95, steady.Series[i].P99 = 2*time.Millisecond, 6*time.Millisecond, 11*time.Millisecond
	}
	if c := latencyChart(steady); c.YLabel != "latency" {
		t.Errorf("2ms..11ms should be linear, got %q", c.YLabel)
	}
}

func TestFitText(t *testing.T) {
	if got := fitText("redis: blackhole", 1000, 6); got != "redis: blackhole" {
		t.Errorf("fits: %q", got)
	}
	if got := fitText("redis: blackhole", 60, 6); got != "redis: bl…" {
		t.Errorf("cut: %q", got)
	}
	if got := fitText("redis: blackhole", 12, 6); got != "" {
		t.Errorf("too narrow: %q", got)
	}
}
