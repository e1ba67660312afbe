package main

import (
	"context"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// runWrk runs wrk against url once: its done line and its process's
// accounting.
func runWrk(ctx context.Context, w *benchkit.Wrk, threads, connections int, duration time.Duration, url string) (result, error) {
	res, g, err := w.Run(ctx, threads, connections, duration, url)
	if err != nil {
		return result{}, err
	}
	return fromWrk(res, g), nil
}

// fromWrk is a wrk run (or a client loop's line in wrk's format) as a
// result: Failed counts wrk's non-2xx/3xx responses and its socket errors
// (connect, read, write, timeout).
func fromWrk(w benchkit.WrkResult, g benchkit.GenProc) result {
	return result{
		Requests: w.Requests,
		Duration: w.Duration,
		Failed:   w.Failed(),
		P50:      w.P50,
		P95:      w.P95,
		P99:      w.P99,
		Max:      w.Max,
		Proc:     g,
	}
}
