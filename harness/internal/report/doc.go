// Package report writes what a finished run shows: the end-of-run
// summary for a terminal (WriteSummary), summary.json in the shape of
// k6's end-of-test summary plus flagstorm's own fields (WriteJSON),
// junit.xml with one test case per threshold for CI (WriteJUnit), and a
// self-contained report.html with latency and throughput over time and
// the faults drawn as bands (WriteHTML).
//
// The engine fills a Run; the writers only read it, and the same Run
// gives the same bytes every time. Thresholds are verdict's own types,
// so every report words a threshold, its unit and its observed value the
// way verdict.Result.String does. The golden files under testdata/ show
// each format for one realistic outage run; go test -update rewrites
// them.
package report
