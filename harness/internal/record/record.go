// Package record aggregates the load engine's measurements: an
// HdrHistogram per trend metric and tag set, counters, rates and gauges,
// and one-second buckets for time series. Memory is bounded by the number
// of distinct tag sets (scenario, request name, method, status, phase,
// source — all bounded by the scenario file) and by the run's length in
// seconds, never by the number of requests.
//
// What it records is metric's catalog: a metric's kind and unit come from
// there, never from the caller. Code records through the catalog's typed
// handles (Count, Set, SetDuration, Rate, Observe); names from elsewhere
// go through Add, which refuses a metric the catalog does not have. Time
// is given as time.Duration and read back, by Summarize, in the metric's
// unit (milliseconds for http_req_duration, seconds for
// staleness_seconds).
package record

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// ErrUnknownMetric is Add's error for a name the metric catalog does not
// have.
var ErrUnknownMetric = errors.New("record: unknown metric")

// Tags are the dimensions a sample is split by. They are a fixed struct,
// not a map, so a series key is cheap to hash and cardinality stays
// bounded by what a scenario can name.
type Tags struct {
	Scenario string `json:"scenario,omitempty"`
	Name     string `json:"name,omitempty"`   // request template name
	Method   string `json:"method,omitempty"` // HTTP method
	Status   string `json:"status,omitempty"` // HTTP status code, or "0" when no response
	Phase    string `json:"phase,omitempty"`  // timeline phase
	Source   string `json:"source,omitempty"` // X-Flag-Source of the response
}

// Get returns the value of the tag called name, and whether name is a tag
// (one of metric.TagNames).
func (t Tags) Get(name string) (string, bool) {
	switch name {
	case metric.TagScenario:
		return t.Scenario, true
	case metric.TagName:
		return t.Name, true
	case metric.TagMethod:
		return t.Method, true
	case metric.TagStatus:
		return t.Status, true
	case metric.TagPhase:
		return t.Phase, true
	case metric.TagSource:
		return t.Source, true
	}
	return "", false
}

// Match reports whether t has every tag of sel with the same value.
func (t Tags) Match(sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := t.Get(k); !ok || got != v {
			return false
		}
	}
	return true
}

const (
	// Time trends are recorded in microseconds from 1 µs to 2 minutes
	// (longer values are clamped and counted) with 3 significant digits:
	// a p95 near a 50 ms limit is known to ±50 µs.
	hdrMin, hdrMax, hdrDigits = 1, int64(120 * time.Second / time.Microsecond), 3
)

// Layout is the range and precision of a recorder's HDR histograms: the
// lowest and highest trackable values, in the internal unit (µs for
// time), and the significant digits. Histograms merge exactly only
// within one layout.
type Layout struct {
	Lowest  int64 `json:"lowest"`
	Highest int64 `json:"highest"`
	Digits  int   `json:"digits"`
}

// DefaultLayout is the layout New gives: 1 µs to 2 minutes, 3 digits.
var DefaultLayout = Layout{Lowest: hdrMin, Highest: hdrMax, Digits: hdrDigits}

func (l Layout) String() string {
	return fmt.Sprintf("%d..%d, %d significant digits", l.Lowest, l.Highest, l.Digits)
}

func (l Layout) histogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(l.Lowest, l.Highest, l.Digits)
}

// sumScale is how many units of series.sum one internal unit is: sums
// are kept as integers (thousandths of the internal unit: nanoseconds for
// a trend of time), so that adding them is exact in any order, and the
// sum of a run merged from runners equals the sum of the same run on one
// machine bit for bit. An int64 holds 292 years of summed latency, or
// 9.2 PB of a counter of bytes.
const sumScale = 1000

// stored is how many of the recorder's internal units one unit of a
// trend is: trends of time are kept in microseconds, whatever unit the
// catalog reads them in. Other values are kept as they are.
func stored(u metric.Unit) float64 {
	switch u {
	case metric.UnitMilliseconds:
		return float64(time.Millisecond / time.Microsecond)
	case metric.UnitSeconds:
		return float64(time.Second / time.Microsecond)
	}
	return 1
}

