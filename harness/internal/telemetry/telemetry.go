// Package telemetry exports a run as Prometheus metrics: served on
// /metrics while the run lasts and pushed to a Pushgateway at its end, so
// scheduled CI runs land in Prometheus and canary dashboards.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Buckets include the SLO edges the scenarios gate on.
var Buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics are a run's series. Labels are bounded by the scenario file:
// spec (the scenario file's name), phase, request name, X-Flag-Source and
// status code. "spec" is not "scenario": in k6 and in our thresholds a
// scenario is one executor with its load inside a file, and no series
// here carries one.
type Metrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	stale    *prometheus.CounterVec
	fault    *prometheus.GaugeVec
	verdict  *prometheus.GaugeVec
	info     *prometheus.GaugeVec

	mu       sync.Mutex
	children map[childKey]children
}

type childKey struct{ spec, phase, name, source, status string }

type children struct {
	duration prometheus.Observer
	requests prometheus.Counter
}

// New builds the metrics on a fresh registry (with Go and process
// collectors).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flagstorm_http_request_duration_seconds",
			Help:    "Latency of the harness's requests from their intended start (open model: no coordinated omission).",
			Buckets: Buckets,
		}, []string{"spec", "phase", "name", "source"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagstorm_http_requests_total",
			Help: "Requests the harness completed, by scenario file (spec), phase, request name, X-Flag-Source and status code (0: no response).",
		}, []string{"spec", "phase", "name", "source", "status"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagstorm_dropped_iterations_total",
			Help: "Arrivals the open model could not start because every VU was busy.",
		}, []string{"spec"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagstorm_stale_reads_total",
			Help: "Reads that returned a version older than one acknowledged before the read began.",
		}, []string{"spec", "phase", "source"}),
		fault: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagstorm_fault_active",
			Help: "1 while a fault of the timeline is applied.",
		}, []string{"spec", "phase", "proxy", "type"}),
		verdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagstorm_threshold_passed",
			Help: "Threshold verdicts at the end of the run: 1 passed, 0 failed, -1 no data.",
		}, []string{"spec", "threshold"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagstorm_run_info",
			Help: "The run: scenario file (spec), profile and verdict; always 1.",
		}, []string{"spec", "profile", "verdict"}),
		children: make(map[childKey]children),
	}
	m.reg.MustRegister(m.duration, m.requests, m.dropped, m.stale, m.fault, m.verdict, m.info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics live.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Request records one response of the scenario file spec.
func (m *Metrics) Request(spec, phase, name, source string, status int, d time.Duration) {
	k := childKey{spec, phase, name, source, strconv.Itoa(status)}
	m.mu.Lock()
	c, ok := m.children[k]
	if !ok {
		c = children{
			duration: m.duration.WithLabelValues(spec, phase, name, source),
			requests: m.requests.WithLabelValues(spec, phase, name, source, k.status),
		}
		m.children[k] = c
	}
	m.mu.Unlock()
	c.duration.Observe(d.Seconds())
	c.requests.Inc()
}

// Scenarios makes the per-spec counters of the named scenario files exist
// at 0 before anything happens, so that a clean run exports
// flagstorm_dropped_iterations_total 0 rather than nothing.
func (m *Metrics) Scenarios(specs ...string) {
	for _, s := range specs {
		m.dropped.WithLabelValues(s)
	}
}

// Checked makes the stale-read counters of a scenario file (spec) checked
// by the oracle exist at 0 for each phase and source, so that a run
// without a stale read exports flagstorm_stale_reads_total 0 rather than
// nothing: "no stale read" and "not checked" look different on a
// dashboard.
func (m *Metrics) Checked(spec string, phases, sources []string) {
	for _, p := range phases {
		for _, s := range sources {
			m.stale.WithLabelValues(spec, p, s)
		}
	}
}

// Dropped counts a dropped arrival.
func (m *Metrics) Dropped(spec string) { m.dropped.WithLabelValues(spec).Inc() }

// StaleRead counts a stale read.
func (m *Metrics) StaleRead(spec, phase, source string) {
	m.stale.WithLabelValues(spec, phase, source).Inc()
}

// Fault marks a fault applied (active) or removed.
func (m *Metrics) Fault(spec, phase, proxy, typ string, active bool) {
	v := 0.0
	if active {
		v = 1
	}
	m.fault.WithLabelValues(spec, phase, proxy, typ).Set(v)
}

// Verdict records a threshold's final verdict: "pass", "fail" or "nodata".
func (m *Metrics) Verdict(spec, threshold, verdict string) {
	v := -1.0
	switch verdict {
	case "pass":
		v = 1
	case "fail":
		v = 0
	}
	m.verdict.WithLabelValues(spec, threshold).Set(v)
}

// Run records the run's identity and overall verdict.
func (m *Metrics) Run(spec, profile, verdict string) {
	m.info.Reset()
	m.info.WithLabelValues(spec, profile, verdict).Set(1)
}

// Serve exposes /metrics on addr until ctx ends; it returns the bound
// address (addr may use port 0).
func (m *Metrics) Serve(ctx context.Context, addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return ln.Addr().String(), stop, nil
}

// Push sends every metric to a Pushgateway under job "flagstorm" and run
// as the "run" grouping key (the caller's name for the run, such as the
// scenario file's; the metrics carry "spec" themselves), replacing that
// group's previous push.
func (m *Metrics) Push(ctx context.Context, url, run string) error {
	if url == "" {
		return errors.New("push gateway URL is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	err := push.New(url, "flagstorm").Client(client).Grouping("run", run).Gatherer(m.reg).PushContext(ctx)
	if err != nil {
		return fmt.Errorf("push to %s: %w", url, err)
	}
	return nil
}
