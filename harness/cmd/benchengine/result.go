package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// result is one load generator run, whichever the tool: what it reported
// about the target and what the kernel reported about it.
type result struct {
	// Requests is the number of completed requests (any status).
	Requests int64
	// Duration is the run's length as the tool measured it, the divisor
	// of its requests per second.
	Duration time.Duration
	// Failed counts requests answered with an unexpected status (wrk,
	// flagstorm: >= 400; hey: outside 200-399) or not answered at all.
	Failed int64
	// Dropped counts arrivals an open-model run could not start (every
	// VU busy); flagstorm only.
	Dropped int64
	// VUs is the most VUs the run had allocated (flagstorm's vus_max);
	// 0 when unknown.
	VUs                int64
	P50, P95, P99, Max time.Duration
	// Proc is the generator process's accounting.
	Proc benchkit.GenProc
	// ServerCPU is the CPU time the server under test used during the
	// run; 0 when not measured.
	ServerCPU time.Duration
}

// RPS is completed requests per second over the tool's own duration.
func (r result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// Valid reports whether the run counts: requests were made and none
// failed.
func (r result) Valid() bool { return r.Requests > 0 && r.Failed == 0 }

// Problem says why an invalid run does not count; "" for a valid one.
func (r result) Problem() string {
	var p []string
	if r.Requests == 0 {
		p = append(p, "no requests")
	}
	if r.Failed > 0 {
		p = append(p, fmt.Sprintf("%d failed requests", r.Failed))
	}
	return strings.Join(p, ", ")
}

// GenCPUPerRequest is the generator's CPU time per completed request, µs.
func (r result) GenCPUPerRequest() float64 { return perRequest(r.Proc.CPU, r.Requests) }

// ServerCPUPerRequest is the server's CPU time per completed request, µs.
func (r result) ServerCPUPerRequest() float64 { return perRequest(r.ServerCPU, r.Requests) }

// GenCores is the generator's average CPU use in cores over its life.
func (r result) GenCores() float64 {
	if r.Proc.Wall <= 0 {
		return 0
	}
	return r.Proc.CPU.Seconds() / r.Proc.Wall.Seconds()
}

func perRequest(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(n)
}

func (r result) String() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %s  p99 %s  generator %.1f µs/req (%.2f cores, peak RSS %s)  server %.1f µs/req",
		r.RPS(), benchkit.Ms(r.P50), benchkit.Ms(r.P99), r.GenCPUPerRequest(), r.GenCores(), benchkit.MiB(r.Proc.LastHWM), r.ServerCPUPerRequest())
	if !r.Valid() {
		s += "  INVALID: " + r.Problem()
	}
	return s
}
