package k6

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/harness/internal/timeline"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/scenarios"
)

// The --out json format, as k6's documentation publishes it
// (https://grafana.com/docs/k6/latest/results-output/real-time/json/):
// one JSON object per line, either
//
//	{"type":"Metric","data":{"type":"trend","contains":"time","tainted":null,"thresholds":[...],"submetrics":null},"metric":"http_req_duration"}
//
// declaring a metric, or
//
//	{"type":"Point","data":{"time":"2017-05-09T14:34:45.239531499+02:00","value":459.865729,"tags":{"method":"GET","status":"200",...}},"metric":"http_req_duration"}
//
// one sample: "time" when it was collected, "value" (time values in
// milliseconds) and "tags", a dictionary of tag names and values (null
// when there are none). `k6 run --out json=FILE.gz` writes it gzipped.
type line struct {
	Type   string          `json:"type"`
	Metric string          `json:"metric"`
	Data   json.RawMessage `json:"data"`
}

type point struct {
	Time  *time.Time                 `json:"time"`
	Value *float64                   `json:"value"`
	Tags  map[string]json.RawMessage `json:"tags"`
}

// Results is a k6 run read back into a recorder.
type Results struct {
	Recorder *record.Recorder
	// Start is the run's zero: the earliest flagstorm_run_start the
	// exported script set, else the earliest sample (StartFrom says
	// which). End is the latest sample.
	Start, End time.Time
	StartFrom  string
	// Faults are when the exported script's control scenario applied
	// (first call) and removed (last call) each phase's fault, by phase.
	Faults map[string]FaultTimes
	// Points is the number of samples recorded; Control the number of
	// control requests (Toxiproxy calls), which count in no metric.
	Points, Control int
	// Ignored counts, by metric, the samples of metrics flagstorm's
	// catalog does not have (k6's http_req_blocked, iteration_duration, a
	// script's own metrics, ...).
	Ignored map[string]int
	// Sources is true when a request carried a source tag (X-Flag-Source):
	// never for k6's own output, whose tags are set before the request.
	Sources bool
}

// FaultTimes are when a phase's fault went on and off, and how many of
// the Toxiproxy calls failed.
type FaultTimes struct {
	Applied, Removed time.Time
	Failed           int
}

