// Package record aggregates the load engine's measurements: an
// HdrHistogram per trend metric and tag set, counters, rates and gauges,
// and one-second buckets for time series. Memory is bounded by the number
// of distinct tag sets (scenario, request name, method, status, phase,
// source — all bounded by the scenario file) and by the run's length in
// seconds, never by the number of requests.
package record

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Kind is a metric's type, with k6's meaning.
type Kind uint8

const (
	Counter Kind = iota + 1 // a sum: count, rate (per second of run time)
	Gauge                   // the last value: value, min, max
	Rate                    // the fraction of non-zero samples: rate
	Trend                   // a distribution: avg, min, max, med, p(N)
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Rate:
		return "rate"
	case Trend:
		return "trend"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Tags are the dimensions a sample is split by. They are a fixed struct,
// not a map, so a series key is cheap to hash and cardinality stays
// bounded by what a scenario can name.
type Tags struct {
	Scenario string
	Name     string // request template name
	Method   string
	Status   string // HTTP status code, or "0" when no response
	Phase    string // timeline phase
	Source   string // X-Flag-Source of the response
}

// TagNames are the tag names a threshold selector may use.
var TagNames = []string{"scenario", "name", "method", "status", "phase", "source"}

// Get returns the value of the tag called name, and whether name is a tag.
func (t Tags) Get(name string) (string, bool) {
	switch name {
	case "scenario":
		return t.Scenario, true
	case "name":
		return t.Name, true
	case "method":
		return t.Method, true
	case "status":
		return t.Status, true
	case "phase":
		return t.Phase, true
	case "source":
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
	// Trend values are recorded in microseconds from 1 µs to 2 minutes
	// (longer values are clamped and counted) with 3 significant digits:
	// a p95 near a 50 ms limit is known to ±50 µs.
	hdrMin, hdrMax, hdrDigits = 1, int64(120 * time.Second / time.Microsecond), 3
)

// series is one metric under one tag set.
type series struct {
	kind    Kind
	count   int64   // samples
	sum     float64 // counter sum; rate non-zero count; trend sum (µs)
	min     float64
	max     float64
	last    float64
	seq     uint64                  // the recorder's update count when last was set
	hist    *hdrhistogram.Histogram // trends only
	clamped int64                   // trend values beyond hdrMax
}

func newSeries(k Kind) *series {
	s := &series{kind: k, min: math.Inf(1), max: math.Inf(-1)}
	if k == Trend {
		s.hist = hdrhistogram.New(hdrMin, hdrMax, hdrDigits)
	}
	return s
}

func (s *series) add(v float64) {
	s.count++
	s.last = v
	s.min = min(s.min, v)
	s.max = max(s.max, v)
	switch s.kind {
	case Counter, Trend:
		s.sum += v
	case Rate:
		if v != 0 {
			s.sum++
		}
	}
	if s.hist != nil {
		us := int64(math.Round(v))
		if us > hdrMax {
			s.clamped++
			us = hdrMax
		}
		_ = s.hist.RecordValue(max(us, hdrMin))
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
	kinds   map[string]Kind
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

// New returns a Recorder for metrics of the given kinds; Add of an
// undeclared metric is ignored and reported by Unknown.
func New(start time.Time, kinds map[string]Kind) *Recorder {
	return &Recorder{start: start, kinds: kinds, series: make(map[key]*series), groups: make(map[Tags]*requestGroup)}
}

// Start is the run's start time.
func (r *Recorder) Start() time.Time { return r.start }

// Add records one sample. Trend values are microseconds.
func (r *Recorder) Add(metric string, tags Tags, v float64) {
	r.mu.Lock()
	r.addLocked(metric, tags, v)
	r.mu.Unlock()
}

func (r *Recorder) addLocked(metric string, tags Tags, v float64) {
	r.addTo(r.seriesLocked(metric, tags), v)
}

// seriesLocked finds or makes a series; nil for an undeclared metric.
func (r *Recorder) seriesLocked(metric string, tags Tags) *series {
	k := key{metric, tags}
	s := r.series[k]
	if s == nil {
		kind, ok := r.kinds[metric]
		if !ok {
			return nil
		}
		s = newSeries(kind)
		r.series[k] = s
	}
	return s
}

func (r *Recorder) addTo(s *series, v float64) {
	if s == nil {
		return
	}
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

// Metric names the engine records for every request (k6's, plus
// http_req_service_time: the open model's latency from the actual send).
const (
	HTTPReqs        = "http_reqs"
	HTTPReqDuration = "http_req_duration"
	HTTPReqWaiting  = "http_req_waiting"
	HTTPReqService  = "http_req_service_time"
	HTTPReqFailed   = "http_req_failed"
	DataReceived    = "data_received"
	DataSent        = "data_sent"
	// Checks and Iterations are recorded by AddRequest for a Request
	// with Check set.
	Checks     = "checks"
	Iterations = "iterations"
)

// AddRequest records a request's metrics and its time-series bucket under
// one lock.
func (r *Recorder) AddRequest(q Request) {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
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
	r.addTo(g.duration, us(q.Duration))
	r.addTo(g.waiting, us(q.Waiting))
	r.addTo(g.service, us(q.Service))
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
	g := &requestGroup{
		reqs:       r.seriesLocked(HTTPReqs, t),
		duration:   r.seriesLocked(HTTPReqDuration, t),
		waiting:    r.seriesLocked(HTTPReqWaiting, t),
		service:    r.seriesLocked(HTTPReqService, t),
		failed:     r.seriesLocked(HTTPReqFailed, t),
		in:         r.seriesLocked(DataReceived, t),
		out:        r.seriesLocked(DataSent, t),
		checks:     r.seriesLocked(Checks, Tags{Scenario: t.Scenario, Name: t.Name, Phase: t.Phase}),
		iterations: r.seriesLocked(Iterations, Tags{Scenario: t.Scenario}),
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

// Summary is the aggregate of the series a selector picks.
type Summary struct {
	Kind    Kind
	Count   int64   // samples
	Sum     float64 // counter: sum; rate: non-zero samples; trend: sum (µs)
	Min     float64
	Max     float64
	Last    float64 // gauge value (of the series updated last when several match)
	Clamped int64   // trend samples beyond the histogram's range
	hist    *hdrhistogram.Histogram
}

// Quantile returns the q-th percentile (0..100) of a trend, in
// microseconds.
func (s Summary) Quantile(q float64) float64 {
	if s.hist == nil || s.hist.TotalCount() == 0 {
		return 0
	}
	return float64(s.hist.ValueAtPercentile(q))
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
// has samples.
func (r *Recorder) Summarize(sel Selector) (Summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind, known := r.kinds[sel.Metric]
	if !known {
		return Summary{}, false
	}
	out := Summary{Kind: kind, Min: math.Inf(1), Max: math.Inf(-1)}
	var lastSeq uint64
	for k, s := range r.series {
		if k.metric != sel.Metric || s.count == 0 || !k.tags.Match(sel.Tags) {
			continue
		}
		out.Count += s.count
		out.Sum += s.sum
		out.Min = min(out.Min, s.min)
		out.Max = max(out.Max, s.max)
		if s.seq > lastSeq {
			out.Last, lastSeq = s.last, s.seq
		}
		out.Clamped += s.clamped
		if s.hist != nil {
			if out.hist == nil {
				out.hist = hdrhistogram.New(hdrMin, hdrMax, hdrDigits)
			}
			out.hist.Merge(s.hist)
		}
	}
	return out, out.Count > 0
}

// TagSets lists the distinct tag sets recorded for metric, sorted, for
// reports that break a metric down.
func (r *Recorder) TagSets(metric string) []Tags {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []Tags
	for k := range r.series {
		if k.metric == metric {
			ts = append(ts, k.tags)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return fmt.Sprint(ts[i]) < fmt.Sprint(ts[j]) })
	return ts
}

// Elapsed is the run time so far, for per-second rates.
func (r *Recorder) Elapsed(now time.Time) time.Duration { return now.Sub(r.start) }
