// Package k6 carries flagstorm's scenarios to k6 and k6's results back.
//
// Export writes a scenario file as a k6 script (an ES module): its load
// as k6 scenarios with k6's executors and option names, its request mix
// with a name tag per request and a phase tag computed from the
// scenario's own start, its expected statuses, its thresholds (each
// selecting {traffic:load}, so that the fault timeline's Toxiproxy calls
// never count) and summaryTrendStats covering every statistic a threshold
// uses. The fault timeline becomes a one-VU shared-iterations scenario
// that calls Toxiproxy's HTTP API at the phase times, with a reset in
// setup() and teardown(). What a k6 script cannot do (Redis actions, the
// oracle, a cold start, latency from the intended start, ...) comes back
// as Warnings.
//
// ReadResults reads k6's --out json output (newline-delimited Metric and
// Point objects, gzipped or not) into a recorder, so that package run
// judges it exactly as it judges its own runs; ReadSummary reads the
// older --summary-export file, which has aggregates only.
//
// k6 is AGPL: nothing here links or derives from its code. Both
// directions rely on its public documentation only, cited where a format
// is used.
package k6