// ReadResults reads the k6 --out json file at path, gzipped (detected by
// its first bytes, whatever its name) or not. It reads the file twice:
// once for the run's start (which the recorder's one-second buckets count
// from) and once to record. A line that is not a Metric or Point object
// of the published format is an error naming the file and the line.
func ReadResults(path string) (*Results, error) {
	res := &Results{Faults: map[string]FaultTimes{}, Ignored: map[string]int{}}
	var runStart, earliest time.Time
	hasService := false
	err := scan(path, func(name string, p point) error {
		t := *p.Time
		if name == RunStartMetric {
			ms := *p.Value
			at := time.UnixMilli(int64(ms)).Add(time.Duration(math.Mod(ms, 1) * float64(time.Millisecond)))
			if runStart.IsZero() || at.Before(runStart) {
				runStart = at
			}
			return nil
		}
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
		if t.After(res.End) {
			res.End = t
		}
		hasService = hasService || name == metric.HTTPReqServiceTime.Name()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Start, res.StartFrom = runStart, RunStartMetric
	if runStart.IsZero() {
		res.Start, res.StartFrom = earliest, "the earliest sample"
	}
	if res.Start.IsZero() {
		return nil, fmt.Errorf("%s: no sample (Point) at all: is it k6's --out json output?", path)
	}
	res.Recorder = record.New(res.Start)
	err = scan(path, func(name string, p point) error {
		if name == RunStartMetric {
			return nil
		}
		res.add(name, p, !hasService)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// add records one sample.
func (res *Results) add(name string, p point, serviceFromDuration bool) {
	tags := func(k string) string { return tagValue(p.Tags[k]) }
	if tags(TagTraffic) == TrafficControl {
		if name == metric.HTTPReqs.Name() {
			res.control(tags(metric.TagPhase), tags(TagStep), *p.Time)
		} else if name == metric.HTTPReqFailed.Name() && *p.Value != 0 {
			f := res.Faults[tags(metric.TagPhase)]
			f.Failed++
			res.Faults[tags(metric.TagPhase)] = f
		}
		return
	}
	if _, known := metric.Lookup(name); !known {
		res.Ignored[name]++
		return
	}
	rt := record.Tags{
		Scenario: tags(metric.TagScenario), Name: tags(metric.TagName), Method: tags(metric.TagMethod),
		Status: tags(metric.TagStatus), Phase: tags(metric.TagPhase), Source: tags(metric.TagSource),
	}
	if strings.Contains(rt.Name, "://") {
		rt.Name = "" // k6's default name tag is the URL: unbounded, and no request's name
	}
	res.Sources = res.Sources || rt.Source != ""
	v := *p.Value
	if err := res.Recorder.Add(name, rt, v); err != nil {
		res.Ignored[name]++
		return
	}
	res.Points++
	if name == metric.HTTPReqDuration.Name() {
		if serviceFromDuration {
			// k6 times a request from its actual send: that is
			// http_req_service_time.
			_ = res.Recorder.Add(metric.HTTPReqServiceTime.Name(), rt, v)
		}
		d := time.Duration(v * float64(time.Millisecond))
		res.Recorder.AddBucket(p.Time.Add(-d), d, tags("expected_response") == "false")
	}
}

func (res *Results) control(phase, step string, at time.Time) {
	res.Control++
	if phase == "" {
		return // a reset
	}
	f := res.Faults[phase]
	switch step {
	case "apply":
		if f.Applied.IsZero() || at.Before(f.Applied) {
			f.Applied = at
		}
	case "remove":
		if at.After(f.Removed) {
			f.Removed = at
		}
	}
	res.Faults[phase] = f
}

// Events are the faults' times as the timeline reports its own, one per
// phase of spec in order (zero times for a phase nothing was done in),
// for the recovery measure and the reports.
func (res *Results) Events(spec *scenarios.Spec) []timeline.Event {
	out := make([]timeline.Event, len(spec.Timeline))
	for i, p := range spec.Timeline {
		out[i] = timeline.Event{Phase: p.Name}
		if p.Fault == nil {
			continue
		}
		out[i].What = p.Fault.String()
		if f, ok := res.Faults[p.Name]; ok {
			out[i].Applied, out[i].Removed = f.Applied, f.Removed
			if f.Failed > 0 {
				out[i].Err = fmt.Errorf("%d Toxiproxy call(s) of the k6 control scenario failed", f.Failed)
			}
		}
	}
	return out
}

// Notes say what the reading found, for the report.
func (res *Results) Notes() []string {
	notes := []string{fmt.Sprintf("k6 results: %d samples recorded; the run's zero from %s; %d control request(s) (Toxiproxy calls, in no metric)", res.Points, res.StartFrom, res.Control)}
	if len(res.Ignored) > 0 {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(res.Ignored)) {
			parts = append(parts, fmt.Sprintf("%s (%d)", n, res.Ignored[n]))
		}
		notes = append(notes, "k6 results: metrics flagstorm does not judge, ignored: "+strings.Join(parts, ", "))
	}
	notes = append(notes, "load generator: k6's own schedule is unknown (no scheduler-lag probe), so a latency failure cannot be told from a starved generator; k6 times requests from their actual send, not from their intended start")
	return notes
}

// tagValue is a tag's value: a JSON string, or another scalar as written.
func tagValue(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// maxLine bounds one line of the results: a sample with its tags is a
// few hundred bytes.
const maxLine = 1 << 20

// scan calls fn for every Point of the file, checking every line.
func scan(path string, fn func(name string, p point) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		name, p, err := parseLine(b)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if p == nil {
			continue
		}
		if err := fn(name, *p); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: a line longer than %d bytes: not k6's --out json output", path, n+1, maxLine)
		}
		return fmt.Errorf("%s: after line %d: %w (a truncated gzip stream?)", path, n, err)
	}
	return nil
}

// parseLine checks one line; it returns the Point it holds, or nil for a
// Metric declaration.
func parseLine(b []byte) (string, *point, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && strings.Contains(err.Error(), "unexpected end") || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", nil, fmt.Errorf("truncated line: %q ends before its JSON object does (was k6 stopped while writing?)", clip(b))
		}
		return "", nil, fmt.Errorf("not a JSON object of k6's --out json format (%v): %q", err, clip(b))
	}
	if l.Metric == "" {
		return "", nil, fmt.Errorf("no \"metric\" name: %q", clip(b))
	}
	switch l.Type {
	case "Metric":
		return l.Metric, nil, nil
	case "Point":
	default:
		return "", nil, fmt.Errorf("type %q, want \"Metric\" or \"Point\"", l.Type)
	}
	var p point
	if err := json.Unmarshal(l.Data, &p); err != nil {
		return "", nil, fmt.Errorf("Point of %s: bad data (%v): %q", l.Metric, err, clip(b))
	}
	switch {
	case p.Time == nil:
		return "", nil, fmt.Errorf("Point of %s has no time", l.Metric)
	case p.Value == nil:
		return "", nil, fmt.Errorf("Point of %s has no value", l.Metric)
	case math.IsNaN(*p.Value) || math.IsInf(*p.Value, 0):
		return "", nil, fmt.Errorf("Point of %s: value %v", l.Metric, *p.Value)
	}
	return l.Metric, &p, nil
}

func clip(b []byte) string { return metric.Truncate(string(b), 120) }
