package k6

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/internal/metric"
)

// Summary is k6's --summary-export file: the end-of-test aggregates of
// every metric, and of the submetrics that thresholds select, keyed
// "http_req_duration{phase:outage,traffic:load}". Its shape is published
// with the option (https://k6.io/docs/results-visualization/json/, "Summary
// export"): metrics.<key> holds the statistics (counters: count, rate;
// rates: value, passes, fails; gauges: value, min, max; trends: the
// summaryTrendStats, avg, min, med, max, p(90), p(95) by default) and
// "thresholds", whose booleans are true when the threshold FAILED (the
// reverse of what the name suggests: github.com/grafana/k6/issues/1498).
//
// Its limits: no per-second data, so no recovery time and no time series;
// a statistic the summary does not list (a percentile outside
// summaryTrendStats, a submetric no threshold of the script selected) has
// no data.
type Summary struct {
	Metrics map[string]map[string]json.RawMessage `json:"metrics"`
}

// ReadSummary reads a --summary-export file.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not k6's --summary-export JSON: %w", path, err)
	}
	if len(s.Metrics) == 0 {
		return nil, fmt.Errorf("%s: no \"metrics\" object: not k6's --summary-export JSON", path)
	}
	return &s, nil
}

// Aggregate answers a threshold's query from the summary (verdict.Stats):
// the submetric as the exported script names it (with traffic:load),
// else as written.
func (s *Summary) Aggregate(name string, sel verdict.Tags, agg verdict.Agg) (float64, bool) {
	stats, ok := s.lookup(name, sel)
	if !ok {
		return 0, false
	}
	kind := metric.KindTrend
	if d, known := metric.Lookup(name); known {
		kind = d.Kind
	}
	field := agg.String()
	switch {
	case agg.Kind == verdict.AggRate && kind == metric.KindRate:
		field = "value"
	case agg.Kind == verdict.AggMed:
		field = "med"
	}
	raw, ok := stats[field]
	if !ok {
		return 0, false
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return v, true
}

func (s *Summary) lookup(name string, sel verdict.Tags) (map[string]json.RawMessage, bool) {
	keys := []string{name + sel.String()}
	if slices.Contains(loadTagged, name) || name == metric.HTTPReqServiceTime.Name() {
		if name == metric.HTTPReqServiceTime.Name() {
			name = metric.HTTPReqDuration.Name()
		}
		tagged := append(slices.Clone(sel), metric.Tag{Name: TagTraffic, Value: TrafficLoad})
		sort.Slice(tagged, func(i, j int) bool { return tagged[i].Name < tagged[j].Name })
		keys = append([]string{name + metric.Tags(tagged).String()}, keys...)
	}
	for _, k := range keys {
		if m, ok := s.Metrics[k]; ok {
			return m, true
		}
	}
	return nil, false
}

// Failed lists the thresholds k6 itself failed, "key expr", sorted.
func (s *Summary) Failed() []string {
	var out []string
	for key, m := range s.Metrics {
		raw, ok := m["thresholds"]
		if !ok {
			continue
		}
		var th map[string]bool
		if json.Unmarshal(raw, &th) != nil {
			continue
		}
		for expr, failed := range th {
			if failed {
				out = append(out, key+" "+expr)
			}
		}
	}
	sort.Strings(out)
	return out
}
