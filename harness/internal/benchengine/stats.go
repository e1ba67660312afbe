package main

import (
	"fmt"
	"slices"
	"time"
)

// median of xs; false when xs is empty.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2], true
	}
	return (xs[n/2-1] + xs[n/2]) / 2, true
}

// medianOf is the median of f over the valid results.
func medianOf(rs []result, f func(result) float64) (float64, bool) {
	var xs []float64
	for _, r := range rs {
		if r.Valid() {
			xs = append(xs, f(r))
		}
	}
	return median(xs)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