// micros is d in the internal unit of time trends.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// series is one metric under one tag set. Trend values are in the
// internal unit (see stored); the others in the metric's unit.
type series struct {
	kind    metric.Kind
	count   int64 // samples
	sum     int64 // counter and trend: the sum in 1/sumScale internal units; rate: non-zero samples
	min     float64
	max     float64
	last    float64
	seq     uint64                  // the recorder's update count when last was set
	hist    *hdrhistogram.Histogram // trends only
	clamped int64                   // trend values beyond hdrMax
}

func newSeries(k metric.Kind, l Layout) *series {
	s := &series{kind: k, min: math.Inf(1), max: math.Inf(-1)}
	if k == metric.KindTrend {
		s.hist = l.histogram()
	}
	return s
}

func (s *series) add(v float64) {
	s.count++
	s.last = v
	s.min = min(s.min, v)
	s.max = max(s.max, v)
	switch s.kind {
	case metric.KindCounter, metric.KindTrend:
		s.sum += int64(math.Round(v * sumScale))
	case metric.KindRate:
		if v != 0 {
			s.sum++
		}
	}
	if s.hist != nil {
		us, top := int64(math.Round(v)), s.hist.HighestTrackableValue()
		if us > top {
			s.clamped++
			us = top
		}
		_ = s.hist.RecordValue(max(us, s.hist.LowestTrackableValue()))
	}
}

type key struct {
	metric string
	tags   Tags
}

// Recorder is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	start   time.Time
	layout  Layout
	series  map[key]*series
	seq     uint64
	buckets []Bucket // one per second since start
	// groups caches, per request tag set, the series AddRequest updates,
	// so that a request costs one map lookup.
	groups map[Tags]*requestGroup
	totals struct{ requests, failed int64 }
}

// requestGroup is the series one request's measurements go to.
type requestGroup struct {
	reqs, duration, waiting, service, failed, in, out *series
	checks, iterations                                *series
}

// New returns a Recorder for the metrics of metric's catalog.
func New(start time.Time) *Recorder {
	return newRecorder(start, DefaultLayout)
}

func newRecorder(start time.Time, l Layout) *Recorder {
	return &Recorder{start: start, layout: l, series: make(map[key]*series), groups: make(map[Tags]*requestGroup)}
}

// Start is the run's start time.
func (r *Recorder) Start() time.Time { return r.start }

// Count adds n to a counter.
func (r *Recorder) Count(h metric.Counter, tags Tags, n float64) { r.record(h.Desc(), tags, n) }

// Set sets a gauge.
func (r *Recorder) Set(h metric.Gauge, tags Tags, v float64) { r.record(h.Desc(), tags, v) }

// SetDuration sets a gauge of time; it reads back in the metric's unit.
func (r *Recorder) SetDuration(h metric.TimeGauge, tags Tags, d time.Duration) {
	desc := h.Desc()
	r.record(desc, tags, desc.Unit.FromDuration(d))
}

// Rate records one sample of a rate: nonZero counts towards the fraction.
func (r *Recorder) Rate(h metric.Rate, tags Tags, nonZero bool) {
	v := 0.0
	if nonZero {
		v = 1
	}
	r.record(h.Desc(), tags, v)
}

// Observe records one duration of a trend; it reads back in the metric's
// unit.
func (r *Recorder) Observe(h metric.Trend, tags Tags, d time.Duration) {
	r.record(h.Desc(), tags, micros(d))
}

// record adds v, in the internal unit, to a catalogued metric; the zero
// handle's empty Desc records nothing.
func (r *Recorder) record(d metric.Desc, tags Tags, v float64) {
	if d.Name == "" {
		return
	}
	r.mu.Lock()
	r.addTo(r.seriesLocked(d.Name, d.Kind, tags), v)
	r.mu.Unlock()
}

