package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/metric"
)

// roundTrip writes a recorder's snapshot as JSON, reads it back and
// makes a recorder of it, as merge does with a runner's raw file.
func roundTrip(t *testing.T, r *Recorder) *Recorder {
	t.Helper()
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	out, err := FromSnapshot(back)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// record records the same random samples into one and, each at random,
// into one of parts: requests of several tag sets over 40 seconds (some
// beyond the histogram's range, some failed), stale reads and their
// staleness, counters and rates.
func recordSplit(rng *rand.Rand, n int, one *Recorder, parts []*Recorder) {
	start := one.Start()
	tagSets := []Tags{
		{Scenario: "readers", Name: "list", Method: "GET", Status: "200", Phase: "steady", Source: "redis"},
		{Scenario: "readers", Name: "get", Method: "GET", Status: "200", Phase: "outage", Source: "db"},
		{Scenario: "readers", Name: "get", Method: "GET", Status: "0", Phase: "outage"},
		{Scenario: "writers", Name: "update", Method: "PATCH", Status: "200", Phase: "recovery"},
	}
	for range n {
		to := parts[rng.IntN(len(parts))]
		tags := tagSets[rng.IntN(len(tagSets))]
		// Durations from 1 µs to ~3 min on a log scale, with a nanosecond
		// part, so that sums in floating point would depend on the order.
		d := time.Duration(float64(time.Microsecond) * pow10(rng.Float64()*8.3))
		q := Request{
			Tags: tags, At: start.Add(time.Duration(rng.Int64N(int64(40 * time.Second)))),
			Duration: d, Waiting: d / 3, Service: d / 2,
			Failed: rng.IntN(25) == 0, BytesIn: rng.Int64N(5000), BytesOut: rng.Int64N(300), Check: rng.IntN(3) > 0,
		}
		one.AddRequest(q)
		to.AddRequest(q)
		switch rng.IntN(10) {
		case 0:
			st := time.Duration(rng.Int64N(int64(2 * time.Second)))
			for _, r := range []*Recorder{one, to} {
				r.Count(metric.StaleReads, Tags{Phase: tags.Phase, Source: tags.Source}, 1)
				r.Observe(metric.Staleness, Tags{Phase: tags.Phase, Source: tags.Source}, st)
			}
		case 1:
			for _, r := range []*Recorder{one, to} {
				r.Count(metric.DroppedIterations, Tags{Scenario: tags.Scenario, Phase: tags.Phase}, 1)
			}
		}
	}
}

// percentiles are every whole percentile and the tail's tenths.
var percentiles = func() []float64 {
	var ps []float64
	for p := range 101 {
		ps = append(ps, float64(p))
	}
	return append(ps, 99.1, 99.5, 99.9, 99.95, 99.99, 99.999)
}()

func pow10(x float64) float64 {
	v := 1.0
	for ; x >= 1; x-- {
		v *= 10
	}
	return v * (1 + x*9) // piecewise, enough for a spread
}

// TestMergeEqualsOneRecorder is the acceptance test of mergeable
// results: the same samples recorded into one recorder, or split at
// random over K recorders that are each written, read back and merged,
// give the same histograms bit for bit (their encodings), the same
// counts, exact sums, min, max, every percentile, and the same
// per-second buckets.
func TestMergeEqualsOneRecorder(t *testing.T) {
	start := time.Unix(1_765_000_000, 0)
	for _, k := range []int{1, 2, 4, 7} {
		t.Run(fmt.Sprintf("K=%d", k), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 15))
			one := New(start)
			parts := make([]*Recorder, k)
			for i := range parts {
				parts[i] = New(start)
			}
			recordSplit(rng, 20000, one, parts)
			read := make([]*Recorder, k)
			for i, p := range parts {
				read[i] = roundTrip(t, p)
			}
			merged, err := Merge(read...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := one.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			got, err := merged.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			// Last and Seq are the order of updates, which a merge cannot
			// know (a gauge's rule is Merge's): everything else is equal.
			clear := func(s Snapshot) Snapshot {
				for i := range s.Series {
					s.Series[i].Last, s.Series[i].Seq = 0, 0
				}
				return s
			}
			if diff := cmp.Diff(clear(want), clear(got)); diff != "" {
				t.Fatalf("merged snapshot differs from one recorder's (-one +merged):\n%s", diff)
			}
			for _, name := range []string{HTTPReqDuration, metric.HTTPReqWaiting.Name(), metric.Staleness.Name(), metric.HTTPReqFailed.Name(), metric.DataReceived.Name(), metric.Checks.Name()} {
				for _, sel := range []map[string]string{nil, {"phase": "outage"}, {"source": "redis"}, {"name": "get", "status": "0"}} {
					a, okA := one.Summarize(Selector{Metric: name, Tags: sel})
					b, okB := merged.Summarize(Selector{Metric: name, Tags: sel})
					if okA != okB || a.Count != b.Count || a.Sum != b.Sum || a.Min != b.Min || a.Max != b.Max || a.Clamped != b.Clamped {
						t.Fatalf("%s%v: one %+v, merged %+v", name, sel, a, b)
					}
					for _, p := range percentiles {
						if qa, qb := a.Quantile(p), b.Quantile(p); qa != qb {
							t.Fatalf("%s%v p(%.1f): one %v, merged %v", name, sel, p, qa, qb)
						}
					}
				}
			}
			ra, fa := one.Totals()
			rb, fb := merged.Totals()
			if ra != rb || fa != fb {
				t.Errorf("totals: one %d/%d, merged %d/%d", ra, fa, rb, fb)
			}
			if s, _ := one.Summarize(Selector{Metric: HTTPReqDuration}); s.Clamped == 0 {
				t.Error("no value beyond the histogram's range: the test does not cover clamping")
			}
		})
	}
}

