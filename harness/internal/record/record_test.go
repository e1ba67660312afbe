package record

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/metric"
)

func TestTrendQuantilesAreExactToThreeDigits(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start)
	// 1..1000 ms, one sample each: p(95) is 950 ms, p(50) 500 ms.
	for i := 1; i <= 1000; i++ {
		r.AddRequest(Request{Tags: Tags{Name: "get"}, At: start, Duration: time.Duration(i) * time.Millisecond})
	}
	s, ok := r.Summarize(Selector{Metric: HTTPReqDuration})
	if !ok {
		t.Fatal("no data")
	}
	// In http_req_duration's unit, milliseconds.
	for _, tt := range []struct{ q, want float64 }{{50, 500}, {95, 950}, {99, 990}, {100, 1000}} {
		if got := s.Quantile(tt.q); math.Abs(got-tt.want)/tt.want > 0.001 {
			t.Errorf("p(%v) = %v ms, want %v ± 0.1%%", tt.q, got, tt.want)
		}
	}
	if got := s.Mean(); math.Abs(got-500.5) > 0.001 {
		t.Errorf("mean %v ms, want 500.5", got)
	}
	if s.Unit != metric.UnitMilliseconds || s.Min != 1 || s.Max != 1000 {
		t.Errorf("min %v max %v", s.Min, s.Max)
	}
}

func TestSelectorsPickSubmetrics(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start)
	add := func(phase, source string, d time.Duration, failed bool) {
		r.AddRequest(Request{Tags: Tags{Scenario: "s", Name: "get", Phase: phase, Source: source, Status: "200"}, At: start, Duration: d, Failed: failed})
	}
	for range 90 {
		add("steady", "redis", time.Millisecond, false)
	}
	for range 10 {
		add("outage", "db-fallback", 40*time.Millisecond, true)
	}
	cases := []struct {
		sel   map[string]string
		count int64
		rate  float64
	}{
		{nil, 100, 0.1},
		{map[string]string{"phase": "outage"}, 10, 1},
		{map[string]string{"phase": "steady", "source": "redis"}, 90, 0},
		{map[string]string{"phase": "outage", "source": "redis"}, 0, 0},
		{map[string]string{"nosuchtag": "x"}, 0, 0},
	}
	for _, c := range cases {
		s, ok := r.Summarize(Selector{Metric: metric.HTTPReqFailed.Name(), Tags: c.sel})
		if ok != (c.count > 0) || s.Count != c.count || s.Ratio() != c.rate {
			t.Errorf("%v: count %d rate %v ok %v; want %d %v", c.sel, s.Count, s.Ratio(), ok, c.count, c.rate)
		}
	}
	s, _ := r.Summarize(Selector{Metric: HTTPReqDuration, Tags: map[string]string{"phase": "outage"}})
	if got := s.Quantile(95); math.Abs(got-40) > 0.04 {
		t.Errorf("p(95) of the outage phase = %v ms, want 40", got)
	}
}

func TestAddRefusesUnknownMetrics(t *testing.T) {
	r := New(time.Now())
	err := r.Add("nope", Tags{}, 1)
	if !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("Add(nope) = %v, want ErrUnknownMetric", err)
	}
	if want := `record: unknown metric "nope" (not in the metric catalog)`; err == nil || err.Error() != want {
		t.Errorf("Add(nope) = %v, want %q", err, want)
	}
	if _, ok := r.Summarize(Selector{Metric: "nope"}); ok {
		t.Error("an unknown metric was recorded")
	}
	if err := r.Add("stale_reads", Tags{}, math.NaN()); err == nil {
		t.Error("Add took NaN")
	}
	if _, ok := r.Summarize(Selector{Metric: "stale_reads"}); ok {
		t.Error("a refused value was recorded")
	}
	if err := r.Add("stale_reads", Tags{}, 2); err != nil {
		t.Errorf("Add(stale_reads): %v", err)
	}
	if s, ok := r.Summarize(Selector{Metric: "stale_reads"}); !ok || s.Sum != 2 || s.Kind != metric.KindCounter {
		t.Errorf("stale_reads = %+v, %v; want a counter at 2", s, ok)
	}
}

