package record

import (
	"math"
	"sync"
	"testing"
	"time"
)

var kinds = map[string]Kind{
	HTTPReqs: Counter, HTTPReqDuration: Trend, HTTPReqWaiting: Trend, HTTPReqService: Trend,
	HTTPReqFailed: Rate, DataReceived: Counter, DataSent: Counter, "vus": Gauge,
}

func TestTrendQuantilesAreExactToThreeDigits(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start, kinds)
	// 1..1000 ms, one sample each: p(95) is 950 ms, p(50) 500 ms.
	for i := 1; i <= 1000; i++ {
		r.AddRequest(Request{Tags: Tags{Name: "get"}, At: start, Duration: time.Duration(i) * time.Millisecond})
	}
	s, ok := r.Summarize(Selector{Metric: HTTPReqDuration})
	if !ok {
		t.Fatal("no data")
	}
	for _, tt := range []struct{ q, want float64 }{{50, 500_000}, {95, 950_000}, {99, 990_000}, {100, 1_000_000}} {
		if got := s.Quantile(tt.q); math.Abs(got-tt.want)/tt.want > 0.001 {
			t.Errorf("p(%v) = %v µs, want %v ± 0.1%%", tt.q, got, tt.want)
		}
	}
	if got := s.Mean(); math.Abs(got-500_500) > 1 {
		t.Errorf("mean %v µs, want 500500", got)
	}
	if s.Min != 1000 || s.Max != 1_000_000 {
		t.Errorf("min %v max %v", s.Min, s.Max)
	}
}

func TestSelectorsPickSubmetrics(t *testing.T) {
	start := time.Unix(0, 0)
	r := New(start, kinds)
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
		s, ok := r.Summarize(Selector{Metric: HTTPReqFailed, Tags: c.sel})
		if ok != (c.count > 0) || s.Count != c.count || s.Ratio() != c.rate {
			t.Errorf("%v: count %d rate %v ok %v; want %d %v", c.sel, s.Count, s.Ratio(), ok, c.count, c.rate)
		}
	}
	s, _ := r.Summarize(Selector{Metric: HTTPReqDuration, Tags: map[string]string{"phase": "outage"}})
	if got := s.Quantile(95); math.Abs(got-40_000) > 40 {
		t.Errorf("p(95) of the outage phase = %v µs, want 40000", got)
	}
}

func TestUnknownMetricIsIgnored(t *testing.T) {
	r := New(time.Now(), kinds)
	r.Add("nope", Tags{}, 1)
	if _, ok := r.Summarize(Selector{Metric: "nope"}); ok {
		t.Error("an undeclared metric was recorded")
	}
}

func TestGaugeKeepsLastMinMax(t *testing.T) {
	r := New(time.Now(), kinds)
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
	r := New(start, kinds)
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
	r := New(start, kinds)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20_000 {
				r.AddRequest(Request{Tags: Tags{Name: []string{"a", "b"}[w%2], Status: "200"}, At: start, Duration: time.Duration(i%500) * time.Microsecond})
			}
		})
	}
	wg.Wait()
	if n := len(r.series); n != 2*7 {
		t.Errorf("%d series after 160000 requests over 2 tag sets, want 14 (7 metrics × 2)", n)
	}
	s, _ := r.Summarize(Selector{Metric: HTTPReqs})
	if s.Sum != 160_000 {
		t.Errorf("http_reqs %v, want 160000", s.Sum)
	}
}

func BenchmarkAddRequest(b *testing.B) {
	start := time.Now()
	r := New(start, kinds)
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
	r := New(start, kinds)
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
