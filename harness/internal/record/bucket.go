package record

import (
	"math"
	"time"
)

// Bucket is one second of the run (by the requests' intended start, so a
// request offered during a fault counts in that second however late it
// ends): request and failure counts and a
// compact latency histogram (log-spaced, 5 % wide bins from 10 µs to
// about 2 minutes), precise enough to draw percentiles over time at a
// fixed ~1 KiB per second of run.
type Bucket struct {
	Second   int
	Requests int64
	Failed   int64
	bins     [binCount]uint32
}

const (
	binBase  = 10.0 // µs: everything faster lands in bin 0
	binRatio = 1.05
	binCount = 336 // binBase × 1.05^335 ≈ 123 s
)

var logRatio = math.Log(binRatio)

func binOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= binBase {
		return 0
	}
	i := int(math.Log(us/binBase)/logRatio) + 1
	return min(i, binCount-1)
}

// binUpper is the upper edge of bin i in microseconds.
func binUpper(i int) float64 { return binBase * math.Pow(binRatio, float64(i)) }

func (b *Bucket) add(d time.Duration, failed bool) {
	b.Requests++
	if failed {
		b.Failed++
	}
	b.bins[binOf(d)]++
}

// Quantile is the q-th percentile (0..100) of the bucket's latencies, in
// microseconds (the upper edge of its bin: at most 5 % high).
func (b *Bucket) Quantile(q float64) float64 {
	if b.Requests == 0 {
		return 0
	}
	rank := int64(math.Ceil(q / 100 * float64(b.Requests)))
	rank = max(rank, 1)
	var seen int64
	for i, n := range b.bins {
		seen += int64(n)
		if seen >= rank {
			return binUpper(i)
		}
	}
	return binUpper(binCount - 1)
}

// Buckets returns a copy of the per-second buckets so far.
func (r *Recorder) Buckets() []Bucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Bucket(nil), r.buckets...)
}
