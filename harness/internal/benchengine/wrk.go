package main

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
// parseWrk finds by its prefix, the exact figures wrk's own summary rounds
// (percentiles in microseconds straight from wrk's histogram). wrk counts
// a response with a status >= 400 in errors.status (its "Non-2xx or 3xx
// responses").
const doneScript = `-- written by benchengine
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
const donePrefix = "benchengine-done:"

// wrk runs the wrk load generator.
type wrk struct {
	path   string
	script string // path of the done script
}

// newWrk writes wrk's done script into dir.
func newWrk(path, dir string) (*wrk, error) {
	script := filepath.Join(dir, "done.lua")
	if err := os.WriteFile(script, []byte(doneScript), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}
	return &wrk{path: path, script: script}, nil
}

// wrkArgs is wrk's command line; duration is whole seconds.
func wrkArgs(threads, connections int, duration time.Duration, script, url string) []string {
	return []string{
		"-t" + strconv.Itoa(threads),
		"-c" + strconv.Itoa(connections),
		"-d" + strconv.Itoa(int(duration/time.Second)) + "s",
		"--latency",
		"-s", script,
		url,
	}
}

// run runs wrk against url once and parses its output.
func (w *wrk) run(ctx context.Context, threads, connections int, duration time.Duration, url string) (result, error) {
	g, err := runGenerator(ctx, w.path, wrkArgs(threads, connections, duration, w.script, url), childEnv(), duration+genSlack, 0)
	if err == nil && g.exitCode != 0 {
		err = fmt.Errorf("exit status %d: %s", g.exitCode, g.output())
	}
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w", url, err)
	}
	res, err := parseWrk(string(g.stdout))
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w", url, err)
	}
	res.Proc = g
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

// parseWrk reads the line doneScript printed in wrk's output. Failed
// counts wrk's non-2xx/3xx responses and its socket errors (connect,
// read, write, timeout).
func parseWrk(out string) (result, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), donePrefix)
		if !ok {
			continue
		}
		return parseDoneLine(rest)
	}
	return result{}, fmt.Errorf("no %q line in wrk's output (did the done script run?)", donePrefix)
}

func parseDoneLine(line string) (result, error) {
	var requests, dur, bytes, status, connect, read, write, timeouts, p50, p95, p99, maxLat int64
	fields := []struct {
		key string
		dst *int64
	}{
		{"requests", &requests},
		{"duration_us", &dur},
		{"bytes", &bytes},
		{"status_errors", &status},
		{"connect_errors", &connect},
		{"read_errors", &read},
		{"write_errors", &write},
		{"timeouts", &timeouts},
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
		return result{}, fmt.Errorf("wrk done line %q: %w", line, err)
	}
	return result{
		Requests: requests,
		Duration: time.Duration(dur) * time.Microsecond,
		Failed:   status + connect + read + write + timeouts,
		P50:      time.Duration(p50) * time.Microsecond,
		P95:      time.Duration(p95) * time.Microsecond,
		P99:      time.Duration(p99) * time.Microsecond,
		Max:      time.Duration(maxLat) * time.Microsecond,
	}, nil
}
