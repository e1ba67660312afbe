// Package metric is the one catalog of what flagstorm records: every
// metric's name, kind (k6's counter, gauge, rate, trend), unit and
// meaning; the tags a sample is split by and a threshold may select on;
// and the grammar of a threshold key, "metric{tag:value,...}".
//
// The scenario validator, the recorder and the threshold judge all read
// it, so a file that validates names only what the harness records and
// judges, in the unit it is judged in.
//
// Code records through typed handles, which exist only for catalogued
// metrics: Counter, Gauge, TimeGauge, Rate and Trend values are the
// package's variables (HTTPReqs, StaleReads, Staleness, RecoveryTime, ...).
// Names that come from input (a threshold key, a report) go through
// Lookup. The package imports only the standard library, so that the
// scenarios package may import it.
package metric

import "slices"

// Desc describes one metric of the catalog.
type Desc struct {
	Name string // k6's name where k6 has the metric: "http_req_duration"
	Kind Kind
	Unit Unit   // what values and threshold limits are in
	Doc  string // one line: what a sample is
	// Example is a threshold expression that suits the metric, for
	// messages that suggest one: "count==0", "p(95)<50".
	Example string
}

// The handles. Each holds its metric's catalog entry; the zero value
// holds none, names "" and records nothing.
type (
	// Counter is a counter: samples are summed.
	Counter struct{ d *Desc }
	// Gauge is a gauge of plain numbers: the last sample is its value.
	Gauge struct{ d *Desc }
	// TimeGauge is a gauge of a duration, set in the catalog's unit of time.
	TimeGauge struct{ d *Desc }
	// Rate is a rate: the fraction of samples that are non-zero (true).
	Rate struct{ d *Desc }
	// Trend is a distribution of durations, kept in the catalog's unit of
	// time. The catalog has no trend of other values.
	Trend struct{ d *Desc }
)

// Desc returns the handle's catalog entry; Name its name.
func (h Counter) Desc() Desc   { return deref(h.d) }
func (h Gauge) Desc() Desc     { return deref(h.d) }
func (h TimeGauge) Desc() Desc { return deref(h.d) }
func (h Rate) Desc() Desc      { return deref(h.d) }
func (h Trend) Desc() Desc     { return deref(h.d) }

func (h Counter) Name() string   { return deref(h.d).Name }
func (h Gauge) Name() string     { return deref(h.d).Name }
func (h TimeGauge) Name() string { return deref(h.d).Name }
func (h Rate) Name() string      { return deref(h.d).Name }
func (h Trend) Name() string     { return deref(h.d).Name }

func deref(d *Desc) Desc {
	if d == nil {
		return Desc{}
	}
	return *d
}

func newDesc(name string, k Kind, u Unit, example, doc string) *Desc {
	return &Desc{Name: name, Kind: k, Unit: u, Doc: doc, Example: example}
}

