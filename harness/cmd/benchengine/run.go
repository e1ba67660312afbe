package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// part is one of the benchmark's three measurements.
type part uint8

// The parts, in the order they run.
const (
	partThroughput part = iota + 1
	partAccuracy
	partMemory
	// partClients is opt-in (-only clients): flagstorm's cost taken
	// apart, engine and HTTP client loops next to wrk; for profiling.
	partClients
)

var partNames = [...]string{partThroughput: "throughput", partAccuracy: "accuracy", partMemory: "memory", partClients: "clients"}

func (p part) String() string {
	if p >= partThroughput && p <= partClients {
		return partNames[p]
	}
	return fmt.Sprintf("part(%d)", uint8(p))
}

// parsePart parses "throughput", "accuracy", "memory" or "clients".
func parsePart(s string) (part, error) {
	for p := partThroughput; p <= partClients; p++ {
		if partNames[p] == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown part %q (want throughput, accuracy, memory or clients)", s)
}

// parseParts parses a comma-separated list of parts.
func parseParts(s string) (map[part]bool, error) {
	set := map[part]bool{}
	var errs []error
	for f := range strings.SplitSeq(s, ",") {
		p, err := parsePart(strings.TrimSpace(f))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set[p] = true
	}
	return set, errors.Join(errs...)
}

// config is the command line.
type config struct {
	// Duration of each throughput run; whole seconds, at least 1 s.
	// Default 10s.
	Duration time.Duration
	// Connections: wrk's connections, hey's workers and flagstorm's VUs
	// in the throughput runs. Default 50.
	Connections int
	// Threads of wrk. Default 2.
	Threads int
	// Rounds: each throughput case runs once per round, round-robin.
	// Default 3.
	Rounds int

	// AccuracyVUs is flagstorm's (and the wrk reference's) concurrency in
	// the accuracy runs. Default 5.
	AccuracyVUs int
	// AccuracyDuration is the length of each accuracy run; whole seconds.
	// Default 10s.
	AccuracyDuration time.Duration
	// Latency is the downstream latency toxic of the accuracy runs; whole
	// milliseconds. Default 100ms.
	Latency time.Duration
	// Tolerance is the accuracy goal: |p50 with the toxic − (Latency + p50
	// without)| ≤ Tolerance. Default 2ms.
	Tolerance time.Duration

	// MemoryRate is the arrival rate (per second) of the memory runs.
	// Default 2000.
	MemoryRate int
	// MemoryShort is the short memory run. Default 1m.
	MemoryShort time.Duration
	// MemoryLong makes the long memory run 10 × MemoryShort (the goal's
	// comparison); default false: 2 × MemoryShort, a quicker check.
	MemoryLong bool

	// Parts to run; default throughput, accuracy and memory (clients is
	// opt-in).
	Parts map[part]bool
	// Markdown is a file the report is also written to; empty: none.
	Markdown string
	// Strict makes a failed goal exit with status 1. Default false: a
	// failed goal is reported, not an error.
	Strict bool
	// Flagstorm and Flagserver are the binaries; default bin/flagstorm and
	// bin/flagserver (make build).
	Flagstorm, Flagserver string
}

// memoryLong is the long memory run's duration.
func (c config) memoryLong() time.Duration {
	if c.MemoryLong {
		return 10 * c.MemoryShort
	}
	return 2 * c.MemoryShort
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// run is the command; it returns the exit status: 0 done, 1 failed (or a
// goal failed under -strict), 2 usage or a missing tool, 130 interrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if benchkit.Mode(args, "-serve") {
		return serve(ctx, args[1:], stderr)
	}
	if benchkit.Mode(args, "-client-loop") {
		return clientLoop(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		var rep *report
		rep, err = bench(ctx, cfg, benchkit.CommandLine(args, "./harness/cmd/benchengine"), stderr)
		if err == nil {
			err = benchkit.Publish(stdout, cfg.Markdown, rep.markdown, cfg.Strict, rep.verdicts())
		}
	}
	var ue benchkit.UsageError
	if err != nil && !errors.As(err, &ue) && ctx.Err() != nil {
		fmt.Fprintf(stderr, "benchengine: interrupted; every child process was stopped (%v)\n", err)
		return exitInterrupted
	}
	return benchkit.ExitStatus(stderr, "benchengine", err)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("benchengine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of each throughput run (whole seconds)")
	fs.IntVar(&c.Connections, "connections", 50, "wrk connections, hey workers and flagstorm VUs of the throughput runs")
	fs.IntVar(&c.Threads, "threads", 2, "wrk threads")
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds; each throughput case runs once per round, round-robin")
	fs.IntVar(&c.AccuracyVUs, "accuracy-vus", 5, "VUs (and wrk connections) of the accuracy runs")
	fs.DurationVar(&c.AccuracyDuration, "accuracy-duration", 10*time.Second, "length of each accuracy run (whole seconds)")
	fs.DurationVar(&c.Latency, "latency", 100*time.Millisecond, "downstream latency toxic of the accuracy runs (whole milliseconds)")
	fs.DurationVar(&c.Tolerance, "tolerance", 2*time.Millisecond, "accuracy goal: |p50 with toxic - (latency + p50 without)| <= tolerance")
	fs.IntVar(&c.MemoryRate, "memory-rate", 2000, "arrivals per second of the memory runs")
	fs.DurationVar(&c.MemoryShort, "memory-short", time.Minute, "length of the short memory run (whole seconds)")
	fs.BoolVar(&c.MemoryLong, "memory-long", false, "make the long memory run 10 x -memory-short (default: 2 x)")
	only := fs.String("only", "throughput,accuracy,memory", "comma-separated parts to run: throughput, accuracy, memory; clients (opt-in: flagstorm's cost taken apart)")
	fs.StringVar(&c.Markdown, "markdown", "", "also write the Markdown report to this file")
	fs.BoolVar(&c.Strict, "strict", false, "exit with status 1 when a goal fails")
	fs.StringVar(&c.Flagstorm, "flagstorm", filepath.Join("bin", "flagstorm"), "flagstorm binary (make build)")
	fs.StringVar(&c.Flagserver, "flagserver", filepath.Join("bin", "flagserver"), "flagserver binary (make build)")
	probs, err := benchkit.ParseFlags(fs, args)
	if err != nil {
		return c, err
	}
	parts, err := parseParts(*only)
	if err != nil {
		probs.Addf("-only: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	c.Parts = parts
	probs.WholeSeconds("duration", c.Duration)
	probs.WholeSeconds("accuracy-duration", c.AccuracyDuration)
	probs.WholeSeconds("memory-short", c.MemoryShort)
	probs.Threads(c.Threads, c.Connections)
	probs.AtLeastOne("rounds", c.Rounds)
	probs.AtLeastOne("accuracy-vus", c.AccuracyVUs)
	if c.Latency < time.Millisecond || c.Latency%time.Millisecond != 0 {
		probs.Addf("-latency: want whole milliseconds, at least 1ms, got %v", c.Latency)
	}
	if c.Tolerance <= 0 {
		probs.Addf("-tolerance: want > 0, got %v", c.Tolerance)
	}
	probs.AtLeastOne("memory-rate", c.MemoryRate)
	return c, probs.Err()
}