// Add records one sample of the metric called name, in the metric's unit
// (a trend of time in the catalog's milliseconds or seconds, a counter of
// bytes in bytes). Code that knows its metric uses the typed methods; Add
// is for names from elsewhere. It returns an error wrapping
// ErrUnknownMetric for a name the catalog does not have, and an error for
// a NaN or infinite value; nothing is recorded then.
func (r *Recorder) Add(name string, tags Tags, v float64) error {
	d, ok := metric.Lookup(name)
	if !ok {
		return fmt.Errorf("%w %q (not in the metric catalog)", ErrUnknownMetric, name)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("record: %s: %v is not a value", name, v)
	}
	if d.Kind == metric.KindTrend {
		v *= stored(d.Unit)
	}
	r.record(d, tags, v)
	return nil
}

// seriesLocked finds or makes a series.
func (r *Recorder) seriesLocked(name string, kind metric.Kind, tags Tags) *series {
	k := key{name, tags}
	s := r.series[k]
	if s == nil {
		s = newSeries(kind, r.layout)
		r.series[k] = s
	}
	return s
}

func (r *Recorder) addTo(s *series, v float64) {
	r.seq++
	s.seq = r.seq
	s.add(v)
}

// Request is one HTTP request's measurements.
type Request struct {
	Tags     Tags
	At       time.Time     // when the request was intended (open model) or sent (closed model)
	Duration time.Duration // from At to the end of the response body
	Waiting  time.Duration // time to first byte, from the actual send
	Service  time.Duration // from the actual send to the end of the body
	Failed   bool
	BytesIn  int64
	BytesOut int64
	// Check also records the request as an iteration of its scenario and
	// as a check (passed unless Failed) under its scenario, name and
	// phase.
	Check bool
}

// Names of metrics that callers outside this package select by. They
// forward to the catalog; new code uses metric's handles.
var (
	HTTPReqs        = metric.HTTPReqs.Name()
	HTTPReqDuration = metric.HTTPReqDuration.Name()
)

// AddRequest records a request's metrics (http_reqs, http_req_duration,
// http_req_waiting, http_req_service_time, http_req_failed,
// data_received, data_sent, and with Check checks and iterations) and its
// time-series bucket under one lock.
func (r *Recorder) AddRequest(q Request) {
	failed := 0.0
	if q.Failed {
		failed = 1
	}
	r.mu.Lock()
	g := r.groups[q.Tags]
	if g == nil {
		g = r.groupLocked(q.Tags)
	}
	r.addTo(g.reqs, 1)
	r.addTo(g.duration, micros(q.Duration))
	r.addTo(g.waiting, micros(q.Waiting))
	r.addTo(g.service, micros(q.Service))
	r.addTo(g.failed, failed)
	r.addTo(g.in, float64(q.BytesIn))
	r.addTo(g.out, float64(q.BytesOut))
	if q.Check {
		r.addTo(g.checks, 1-failed)
		r.addTo(g.iterations, 1)
	}
	r.totals.requests++
	if q.Failed {
		r.totals.failed++
	}
	r.bucketLocked(q.At).add(q.Duration, q.Failed)
	r.mu.Unlock()
}

func (r *Recorder) groupLocked(t Tags) *requestGroup {
	s := func(d metric.Desc, t Tags) *series { return r.seriesLocked(d.Name, d.Kind, t) }
	g := &requestGroup{
		reqs:       s(metric.HTTPReqs.Desc(), t),
		duration:   s(metric.HTTPReqDuration.Desc(), t),
		waiting:    s(metric.HTTPReqWaiting.Desc(), t),
		service:    s(metric.HTTPReqServiceTime.Desc(), t),
		failed:     s(metric.HTTPReqFailed.Desc(), t),
		in:         s(metric.DataReceived.Desc(), t),
		out:        s(metric.DataSent.Desc(), t),
		checks:     s(metric.Checks.Desc(), Tags{Scenario: t.Scenario, Name: t.Name, Phase: t.Phase}),
		iterations: s(metric.Iterations.Desc(), Tags{Scenario: t.Scenario}),
	}
	r.groups[t] = g
	return g
}

