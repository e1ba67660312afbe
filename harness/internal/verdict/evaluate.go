package verdict

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Stats is what thresholds are judged on: the run's recorded samples.
type Stats interface {
	// Aggregate returns the aggregation of the samples of metric whose
	// tags include every tag in sel (a submetric), in the metric's unit
	// (see Unit), and false when there are no samples.
	Aggregate(metric string, sel Tags, agg Agg) (float64, bool)
}

// StatsFunc adapts a function to Stats.
type StatsFunc func(metric string, sel Tags, agg Agg) (float64, bool)

// Aggregate calls f.
func (f StatsFunc) Aggregate(metric string, sel Tags, agg Agg) (float64, bool) {
	return f(metric, sel, agg)
}

// Verdict is the outcome of a threshold or of a run.
type Verdict uint8

const (
	Pass   Verdict = iota + 1 // the expression held
	Fail                      // the expression did not hold
	NoData                    // no samples to judge: not a pass (the CLI's "inconclusive")
)

var verdictNames = [...]string{Pass: "pass", Fail: "fail", NoData: "nodata"}

// String is "pass", "fail" or "nodata".
func (v Verdict) String() string {
	if v >= Pass && v <= NoData {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// ParseVerdict parses "pass", "fail" or "nodata".
func ParseVerdict(s string) (Verdict, error) {
	for v := Pass; v <= NoData; v++ {
		if verdictNames[v] == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("verdict: unknown verdict %q (want pass, fail or nodata)", s)
}

// MarshalText writes String, for JSON reports.
func (v Verdict) MarshalText() ([]byte, error) {
	if v < Pass || v > NoData {
		return nil, fmt.Errorf("verdict: cannot marshal %s", v)
	}
	return []byte(v.String()), nil
}

// UnmarshalText reads what MarshalText writes.
func (v *Verdict) UnmarshalText(b []byte) error {
	p, err := ParseVerdict(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Result is a threshold's judgement.
type Result struct {
	Threshold Threshold
	Observed  float64 // the aggregation, in the metric's unit; 0 when NoData
	Pass      bool    // the expression held
	NoData    bool    // the submetric had no samples (or its value was NaN); Pass is then false
	// Reason says, for NoData, why nothing could be judged when it is
	// known: the run could not measure the metric (no oracle, no source
	// header), or the load generator fell behind. "" for plain no samples.
	Reason string
}

// Verdict is Pass, Fail or NoData.
func (r Result) Verdict() Verdict {
	switch {
	case r.NoData:
		return NoData
	case r.Pass:
		return Pass
	}
	return Fail
}

// String is one line of a summary:
//
//	✓ http_req_duration{phase:outage} p(95)<50 observed 12.34ms
//	✗ http_req_failed rate==0 observed 0.0125 (1.25%)
//	? http_req_duration{phase:recovery} p(95)<50 no data
//
// Times show two decimals and their unit (ms or s), bytes a B, a
// counter's rate "/s", and a Rate metric its raw fraction, which the
// limit is written in, then the percentage.
func (r Result) String() string {
	switch r.Verdict() {
	case NoData:
		if r.Reason != "" {
			return "? " + r.Threshold.String() + " inconclusive: " + r.Reason
		}
		return "? " + r.Threshold.String() + " no data"
	case Pass:
		return "✓ " + r.Threshold.String() + " observed " + r.Threshold.Format(r.Observed)
	}
	return "✗ " + r.Threshold.String() + " observed " + r.Threshold.Format(r.Observed)
}

// Format writes a value of the threshold's aggregation with its unit, as
// Result.String does.
func (t Threshold) Format(v float64) string {
	unit := t.Unit.String()
	switch {
	case t.Type == Rate:
		return strconv.FormatFloat(v, 'g', 6, 64) + " (" + strconv.FormatFloat(v*100, 'g', 6, 64) + "%)"
	case t.Type == Counter && t.Expr.Agg.Kind == AggRate:
		return strconv.FormatFloat(v, 'f', 2, 64) + unit + "/s"
	case t.Unit == UnitMilliseconds || t.Unit == UnitSeconds:
		return strconv.FormatFloat(v, 'f', 2, 64) + unit
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + unit
}

// Evaluate judges the threshold on s. A submetric without samples, or an
// aggregation that is NaN, is NoData: nothing was proven either way.
func (t Threshold) Evaluate(s Stats) Result {
	v, ok := s.Aggregate(t.Metric, t.Tags, t.Expr.Agg)
	if !ok || math.IsNaN(v) {
		return Result{Threshold: t, NoData: true}
	}
	return Result{Threshold: t, Observed: v, Pass: t.Expr.Holds(v)}
}

// Summary is a run's judgement on all its thresholds.
type Summary struct {
	Results []Result // in the thresholds' order
	Passed  int
	Failed  int
	NoData  int
	// Verdict is Fail if any threshold failed, else NoData if any had no
	// data, else Pass (also when there are no thresholds, as in k6).
	Verdict Verdict
}

// EvaluateAll judges every threshold on s.
func EvaluateAll(ts []Threshold, s Stats) Summary {
	results := make([]Result, 0, len(ts))
	for _, t := range ts {
		results = append(results, t.Evaluate(s))
	}
	return Tally(results)
}

// Tally counts judged results into a Summary.
func Tally(results []Result) Summary {
	sum := Summary{Results: results}
	for _, r := range results {
		switch r.Verdict() {
		case Pass:
			sum.Passed++
		case Fail:
			sum.Failed++
		case NoData:
			sum.NoData++
		}
	}
	switch {
	case sum.Failed > 0:
		sum.Verdict = Fail
	case sum.NoData > 0:
		sum.Verdict = NoData
	default:
		sum.Verdict = Pass
	}
	return sum
}

// Watcher judges the abortOnFail thresholds while a run goes on. The
// caller feeds it the elapsed run time and the stats so far, every 2 s or
// as often as it likes; it reads no clock. It holds no mutable state and
// is safe for concurrent use.
type Watcher struct {
	ts []Threshold
}

// NewWatcher watches the thresholds of ts that have AbortOnFail set.
func NewWatcher(ts []Threshold) *Watcher {
	w := &Watcher{}
	for _, t := range ts {
		if t.AbortOnFail {
			w.ts = append(w.ts, t)
		}
	}
	return w
}

// Active reports whether any threshold can abort the run; when none can,
// the caller need not feed the Watcher at all.
func (w *Watcher) Active() bool { return len(w.ts) > 0 }

// Check returns the first abortOnFail threshold, in the order given to
// NewWatcher, that fails on s now, and true; the run should stop. A
// threshold is judged only once elapsed reaches its DelayAbortEval (k6's
// semantics: the delay is run time, letting samples accumulate). A
// threshold without data does not abort: it may yet get some.
func (w *Watcher) Check(elapsed time.Duration, s Stats) (Result, bool) {
	for _, t := range w.ts {
		if elapsed < t.DelayAbortEval {
			continue
		}
		if r := t.Evaluate(s); r.Verdict() == Fail {
			return r, true
		}
	}
	return Result{}, false
}
