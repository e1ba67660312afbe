package cli

import (
	"slices"
	"testing"

	"github.com/flagstorm/flagstorm/harness/internal/verdict"
	"github.com/flagstorm/flagstorm/scenarios"
)

// The scenarios package cannot import the harness, so it keeps its own
// list of metric and tag names for validation: they must stay equal to
// the threshold catalog, or a file could pass validate and fail run.
func TestScenarioNamesMatchTheThresholdCatalog(t *testing.T) {
	cat := verdict.DefaultCatalog()
	var metrics []string
	for m := range cat.Metrics {
		metrics = append(metrics, m)
	}
	slices.Sort(metrics)
	known := slices.Sorted(slices.Values(scenarios.KnownMetrics()))
	if !slices.Equal(known, metrics) {
		t.Errorf("scenarios.KnownMetrics() = %v\nverdict catalog     = %v", known, metrics)
	}
	tags := slices.Sorted(slices.Values(cat.Tags))
	if knownTags := slices.Sorted(slices.Values(scenarios.KnownTags())); !slices.Equal(knownTags, tags) {
		t.Errorf("scenarios.KnownTags() = %v, verdict catalog tags = %v", knownTags, tags)
	}
}