// Totals are the requests recorded so far and how many failed.
func (r *Recorder) Totals() (requests, failed int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.totals.requests, r.totals.failed
}

// sealAfter is how many seconds a bucket stays dense after its second.
const sealAfter = 3

func (r *Recorder) bucketLocked(at time.Time) *Bucket {
	i := int(at.Sub(r.start) / time.Second)
	if i < 0 {
		i = 0
	}
	for len(r.buckets) <= i {
		if old := len(r.buckets) - sealAfter; old >= 0 {
			r.buckets[old].seal()
		}
		r.buckets = append(r.buckets, Bucket{Second: len(r.buckets)})
	}
	return &r.buckets[i]
}

// Selector picks series: a metric and a subset of tags.
type Selector struct {
	Metric string
	Tags   map[string]string
}

// Summary is the aggregate of the series a selector picks. Its values
// are in the metric's Unit: a trend of http_req_duration in milliseconds,
// of staleness_seconds in seconds.
type Summary struct {
	Kind    metric.Kind
	Unit    metric.Unit
	Count   int64   // samples
	Sum     float64 // counter: sum; rate: non-zero samples; trend: sum
	Min     float64
	Max     float64
	Last    float64 // gauge value (of the series updated last when several match)
	Clamped int64   // trend samples beyond the histogram's range
	hist    *hdrhistogram.Histogram
	scale   float64 // internal units per Unit, for hist
}

// Quantile returns the q-th percentile (0..100) of a trend.
func (s Summary) Quantile(q float64) float64 {
	if s.hist == nil || s.hist.TotalCount() == 0 {
		return 0
	}
	return float64(s.hist.ValueAtPercentile(q)) / s.scale
}

// Mean is a trend's average or a counter's mean sample.
func (s Summary) Mean() float64 {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / float64(s.Count)
}

// Ratio is a rate's fraction of non-zero samples.
func (s Summary) Ratio() float64 {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / float64(s.Count)
}

// Summarize aggregates every series that sel picks; ok is false when none
// has samples or the metric is not in the catalog.
func (r *Recorder) Summarize(sel Selector) (Summary, bool) {
	d, known := metric.Lookup(sel.Metric)
	if !known {
		return Summary{}, false
	}
	out := Summary{Kind: d.Kind, Unit: d.Unit, Min: math.Inf(1), Max: math.Inf(-1), scale: 1}
	r.mu.Lock()
	var lastSeq uint64
	var sum int64 // exact, whatever the order the map gives
	for k, s := range r.series {
		if k.metric != sel.Metric || s.count == 0 || !k.tags.Match(sel.Tags) {
			continue
		}
		out.Count += s.count
		sum += s.sum
		out.Min = min(out.Min, s.min)
		out.Max = max(out.Max, s.max)
		if s.seq > lastSeq {
			out.Last, lastSeq = s.last, s.seq
		}
		out.Clamped += s.clamped
		if s.hist != nil {
			if out.hist == nil {
				out.hist = r.layout.histogram()
			}
			out.hist.Merge(s.hist)
		}
	}
	r.mu.Unlock()
	out.Sum = float64(sum)
	if d.Kind != metric.KindRate {
		out.Sum /= sumScale
	}
	if d.Kind == metric.KindTrend {
		out.scale = stored(d.Unit)
		out.Sum /= out.scale
		out.Min /= out.scale
		out.Max /= out.scale
		out.Last /= out.scale
	}
	return out, out.Count > 0
}

// TagSets lists the distinct tag sets recorded for the metric called
// name, sorted, for reports that break a metric down.
func (r *Recorder) TagSets(name string) []Tags {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []Tags
	for k := range r.series {
		if k.metric == name {
			ts = append(ts, k.tags)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return fmt.Sprint(ts[i]) < fmt.Sprint(ts[j]) })
	return ts
}

// Elapsed is the run time so far, for per-second rates.
func (r *Recorder) Elapsed(now time.Time) time.Duration { return now.Sub(r.start) }