func TestMergeShiftsSecondsAndRefusesOtherLayouts(t *testing.T) {
	start := time.Unix(1_765_000_000, 0)
	a, b := New(start), New(start.Add(2*time.Second+300*time.Millisecond))
	a.AddRequest(Request{Tags: Tags{Name: "get"}, At: start.Add(2500 * time.Millisecond), Duration: time.Millisecond})
	b.AddRequest(Request{Tags: Tags{Name: "get"}, At: start.Add(2500 * time.Millisecond), Duration: time.Millisecond})
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// b's second 0 is a's second 2.
	if bs := m.Buckets(); len(bs) != 3 || bs[2].Requests != 2 {
		t.Errorf("buckets %+v, want 2 requests in second 2", bs)
	}

	other := newRecorder(start, Layout{Lowest: 1, Highest: DefaultLayout.Highest, Digits: 2})
	other.Observe(metric.HTTPReqDuration, Tags{}, time.Millisecond)
	_, err = Merge(a, other)
	var le *LayoutError
	if !errors.As(err, &le) || le.Index != 1 || !strings.Contains(err.Error(), "2 significant digits") {
		t.Fatalf("Merge of two layouts: %v, want a LayoutError naming recorder 1's layout", err)
	}
}

func TestFromSnapshotRefusesBadData(t *testing.T) {
	start := time.Unix(1_765_000_000, 0)
	r := New(start)
	r.AddRequest(Request{Tags: Tags{Name: "get"}, At: start, Duration: time.Millisecond})
	good, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newRecorder(start, Layout{Lowest: 1, Highest: DefaultLayout.Highest, Digits: 2})
	other.Observe(metric.HTTPReqDuration, Tags{}, time.Millisecond)
	otherSnap, err := other.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	trend := func(s Snapshot) int {
		for i, ss := range s.Series {
			if ss.Metric == HTTPReqDuration {
				return i
			}
		}
		t.Fatal("no http_req_duration")
		return 0
	}
	for _, tc := range []struct {
		name   string
		change func(s *Snapshot)
		want   string
	}{
		{"unknown metric", func(s *Snapshot) { s.Series[0].Metric = "http_req_nope" }, `unknown metric "http_req_nope"`},
		{"wrong kind", func(s *Snapshot) { s.Series[trend(*s)].Kind = "counter" }, "the catalog's is trend"},
		{"corrupt histogram", func(s *Snapshot) { s.Series[trend(*s)].Histogram = "HISTFAAAA" }, "histogram"},
		{"histogram of another layout", func(s *Snapshot) { s.Series[trend(*s)].Histogram = otherSnap.Series[0].Histogram }, "2 significant digits"},
		{"count not the histogram's", func(s *Snapshot) { s.Series[trend(*s)].Count = 5 }, "its histogram holds 1 values, its count is 5"},
		{"bins not the requests", func(s *Snapshot) { s.Buckets[0].Requests = 3 }, "bucket of second 0: 3 requests"},
		{"bad layout", func(s *Snapshot) { s.Layout.Digits = 9 }, "9 significant digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(good)
			var s Snapshot
			_ = json.Unmarshal(b, &s)
			tc.change(&s)
			_, err := FromSnapshot(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FromSnapshot: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
