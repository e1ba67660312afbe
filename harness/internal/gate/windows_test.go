package gate

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// windowQuerier answers the gate's queries from a table by side, window
// and kind: a narrow fake of our own Querier interface, to judge the two
// windows apart (the real-Prometheus acceptance test cannot make them
// differ on purpose).
type windowQuerier struct {
	// values[side][window][kind]; a missing kind answers an empty vector.
	values map[string]map[string]map[kind]float64
}

func (q windowQuerier) Query(_ context.Context, query string, _ time.Time) (model.Vector, []string, error) {
	side := "baseline"
	if strings.Contains(query, `track="canary"`) {
		side = "canary"
	}
	for window, kinds := range q.values[side] {
		if !strings.Contains(query, "["+window+"]") {
			continue
		}
		for k, v := range kinds {
			if promql(Default(), k, sideSelector(side), window) == query {
				return model.Vector{&model.Sample{Value: model.SampleValue(v)}}, nil, nil
			}
		}
	}
	return nil, nil, nil
}

func sideSelector(side string) Selector {
	s, err := ParseSelector(`{track="` + side + `"}`)
	if err != nil {
		panic(err)
	}
	return s
}

// clean is a side's answers over a window with n requests: 10 ms p95,
// no error, cache and fallback clean.
func clean(n float64) map[kind]float64 {
	return map[kind]float64{kRequests: n, kErrors: 0, kQuantile: 0.010, kCacheOps: n, kCacheFailed: 0, kReads: n, kFallbacks: 0}
}

// TestGateWindowsJudgedApart: each check is judged on each window alone,
// and the verdict names the window that failed or lacked traffic.
func TestGateWindowsJudgedApart(t *testing.T) {
	burst := clean(1000)
	burst[kErrors] = 50 // 5 % in the last minute
	diluted := clean(5000)
	diluted[kErrors] = 50 // 1 % over five minutes: at the limit, passes
	for _, tt := range []struct {
		name        string
		canary      map[string]map[kind]float64
		want        Verdict
		wantIDs     []string // Summary.Failed or Summary.Inconclusives
		wantReasons []string
	}{
		{"a fresh error burst fails the short window only",
			map[string]map[kind]float64{"1m": burst, "5m": diluted},
			NoGo, []string{"error_rate[1m]"}, []string{"5.0% of 1000 canary requests"}},
		{"an old problem fails the long window only",
			map[string]map[kind]float64{"1m": clean(1000), "5m": func() map[kind]float64 { m := clean(5000); m[kErrors] = 250; return m }()},
			NoGo, []string{"error_rate[5m]"}, []string{"5.0% of 5000 canary requests"}},
		{"traffic that just stopped is inconclusive on the short window",
			map[string]map[kind]float64{"1m": clean(20), "5m": clean(5000)},
			Inconclusive, []string{"latency_p95[1m]", "latency_p95_ratio[1m]", "error_rate[1m]", "cache_error_rate[1m]", "fallback_rate[1m]"}, []string{"too little traffic", "in 1m"}},
		{"both windows healthy",
			map[string]map[kind]float64{"1m": clean(1000), "5m": clean(5000)},
			Go, nil, []string{"over 1m and 5m"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := windowQuerier{values: map[string]map[string]map[kind]float64{
				"canary":   tt.canary,
				"baseline": {"1m": clean(1000), "5m": clean(5000)},
			}}
			g, err := New(q, Default())
			if err != nil {
				t.Fatal(err)
			}
			r, err := g.Evaluate(t.Context(), Request{Canary: sideSelector("canary"), Baseline: sideSelector("baseline")})
			if err != nil {
				t.Fatal(err)
			}
			ids := r.Summary.Failed
			if tt.want == Inconclusive {
				ids = r.Summary.Inconclusives
			}
			if r.Verdict != tt.want || !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("verdict %s, checks %v; want %s, %v\n%s", r.Verdict, ids, tt.want, tt.wantIDs, r.Reason)
			}
			for _, s := range tt.wantReasons {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q lacks %q", r.Reason, s)
				}
			}
		})
	}
}
