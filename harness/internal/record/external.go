package record

import "time"

// AddBucket counts one request of a recording made by another tool (k6's
// --out json, read by package k6) in the time series: the second of at (the
// request's start), its latency d, and whether it failed. Its metrics go
// through Add, one sample per metric as the tool wrote them; AddRequest is
// for the harness's own engine, which has all of a request's measurements
// at once.
func (r *Recorder) AddBucket(at time.Time, d time.Duration, failed bool) {
	r.mu.Lock()
	r.totals.requests++
	if failed {
		r.totals.failed++
	}
	r.bucketLocked(at).add(d, failed)
	r.mu.Unlock()
}
