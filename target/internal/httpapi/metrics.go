package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeUnmatched is the route label of requests no pattern matched.
const routeUnmatched = "unmatched"

// durationBuckets include the SLO edges the scenarios gate on.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// methodNames are the method label values; anything else is "OTHER", so a
// client cannot create series by inventing methods.
var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return len(methodNames) - 1
}

// metrics are the HTTP layer's series. Children are resolved once and
// cached, so recording a request takes no allocation and no lock.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	routes    map[string]*routeSeries // by pattern; read-only after newMetrics
	unmatched *routeSeries
}

func newMetrics(reg prometheus.Registerer, patterns []string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagserver_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flagserver_http_request_duration_seconds",
			Help:    "Time from routing a request to its handler returning, by route pattern and method.",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flagserver_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		routes: make(map[string]*routeSeries, len(patterns)),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	m.unmatched = &routeSeries{m: m, route: routeUnmatched}
	for _, p := range patterns {
		rs := &routeSeries{m: m, route: p}
		m.routes[p] = rs
		// Pre-create the series every healthy server will have, so that
		// dashboards and rate() see them from the first scrape.
		if method, _, ok := strings.Cut(p, " "); ok {
			rs.method(methodIndex(method)).counter(http.StatusOK)
		}
	}
	return m, nil
}

func (m *metrics) observe(pattern, method string, code int, d time.Duration) {
	rs := m.routes[pattern]
	if rs == nil {
		rs = m.unmatched
	}
	ms := rs.method(methodIndex(method))
	ms.duration.Observe(d.Seconds())
	ms.counter(code).Inc()
}

// routeSeries holds one route's children, per method, created on first use.
type routeSeries struct {
	m       *metrics
	route   string
	mu      sync.Mutex
	methods [len(methodNames)]atomic.Pointer[methodSeries]
}

func (rs *routeSeries) method(i int) *methodSeries {
	if ms := rs.methods[i].Load(); ms != nil {
		return ms
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if ms := rs.methods[i].Load(); ms != nil {
		return ms
	}
	ms := &methodSeries{
		requests: rs.m.requests,
		route:    rs.route,
		method:   methodNames[i],
		duration: rs.m.duration.WithLabelValues(rs.route, methodNames[i]),
	}
	ms.codes.Store(&map[int]prometheus.Counter{})
	rs.methods[i].Store(ms)
	return ms
}

// methodSeries holds the children of one route and method. codes is
// copy-on-write: readers load it without locking.
type methodSeries struct {
	requests *prometheus.CounterVec
	route    string
	method   string
	duration prometheus.Observer
	mu       sync.Mutex
	codes    atomic.Pointer[map[int]prometheus.Counter]
}

func (ms *methodSeries) counter(code int) prometheus.Counter {
	if c, ok := (*ms.codes.Load())[code]; ok {
		return c
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	old := *ms.codes.Load()
	if c, ok := old[code]; ok {
		return c
	}
	next := make(map[int]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := ms.requests.WithLabelValues(ms.route, ms.method, strconv.Itoa(code))
	next[code] = c
	ms.codes.Store(&next)
	return c
}

// recorder captures the status for the metrics and replaces the mux's own
// plain-text errors (404, 405, 400 for "*") with JSON ones. Handler pools
// them, so a request costs no allocation for it.
type recorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	swallow bool // the mux's plain-text body is being discarded
}

func (w *recorder) WriteHeader(code int) {
	if w.status != 0 || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		// Informational responses, or a superfluous call that net/http
		// will report: pass through.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	if code >= 400 && w.req.Pattern == "" {
		// Only the mux itself answers without a pattern.
		w.swallow = true
		writeError(w.ResponseWriter, muxError(code))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