// TestTypedHandlesHonourUnits: a duration goes in as a time.Duration and
// comes out in the catalog's unit, whatever the recorder keeps inside;
// Add's values are in that unit already.
func TestTypedHandlesHonourUnits(t *testing.T) {
	r := New(time.Now())
	tags := Tags{Phase: "outage"}
	r.Observe(metric.Staleness, tags, 1500*time.Millisecond) // seconds
	r.Observe(metric.Staleness, tags, 2500*time.Millisecond)
	r.Observe(metric.HTTPReqWaiting, tags, 1500*time.Microsecond) // milliseconds
	r.SetDuration(metric.RecoveryTime, tags, 4200*time.Millisecond)
	r.SetDuration(metric.TargetReadyTime, tags, 350*time.Millisecond)
	r.Count(metric.StaleReads, tags, 1)
	r.Count(metric.StaleReads, tags, 1)
	r.Set(metric.VUs, tags, 7)
	r.Rate(metric.Checks, tags, true)
	r.Rate(metric.Checks, tags, false)
	r.Count(metric.Counter{}, tags, 1) // the zero handle names nothing
	if err := r.Add("staleness_seconds", Tags{Phase: "steady"}, 0.25); err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.001 }
	for _, tt := range []struct {
		name string
		sel  map[string]string
		get  func(Summary) float64
		unit metric.Unit
		want float64
	}{
		{"staleness_seconds", tags.sel(), func(s Summary) float64 { return s.Quantile(100) }, metric.UnitSeconds, 2.5},
		{"staleness_seconds", tags.sel(), func(s Summary) float64 { return s.Mean() }, metric.UnitSeconds, 2},
		{"staleness_seconds", tags.sel(), func(s Summary) float64 { return s.Min }, metric.UnitSeconds, 1.5},
		{"staleness_seconds", map[string]string{"phase": "steady"}, func(s Summary) float64 { return s.Quantile(50) }, metric.UnitSeconds, 0.25},
		{"http_req_waiting", nil, func(s Summary) float64 { return s.Quantile(50) }, metric.UnitMilliseconds, 1.5},
		{"http_req_waiting", nil, func(s Summary) float64 { return s.Max }, metric.UnitMilliseconds, 1.5},
		{"recovery_time", nil, func(s Summary) float64 { return s.Last }, metric.UnitSeconds, 4.2},
		{"target_ready_time", nil, func(s Summary) float64 { return s.Last }, metric.UnitMilliseconds, 350},
		{"stale_reads", nil, func(s Summary) float64 { return s.Sum }, metric.UnitNone, 2},
		{"vus", nil, func(s Summary) float64 { return s.Last }, metric.UnitNone, 7},
		{"checks", nil, func(s Summary) float64 { return s.Ratio() }, metric.UnitNone, 0.5},
	} {
		s, ok := r.Summarize(Selector{Metric: tt.name, Tags: tt.sel})
		if got := tt.get(s); !ok || s.Unit != tt.unit || !near(got, tt.want) {
			t.Errorf("%s%v = %v %q (ok %v), want %v %q", tt.name, tt.sel, got, s.Unit, ok, tt.want, tt.unit)
		}
	}
	if n := len(r.series); n != 8 {
		t.Errorf("%d series, want 8 (the zero handle recorded something?)", n)
	}
}

func TestTagsGetKnowsEveryCatalogTag(t *testing.T) {
	tags := Tags{Scenario: "1", Name: "2", Method: "3", Status: "4", Phase: "5", Source: "6"}
	seen := map[string]bool{}
	for _, n := range metric.TagNames() {
		v, ok := tags.Get(n)
		if !ok || v == "" || seen[v] {
			t.Errorf("Get(%q) = %q, %v", n, v, ok)
		}
		seen[v] = true
	}
	if _, ok := tags.Get("url"); ok {
		t.Error("Get(url) found a tag")
	}
}

func TestGaugeKeepsLastMinMax(t *testing.T) {
	r := New(time.Now())
	for _, v := range []float64{5, 50, 20} {
		r.Add("vus", Tags{}, v)
	}
	s, _ := r.Summarize(Selector{Metric: "vus"})
	if s.Last != 20 || s.Min != 5 || s.Max != 50 {
		t.Errorf("gauge last %v min %v max %v", s.Last, s.Min, s.Max)
	}
	// Across tag sets, value is the one updated last, not a random one.
	for i := range 20 {
		r.Add("vus", Tags{Scenario: string(rune('a' + i))}, float64(i))
	}
	r.Add("vus", Tags{Scenario: "c"}, 99)
	if s, _ := r.Summarize(Selector{Metric: "vus"}); s.Last != 99 {
		t.Errorf("gauge value across tag sets = %v, want the last update 99", s.Last)
	}
}

