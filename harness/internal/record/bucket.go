package record

import (
	"math"
	"slices"
	"time"
)

// Bucket is one second of the run (by the requests' intended start, so a
// request offered during a fault counts in that second however late it
// ends): request and failure counts and a compact latency histogram
// (log-spaced, 5 % wide bins from 10 µs to about 2 minutes), precise
// enough to draw percentiles over time.
//
// While its second is recent a bucket counts into a dense array (1.3 KiB);
// once the second is a few seconds old the recorder seals it into the
// sorted list of its non-empty bins (a few dozen, some hundred bytes), so
// a long run's memory grows by little per second. A late response still
// lands in its sealed bucket.
type Bucket struct {
	Second   int
	Requests int64
	Failed   int64
	dense    *[binCount]uint32 // nil until the first request and once sealed
	sparse   []sparseBin       // sorted by bin, once sealed
	sealed   bool
}

type sparseBin struct {
	bin   uint16
	count uint32
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
	bin := binOf(d)
	if b.dense != nil {
		b.dense[bin]++
		return
	}
	if !b.sealed {
		b.dense = new([binCount]uint32)
		b.dense[bin]++
		return
	}
	i, found := slices.BinarySearchFunc(b.sparse, uint16(bin), func(s sparseBin, t uint16) int { return int(s.bin) - int(t) })
	if found {
		b.sparse[i].count++
		return
	}
	b.sparse = slices.Insert(b.sparse, i, sparseBin{bin: uint16(bin), count: 1})
}

// seal turns the dense array into the list of non-empty bins.
func (b *Bucket) seal() {
	b.sealed = true
	if b.dense == nil {
		return
	}
	n := 0
	for _, c := range b.dense {
		if c > 0 {
			n++
		}
	}
	b.sparse = make([]sparseBin, 0, n)
	for i, c := range b.dense {
		if c > 0 {
			b.sparse = append(b.sparse, sparseBin{bin: uint16(i), count: c})
		}
	}
	b.dense = nil
}

// clone is a deep copy, safe to read while the recorder goes on.
func (b Bucket) clone() Bucket {
	if b.dense != nil {
		d := *b.dense
		b.dense = &d
	}
	b.sparse = slices.Clone(b.sparse)
	return b
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
	if b.dense != nil {
		for i, n := range b.dense {
			seen += int64(n)
			if seen >= rank {
				return binUpper(i)
			}
		}
	}
	for _, s := range b.sparse {
		seen += int64(s.count)
		if seen >= rank {
			return binUpper(int(s.bin))
		}
	}
	return binUpper(binCount - 1)
}

// Buckets returns a copy of the per-second buckets so far.
func (r *Recorder) Buckets() []Bucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Bucket, len(r.buckets))
	for i, b := range r.buckets {
		out[i] = b.clone()
	}
	return out
}

// LastComplete returns the bucket of the last full second before now (a
// copy), and false when none has ended yet.
func (r *Recorder) LastComplete(now time.Time) (Bucket, bool) {
	i := int(now.Sub(r.start)/time.Second) - 1
	if i < 0 {
		return Bucket{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.buckets) {
		return Bucket{Second: i}, true // a second without requests
	}
	return r.buckets[i].clone(), true
}
