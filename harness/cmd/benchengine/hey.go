package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// hey runs the hey load generator.
type hey struct {
	path string
}

// heyArgs is hey's command line: connections workers for duration, no
// rate limit, keep-alive (hey's defaults).
func heyArgs(connections int, duration time.Duration, url string) []string {
	return []string{"-c", strconv.Itoa(connections), "-z", duration.String(), url}
}

// run runs hey against url once and parses its output.
func (h *hey) run(ctx context.Context, connections int, duration time.Duration, url string) (result, error) {
	g, err := benchkit.RunGenerator(ctx, h.path, heyArgs(connections, duration, url), benchkit.ChildEnv(), duration+benchkit.GenSlack, 0)
	if err == nil {
		err = g.ExitError()
	}
	if err != nil {
		return result{}, fmt.Errorf("hey %s: %w", url, err)
	}
	res, err := parseHey(string(g.Stdout))
	if err != nil {
		return result{}, fmt.Errorf("hey %s: %w", url, err)
	}
	res.Proc = g
	return res, nil
}

// heyVersion is the Debian package's version: hey has no version flag.
func heyVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", "hey").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return "hey " + v + " (Debian package)"
	}
	return "hey (version unknown)"
}

// parseHey reads hey's text report: "Total:" (the run's length),
// "Latency distribution:" (0.1 ms resolution), "Status code
// distribution:" and "Error distribution:". Requests counts responses
// and errors, as hey's own Requests/sec does; Failed counts errors and
// statuses outside 200-399.
func parseHey(out string) (result, error) {
	var r result
	var haveTotal bool
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasSuffix(line, ":") && !strings.HasPrefix(line, "["):
			section = line
			continue
		}
		var err error
		switch section {
		case "Summary:":
			if rest, ok := strings.CutPrefix(line, "Total:"); ok {
				r.Duration, err = heySeconds(rest)
				haveTotal = err == nil
			}
		case "Latency distribution:":
			err = heyPercentile(line, &r)
		case "Status code distribution:":
			var code, n int64
			code, n, err = heyCount(line, "responses")
			if err == nil {
				r.Requests += n
				if code < 200 || code >= 400 {
					r.Failed += n
				}
			}
		case "Error distribution:":
			var n int64
			n, _, err = heyCount(line, "")
			r.Requests += n
			r.Failed += n
		}
		if err != nil {
			return result{}, fmt.Errorf("hey output, %s line %q: %w", strings.TrimSuffix(section, ":"), line, err)
		}
	}
	if !haveTotal {
		return result{}, errors.New(`no "Total:" line in hey's output`)
	}
	return r, nil
}

// heySeconds parses "3.0024 secs".
func heySeconds(s string) (time.Duration, error) {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), " secs")
	if !ok {
		return 0, errors.New(`want "N secs"`)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, fmt.Errorf("want a number of seconds, got %q", v)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

// heyPercentile parses "50% in 0.0010 secs" into r's P50, P95 or P99.
func heyPercentile(line string, r *result) error {
	p, rest, ok := strings.Cut(line, "% in ")
	if !ok {
		return errors.New(`want "N% in T secs"`)
	}
	d, err := heySeconds(rest)
	if err != nil {
		return err
	}
	switch p {
	case "50":
		r.P50 = d
	case "95":
		r.P95 = d
	case "99":
		r.P99 = d
	}
	return nil
}

// heyCount parses "[200]\t129443 responses" (code, count) and
// "[56630]\tGet ...: error" (count first, then the message).
func heyCount(line, suffix string) (int64, int64, error) {
	inner, rest, ok := strings.Cut(strings.TrimPrefix(line, "["), "]")
	if !ok || !strings.HasPrefix(line, "[") {
		return 0, 0, errors.New("want [N]")
	}
	first, err := strconv.ParseInt(inner, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, fmt.Errorf("want a number in brackets, got %q", inner)
	}
	if suffix == "" {
		return first, 0, nil
	}
	v, ok := strings.CutSuffix(strings.TrimSpace(rest), " "+suffix)
	if !ok {
		return 0, 0, fmt.Errorf("want \"[N] M %s\"", suffix)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("want a count, got %q", v)
	}
	return first, n, nil
}