func TestBucketsPerSecondWithBoundedError(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start)
	for i := range 300 {
		at := start.Add(time.Duration(i) * 10 * time.Millisecond) // 3 s of traffic
		r.AddRequest(Request{At: at, Duration: 20 * time.Millisecond, Failed: i%100 == 0})
	}
	bs := r.Buckets()
	if len(bs) != 3 {
		t.Fatalf("%d buckets, want 3", len(bs))
	}
	var total, failed int64
	for _, b := range bs {
		total += b.Requests
		failed += b.Failed
		if q := b.Quantile(95); q < 20_000 || q > 21_000 {
			t.Errorf("second %d p95 %v µs, want 20 ms within 5 %%", b.Second, q)
		}
	}
	if total != 300 || failed != 3 {
		t.Errorf("buckets hold %d requests, %d failed; want 300, 3", total, failed)
	}
}

func TestMemoryIsBoundedByTagSetsNotRequests(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20_000 {
				r.AddRequest(Request{Tags: Tags{Name: []string{"a", "b"}[w%2], Status: "200"}, At: start, Duration: time.Duration(i%500) * time.Microsecond})
			}
		})
	}
	wg.Wait()
	// 7 metrics per tag set, checks per request name, iterations per
	// scenario.
	if n := len(r.series); n != 2*7+2+1 {
		t.Errorf("%d series after 160000 requests over 2 tag sets, want 17", n)
	}
	s, _ := r.Summarize(Selector{Metric: HTTPReqs})
	if s.Sum != 160_000 {
		t.Errorf("http_reqs %v, want 160000", s.Sum)
	}
}

func BenchmarkAddRequest(b *testing.B) {
	start := time.Now()
	r := New(start)
	q := Request{Tags: Tags{Scenario: "s", Name: "get", Method: "GET", Status: "200", Phase: "steady", Source: "memory"}, At: start, Duration: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.AddRequest(q)
		}
	})
}

// TestSealedBucketsKeepTheirQuantiles: a second a few seconds old is
// sealed into its non-empty bins; its percentiles do not change, a late
// response still counts in it, and a copy handed out is not written
// behind the reader's back.
func TestSealedBucketsKeepTheirQuantiles(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start)
	for i := range 1000 {
		r.AddRequest(Request{At: start.Add(time.Duration(i) * time.Millisecond), Duration: time.Duration(1+i%200) * time.Millisecond})
	}
	before := r.Buckets()[0]
	q := map[float64]float64{}
	for _, p := range []float64{1, 50, 95, 99, 100} {
		q[p] = before.Quantile(p)
	}
	// Seconds 1..5 arrive: second 0 is sealed.
	for s := 1; s <= 5; s++ {
		r.AddRequest(Request{At: start.Add(time.Duration(s) * time.Second), Duration: time.Millisecond})
	}
	r.mu.Lock()
	sealed, dense := r.buckets[0].sealed, r.buckets[0].dense != nil
	r.mu.Unlock()
	if !sealed || dense {
		t.Fatalf("second 0 after second 5: sealed %v, dense array kept %v", sealed, dense)
	}
	after := r.Buckets()[0]
	for p, want := range q {
		if got := after.Quantile(p); got != want {
			t.Errorf("p(%v) %v after sealing, %v before", p, got, want)
		}
	}
	// A late response (intended in second 0, ended now) lands there.
	r.AddRequest(Request{At: start.Add(500 * time.Millisecond), Duration: 90 * time.Second, Failed: true})
	late := r.Buckets()[0]
	if late.Requests != 1001 || late.Failed != 1 || late.Quantile(100) < 90e6 {
		t.Errorf("after a late response: %d requests, %d failed, max %v µs", late.Requests, late.Failed, late.Quantile(100))
	}
	if after.Requests != 1000 || after.Quantile(100) != q[100] {
		t.Errorf("a copy taken before the late response changed: %d requests, max %v", after.Requests, after.Quantile(100))
	}
	// The open second's copy is not the recorder's array.
	cur, ok := r.LastComplete(start.Add(6 * time.Second))
	if !ok || cur.Second != 5 || cur.Requests != 1 {
		t.Fatalf("LastComplete at 6 s = second %d with %d requests, %v", cur.Second, cur.Requests, ok)
	}
	r.AddRequest(Request{At: start.Add(5 * time.Second), Duration: time.Hour})
	if cur.Quantile(100) > 1100 {
		t.Errorf("the copy of second 5 saw a later request: max %v µs", cur.Quantile(100))
	}
}

// sel is t as a selector of its non-empty tags.
func (t Tags) sel() map[string]string {
	m := map[string]string{}
	for _, n := range metric.TagNames() {
		if v, _ := t.Get(n); v != "" {
			m[n] = v
		}
	}
	return m
}
