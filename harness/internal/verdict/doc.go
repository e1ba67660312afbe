// Package verdict parses k6-style thresholds and judges a run by them.
//
// A scenario's thresholds map a key, a metric with an optional tag
// selector, to a list of expressions:
//
//	http_req_duration: ["p(95)<50"]
//	"http_req_duration{phase:outage}": ["p(95)<50", "p(99)<100"]
//	"http_req_duration{name:get,source:db-fallback}": ["avg<20"]
//	http_req_failed: ["rate==0"]
//	checks: [{threshold: "rate>0.99", abortOnFail: true, delayAbortEval: "10s"}]
//
// The grammar is k6's: an expression is an aggregation, a comparison and a
// number, and it states what must be TRUE for the threshold to pass. The
// aggregations a metric allows depend on its type (k6's four): a Counter
// has count and rate (per second of run time), a Gauge value (the last
// sample), min and max, a Rate rate (the fraction of non-zero samples), and
// a Trend avg, min, max, med and p(N) for 0 < N <= 100. The selector is
// flagstorm's extension in k6's syntax: {phase:outage} picks the samples of
// one timeline phase, {source:db-fallback} those a given X-Flag-Source
// served, and so on for every tag the catalog names. Keys follow metric's
// grammar (metric.ParseKey), the one the scenario validator uses too.
//
// # Units
//
// Limits are plain numbers in the metric's unit, which metric's catalog
// records (metric.Desc; the Catalog is its view) and the Stats
// implementation must honour:
//
//   - time Trends named http_req_* are in milliseconds, as in k6:
//     p(95)<50 means 50 ms;
//   - staleness_seconds (a Trend) and recovery_time (a Gauge) are in
//     seconds, as their names and the scenario files say;
//   - data_received and data_sent count bytes;
//   - Rate metrics are fractions from 0 to 1: rate<0.01 means under 1 %;
//   - a Counter's rate is per second of run time.
//
// Unit.FromDuration converts a time.Duration to a metric's unit; the
// recorder reads its summaries back in the catalog's unit.
//
// # Verdicts
//
// A threshold whose submetric has no samples is NoData, not a pass: a
// phase that never ran or a selector that matches nothing proves nothing.
// A run's Verdict is Fail when any threshold failed, else NoData when any
// had no data (the CLI calls it inconclusive, exit code 3), else Pass.
// A failed threshold is a result; errors mean a threshold could not be
// parsed.
package verdict
