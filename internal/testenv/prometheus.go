package testenv

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
)

// FakePrometheus is a canned Prometheus for the canary gate's tests: an
// http.Handler that answers GET/POST /api/v1/query in Prometheus's JSON
// shape with Values[side][kind], where side is "canary" when the query
// says canary anywhere (track="canary", or an Argo Rollouts pod template
// hash "canary-…"; a baseline selector must not) and "baseline"
// otherwise, and kind is
// [GateQueryKind] of the query. A missing kind answers an empty vector;
// another path answers 400 with Prometheus's error shape. While Down is
// set it answers 503, like a Prometheus that is shutting down. Queries
// counts the requests it received.
type FakePrometheus struct {
	Values  map[string]map[string]float64
	Down    atomic.Bool
	Queries atomic.Int64
}

func (p *FakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.Queries.Add(1)
	if p.Down.Load() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil || r.URL.Path != "/api/v1/query" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"unexpected request"}`)
		return
	}
	q := r.Form.Get("query")
	side := "baseline"
	if strings.Contains(q, "canary") {
		side = "canary"
	}
	w.Header().Set("Content-Type", "application/json")
	v, ok := p.Values[side][GateQueryKind(q)]
	if !ok {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		return
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"%g"]}]}}`, r.Form.Get("time"), v)
}

// GateQueryKind names what one of the gate's PromQL queries over
// flagserver's metrics asks for: "latency", "errors", "requests",
// "cache_failed", "cache_ops", "fallbacks" or "reads".
func GateQueryKind(q string) string {
	switch {
	case strings.HasPrefix(q, "histogram_quantile"):
		return "latency"
	case strings.Contains(q, `code=~"5.."`):
		return "errors"
	case strings.Contains(q, "flagserver_http_requests_total"):
		return "requests"
	case strings.Contains(q, `result=~"error|rejected"`):
		return "cache_failed"
	case strings.Contains(q, "flagserver_cache_operations_total"):
		return "cache_ops"
	case strings.Contains(q, `source="db-fallback"`):
		return "fallbacks"
	}
	return "reads"
}

// HealthyGateValues returns one side's values, by [GateQueryKind], for a
// healthy flagserver: 1000 requests, no error, 4 ms p95, a clean cache and
// no fallback.
func HealthyGateValues() map[string]float64 {
	return map[string]float64{"requests": 1000, "errors": 0, "latency": 0.004, "cache_ops": 1200, "cache_failed": 0, "reads": 1000, "fallbacks": 0}
}

// CannedGateValues returns [FakePrometheus] values: a healthy baseline,
// and a canary whose healthy values canary changes.
func CannedGateValues(canary map[string]float64) map[string]map[string]float64 {
	c := HealthyGateValues()
	maps.Copy(c, canary)
	return map[string]map[string]float64{"canary": c, "baseline": HealthyGateValues()}
}
