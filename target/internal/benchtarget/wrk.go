package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// doneScript is wrk's Lua done hook: it prints, on one line that
// parseWrk finds by its prefix, the exact figures wrk's own summary rounds
// (percentiles in microseconds straight from wrk's histogram). wrk counts
// a response with a status >= 400 in errors.status (its "Non-2xx or 3xx
// responses").
const doneScript = `-- written by benchtarget
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("` + donePrefix + ` requests=%.0f duration_us=%.0f bytes=%.0f " ..
    "status_errors=%.0f connect_errors=%.0f read_errors=%.0f write_errors=%.0f timeouts=%.0f " ..
    "p50_us=%.0f p95_us=%.0f p99_us=%.0f max_us=%.0f\n",
    summary.requests, summary.duration, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
`

// donePrefix starts the line doneScript prints.
const donePrefix = "benchtarget-done:"

// wrkSlack is how long a wrk run may take beyond its -d duration before
// it is killed (thread start, the last requests' timeouts, the report).
const wrkSlack = 30 * time.Second

// wrk runs the wrk load generator.
type wrk struct {
	path        string
	script      string // path of the done script
	threads     int
	connections int
	duration    time.Duration // whole seconds
	cpus        string        // CPU list wrk is confined to; "": any
}

// newWrk writes wrk's done script into dir.
func newWrk(path, dir string, threads, connections int, duration time.Duration) (*wrk, error) {
	script := filepath.Join(dir, "done.lua")
	if err := os.WriteFile(script, []byte(doneScript), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}
	return &wrk{path: path, script: script, threads: threads, connections: connections, duration: duration}, nil
}

// args is wrk's command line for url.
func (w *wrk) args(url string) []string {
	return []string{
		"-t" + strconv.Itoa(w.threads),
		"-c" + strconv.Itoa(w.connections),
		"-d" + strconv.Itoa(int(w.duration/time.Second)) + "s",
		"--latency",
		"-s", w.script,
		url,
	}
}

// run runs wrk against url once, in its own process group (killed with
// its group when ctx ends or the run overruns), and parses its output.
func (w *wrk) run(ctx context.Context, url string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, w.duration+wrkSlack)
	defer cancel()
	path, args := w.path, w.args(url)
	if w.cpus != "" {
		path, args = pinned(w.cpus, path, args)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, fmt.Errorf("wrk %s stopped: %w", url, context.Cause(ctx))
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	res, err := parseWrk(stdout.String())
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w", url, err)
	}
	return res, nil
}

// wrkVersion is the first words of "wrk -v", like "wrk 4.1.0 [epoll]".
// wrk exits with status 1 after printing it, so the status is ignored.
func wrkVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	if line = strings.TrimSpace(line); line == "" {
		return "unknown"
	}
	return line
}

// wrkResult is one wrk run.
type wrkResult struct {
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
func (r wrkResult) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

// SocketErrors counts connect, read and write errors and timeouts.
func (r wrkResult) SocketErrors() int64 { return r.Connect + r.Read + r.Write + r.Timeouts }

// Valid reports whether the run counts: requests were made, none was
// answered with an error status and no socket failed.
func (r wrkResult) Valid() bool { return r.Requests > 0 && r.Status == 0 && r.SocketErrors() == 0 }

// Problem says why an invalid run does not count; "" for a valid one.
func (r wrkResult) Problem() string {
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

// parseWrk reads the line doneScript printed in wrk's output.
func parseWrk(out string) (wrkResult, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), donePrefix)
		if !ok {
			continue
		}
		return parseDoneLine(rest)
	}
	return wrkResult{}, fmt.Errorf("no %q line in wrk's output (did the done script run?)", donePrefix)
}

func parseDoneLine(line string) (wrkResult, error) {
	var r wrkResult
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
		return wrkResult{}, fmt.Errorf("wrk done line %q: %w", line, err)
	}
	r.Duration = time.Duration(dur) * time.Microsecond
	r.P50 = time.Duration(p50) * time.Microsecond
	r.P95 = time.Duration(p95) * time.Microsecond
	r.P99 = time.Duration(p99) * time.Microsecond
	r.Max = time.Duration(maxLat) * time.Microsecond
	return r, nil
}
