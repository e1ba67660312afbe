package gate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sources label the callers in the gate's metrics.
const (
	SourceArgo    = "argo"
	SourceFlagger = "flagger"
	SourceCLI     = "cli"
)

// outcomeError labels an evaluation that reached no verdict.
const outcomeError = "error"

// Metrics are the gate server's series.
type Metrics struct {
	verdicts *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the gate's metrics with reg; a nil reg registers
// nothing (the metrics still count).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagstorm_gate_verdicts_total",
			Help: "Canary gate evaluations by caller (argo, flagger, cli) and verdict (go, no-go, inconclusive, error: could not evaluate).",
		}, []string{"source", "verdict"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flagstorm_gate_evaluation_duration_seconds",
			Help:    "Time to query Prometheus and judge the canary, by caller.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"source"}),
	}
	for _, s := range []string{SourceArgo, SourceFlagger, SourceCLI} {
		for _, v := range []string{Go.String(), NoGo.String(), Inconclusive.String(), outcomeError} {
			m.verdicts.WithLabelValues(s, v)
		}
		m.duration.WithLabelValues(s)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.verdicts, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Observe counts one evaluation: a result, or nil for an error.
func (m *Metrics) Observe(source string, r *Result, d time.Duration) {
	v := outcomeError
	if r != nil {
		v = r.Verdict.String()
	}
	m.verdicts.WithLabelValues(source, v).Inc()
	m.duration.WithLabelValues(source).Observe(d.Seconds())
}
