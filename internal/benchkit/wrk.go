package benchkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// doneScript is wrk's Lua done hook: it prints, on one line that
// ParseWrk finds by its prefix, the exact figures wrk's own summary rounds
// (percentiles in microseconds straight from wrk's histogram). wrk counts
// a response with a status >= 400 in errors.status (its "Non-2xx or 3xx
// responses").
const doneScript = `-- written by benchkit
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("` + DonePrefix + ` requests=%.0f duration_us=%.0f bytes=%.0f " ..
    "status_errors=%.0f connect_errors=%.0f read_errors=%.0f write_errors=%.0f timeouts=%.0f " ..
    "p50_us=%.0f p95_us=%.0f p99_us=%.0f max_us=%.0f\n",
    summary.requests, summary.duration, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
`

// DonePrefix starts the line doneScript prints (and [WrkResult.DoneLine]).
const DonePrefix = "benchkit-done:"

// Wrk runs the wrk load generator with the done script.
type Wrk struct {
	path   string
	script string // path of the done script
	// CPUs, when set, is the CPU list (taskset syntax, like "1-3") wrk is
	// confined to. Default "": any CPU.
	CPUs string
}

// NewWrk writes wrk's done script into dir; path is the wrk binary.
func NewWrk(path, dir string) (*Wrk, error) {
	script := filepath.Join(dir, "done.lua")
	if err := os.WriteFile(script, []byte(doneScript), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}
	return &Wrk{path: path, script: script}, nil
}

// WrkArgs is wrk's command line; duration is whole seconds.
func WrkArgs(threads, connections int, duration time.Duration, script, url string) []string {
	return []string{
		"-t" + strconv.Itoa(threads),
		"-c" + strconv.Itoa(connections),
		"-d" + strconv.Itoa(int(duration/time.Second)) + "s",
		"--latency",
		"-s", script,
		url,
	}
}

// Run runs wrk against url once, in its own process group (killed with
// its group when ctx ends or the run overruns by [GenSlack]), and parses
// its output. The process's accounting comes with the result.
func (w *Wrk) Run(ctx context.Context, threads, connections int, duration time.Duration, url string) (WrkResult, GenProc, error) {
	path, args := w.path, WrkArgs(threads, connections, duration, w.script, url)
	if w.CPUs != "" {
		path, args = Pinned(w.CPUs, path, args)
	}
	g, err := RunGenerator(ctx, path, args, ChildEnv(), duration+GenSlack, 0)
	if err == nil {
		err = g.ExitError()
	}
	if err != nil {
		return WrkResult{}, g, fmt.Errorf("wrk %s: %w", url, err)
	}
	res, err := ParseWrk(string(g.Stdout))
	if err != nil {
		return WrkResult{}, g, fmt.Errorf("wrk %s: %w", url, err)
	}
	return res, g, nil
}

// Version is the first words of "wrk -v", like "wrk 4.1.0 [epoll]".
// wrk exits with status 1 after printing it, so the status is ignored.
func (w *Wrk) Version(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, w.path, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	if line = strings.TrimSpace(line); line == "" {
		return "unknown"
	}
	return line
}

// WrkResult is one wrk run, as its done line reports it.
type WrkResult struct {
	Requests int64
	Duration time.Duration
	Bytes    int64
	// Status counts responses with a status >= 400 (wrk's "Non-2xx or
	// 3xx responses").
	Status                         int64
	Connect, Read, Write, Timeouts int64
	P50, P95, P99, Max             time.Duration
}

// RPS is requests per second over the run.
func (r WrkResult) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// SocketErrors counts connect, read and write errors and timeouts.
func (r WrkResult) SocketErrors() int64 { return r.Connect + r.Read + r.Write + r.Timeouts }

// Failed counts the requests that failed: error statuses and socket
// errors.
func (r WrkResult) Failed() int64 { return r.Status + r.SocketErrors() }

// Valid reports whether the run counts: requests were made, none was
// answered with an error status and no socket failed.
func (r WrkResult) Valid() bool { return r.Requests > 0 && r.Failed() == 0 }

// Problem says why an invalid run does not count; "" for a valid one.
func (r WrkResult) Problem() string {
	var p []string
	if r.Requests == 0 {
		p = append(p, "no requests")
	}
	if r.Status > 0 {
		p = append(p, fmt.Sprintf("%d non-2xx", r.Status))
	}
	if n := r.SocketErrors(); n > 0 {
		p = append(p, fmt.Sprintf("%d socket errors (connect %d, read %d, write %d, timeout %d)",
			n, r.Connect, r.Read, r.Write, r.Timeouts))
	}
	return strings.Join(p, ", ")
}

// DoneLine is the line the done script would print for r (durations in
// whole microseconds): other clients print it so that [ParseWrk] reads
// their results like wrk's.
func (r WrkResult) DoneLine() string {
	us := func(d time.Duration) int64 { return d.Microseconds() }
	return fmt.Sprintf("%s requests=%d duration_us=%d bytes=%d status_errors=%d connect_errors=%d read_errors=%d "+
		"write_errors=%d timeouts=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d", DonePrefix,
		r.Requests, us(r.Duration), r.Bytes, r.Status, r.Connect, r.Read, r.Write, r.Timeouts,
		us(r.P50), us(r.P95), us(r.P99), us(r.Max))
}

// ParseWrk reads the line the done script printed in wrk's output.
func ParseWrk(out string) (WrkResult, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), DonePrefix)
		if !ok {
			continue
		}
		return parseDoneLine(rest)
	}
	return WrkResult{}, fmt.Errorf("no %q line in wrk's output (did the done script run?)", DonePrefix)
}

func parseDoneLine(line string) (WrkResult, error) {
	var r WrkResult
	var p50, p95, p99, maxLat, dur int64 // microseconds
	fields := []struct {
		key string
		dst *int64
	}{
		{"requests", &r.Requests},
		{"duration_us", &dur},
		{"bytes", &r.Bytes},
		{"status_errors", &r.Status},
		{"connect_errors", &r.Connect},
		{"read_errors", &r.Read},
		{"write_errors", &r.Write},
		{"timeouts", &r.Timeouts},
		{"p50_us", &p50},
		{"p95_us", &p95},
		{"p99_us", &p99},
		{"max_us", &maxLat},
	}
	values := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			values[k] = v
		}
	}
	var errs []error
	for _, f := range fields {
		v, ok := values[f.key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s missing", f.key))
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s: want a non-negative integer, got %q", f.key, v))
			continue
		}
		*f.dst = n
	}
	if err := errors.Join(errs...); err != nil {
		return WrkResult{}, fmt.Errorf("wrk done line %q: %w", line, err)
	}
	r.Duration = time.Duration(dur) * time.Microsecond
	r.P50 = time.Duration(p50) * time.Microsecond
	r.P95 = time.Duration(p95) * time.Microsecond
	r.P99 = time.Duration(p99) * time.Microsecond
	r.Max = time.Duration(maxLat) * time.Microsecond
	return r, nil
}