// The catalog, in the order messages list it. http_req_duration is
// measured from the request's intended start in the open model (no
// coordinated omission) and http_req_service_time from its actual send;
// in the closed model the two are equal.
var (
	HTTPReqs           = Counter{newDesc("http_reqs", KindCounter, UnitNone, "count>0", "HTTP requests sent")}
	HTTPReqDuration    = Trend{newDesc("http_req_duration", KindTrend, UnitMilliseconds, "p(95)<50", "request latency, from the intended start (open model) or the send (closed model) to the end of the body")}
	HTTPReqWaiting     = Trend{newDesc("http_req_waiting", KindTrend, UnitMilliseconds, "p(95)<50", "time to first byte, from the actual send")}
	HTTPReqServiceTime = Trend{newDesc("http_req_service_time", KindTrend, UnitMilliseconds, "p(95)<50", "from the actual send to the end of the body")}
	HTTPReqFailed      = Rate{newDesc("http_req_failed", KindRate, UnitNone, "rate==0", "requests that failed: no response, or a status the request does not expect")}
	Checks             = Rate{newDesc("checks", KindRate, UnitNone, "rate>0.99", "checks that passed")}
	Iterations         = Counter{newDesc("iterations", KindCounter, UnitNone, "count>0", "iterations of a scenario completed")}
	DroppedIterations  = Counter{newDesc("dropped_iterations", KindCounter, UnitNone, "count==0", "arrivals the open model could not start: no free VU")}
	LateIterations     = Counter{newDesc("late_iterations", KindCounter, UnitNone, "count==0", "arrivals started behind their schedule")}
	VUs                = Gauge{newDesc("vus", KindGauge, UnitNone, "value>0", "active virtual users")}
	VUsMax             = Gauge{newDesc("vus_max", KindGauge, UnitNone, "value>0", "allocated virtual users")}
	StaleReads         = Counter{newDesc("stale_reads", KindCounter, UnitNone, "count==0", "reads older than the newest write acknowledged before they began")}
	Staleness          = Trend{newDesc("staleness_seconds", KindTrend, UnitSeconds, "p(99)<1", "how far behind a stale read was, in time")}
	NonMonotonicReads  = Counter{newDesc("nonmonotonic_reads", KindCounter, UnitNone, "count==0", "reads older than what a read that finished before they began returned (staleness no acknowledged write announced)")}
	LostWrites         = Counter{newDesc("lost_writes", KindCounter, UnitNone, "count==0", "acknowledged writes missing from the source of truth at the end")}
	RecoveryTime       = TimeGauge{newDesc("recovery_time", KindGauge, UnitSeconds, "value<5", "time from a fault's removal until the 1 s windows are back in the steady band")}
	DataReceived       = Counter{newDesc("data_received", KindCounter, UnitBytes, "count>0", "response bytes received")}
	DataSent           = Counter{newDesc("data_sent", KindCounter, UnitBytes, "count>0", "request bytes sent")}
	TargetReadyTime    = TimeGauge{newDesc("target_ready_time", KindGauge, UnitMilliseconds, "value<500", "slowest flagserver's time from process start to ready, when started during the run")}
)

var catalog = []*Desc{
	HTTPReqs.d, HTTPReqDuration.d, HTTPReqWaiting.d, HTTPReqServiceTime.d, HTTPReqFailed.d,
	Checks.d, Iterations.d, DroppedIterations.d, LateIterations.d, VUs.d, VUsMax.d,
	StaleReads.d, Staleness.d, LostWrites.d, RecoveryTime.d, DataReceived.d, DataSent.d,
	TargetReadyTime.d, NonMonotonicReads.d,
}

var byName = func() map[string]*Desc {
	m := make(map[string]*Desc, len(catalog))
	for _, d := range catalog {
		m[d.Name] = d
	}
	return m
}()

// All returns the catalog, a new slice each call, in catalog order.
func All() []Desc {
	out := make([]Desc, len(catalog))
	for i, d := range catalog {
		out[i] = *d
	}
	return out
}

// Names returns the metric names, a new slice each call, in catalog order.
func Names() []string {
	out := make([]string, len(catalog))
	for i, d := range catalog {
		out[i] = d.Name
	}
	return out
}

// Lookup finds a metric by name, for names that come from input.
func Lookup(name string) (Desc, bool) {
	d, ok := byName[name]
	if !ok {
		return Desc{}, false
	}
	return *d, true
}

// Tag names: the dimensions a sample is split by, which a threshold's
// selector may use.
const (
	TagScenario = "scenario" // the scenario (a file may define several)
	TagName     = "name"     // the request template's name
	TagMethod   = "method"   // the HTTP method
	TagStatus   = "status"   // the HTTP status code, "0" without a response
	TagPhase    = "phase"    // the timeline phase
	TagSource   = "source"   // the response's X-Flag-Source
)

var tagNames = []string{TagScenario, TagName, TagMethod, TagStatus, TagPhase, TagSource}

// TagNames returns the tag names a selector may use, a new slice each
// call.
func TagNames() []string { return slices.Clone(tagNames) }

// IsTag reports whether name is one of TagNames.
func IsTag(name string) bool { return slices.Contains(tagNames, name) }

// The values of the source tag: flagserver's X-Flag-Source header.
const (
	SourceRedis      = "redis"       // a cache hit
	SourceDB         = "db"          // a miss, read from the database
	SourceDBFallback = "db-fallback" // Redis failed or its circuit is open: read from the database
	SourceMemory     = "memory"      // the in-process cache
	SourceStale      = "stale"       // served stale: the database failed too
)

var sources = []string{SourceRedis, SourceDB, SourceDBFallback, SourceMemory, SourceStale}

// Sources returns the known values of the source tag, a new slice each
// call.
func Sources() []string { return slices.Clone(sources) }
