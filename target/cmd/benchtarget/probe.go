package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

const (
	// sourceAttempts is how many responses the path check reads: with the
	// in-process cache on, one read a second per key refreshes from Redis,
	// so a single "redis" among "memory" answers is expected.
	sourceAttempts = 3
	// sourceHeader names where flagserver's answer came from.
	sourceHeader = "X-Flag-Source"
	// readsMetric counts flagserver's reads by source.
	readsMetric = "flagserver_reads_total"
	// fallbacksMetric counts flagserver's reads that went to the
	// database, by reason.
	fallbacksMetric = "flagserver_db_fallbacks_total"
)

// checkPath proves that url is answered by the intended path: for
// flagserver (want != "") the X-Flag-Source header is want, within
// sourceAttempts responses; for a reference handler the body is
// benchkit.HelloBody.
func checkPath(ctx context.Context, pr *benchkit.Prober, url, want string) error {
	var got []string
	for range sourceAttempts {
		status, hdr, body, err := pr.Get(ctx, url)
		if err != nil {
			return fmt.Errorf("check %s: %w", url, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("check %s: status %d: %s", url, status, body)
		}
		if want == "" {
			if string(body) != benchkit.HelloBody {
				return fmt.Errorf("check %s: unexpected body %q", url, body)
			}
			return nil
		}
		src := hdr.Get(sourceHeader)
		if src == want {
			return nil
		}
		got = append(got, strconv.Quote(src))
	}
	return fmt.Errorf("check %s: %s is %s, want %q: the intended path is not the one measured",
		url, sourceHeader, strings.Join(got, ", then "), want)
}

// counters are flagserver's read counters at one moment.
type counters struct {
	sources   map[string]float64 // flagserver_reads_total by source
	fallbacks map[string]float64 // flagserver_db_fallbacks_total by reason
}

// scrapeCounters scrapes flagserver's /metrics for its read counters.
func scrapeCounters(ctx context.Context, pr *benchkit.Prober, base string) (counters, error) {
	status, _, body, err := pr.Get(ctx, base+"/metrics")
	if err != nil {
		return counters{}, fmt.Errorf("scrape %s/metrics: %w", base, err)
	}
	if status != http.StatusOK {
		return counters{}, fmt.Errorf("scrape %s/metrics: status %d", base, status)
	}
	return parseCounters(string(body))
}

// parseCounters reads the read counters from a Prometheus text exposition.
func parseCounters(text string) (counters, error) {
	c := counters{
		sources:   samples(text, readsMetric, "source"),
		fallbacks: samples(text, fallbacksMetric, "reason"),
	}
	if len(c.sources) == 0 {
		return counters{}, fmt.Errorf("no %s samples in flagserver's metrics", readsMetric)
	}
	return c, nil
}

// samples returns the values of metric's samples that have label as their
// only label, keyed by the label's value. Samples of other shapes are
// ignored.
func samples(text, metric, label string) map[string]float64 {
	m := map[string]float64{}
	prefix := metric + "{" + label + `="`
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		v, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseFloat(f[0], 64); err == nil {
			m[v] = n
		}
	}
	return m
}

// delta is how many reads each source answered between two scrapes.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for src, v := range after {
		if n := v - before[src]; n > 0 {
			d[src] = n
		}
	}
	return d
}

// share is the fraction of reads that source answered; NaN when there
// were none.
func share(reads map[string]float64, source string) float64 {
	var total float64
	for _, v := range reads {
		total += v
	}
	if total <= 0 {
		return math.NaN()
	}
	return reads[source] / total
}

// others describes the reads not answered by source, largest first, like
// "db-fallback 26.92 %, db 0.01 %"; "" when there are none.
func others(reads map[string]float64, source string) string {
	return describe(reads, source, func(src string) string { return pct(share(reads, src)) })
}

// counts describes counts, largest first, like "circuit_open 2410,
// cache_error 5"; "" when there are none.
func counts(m map[string]float64) string {
	return describe(m, "", func(k string) string { return strconv.FormatFloat(m[k], 'f', -1, 64) })
}

// describe lists the keys of m except skip, largest value first, each
// followed by format(key).
func describe(m map[string]float64, skip string, format func(string) string) string {
	var keys []string
	for k := range m {
		if k != skip {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+format(k))
	}
	return strings.Join(parts, ", ")
}

// redisCommands is how many commands Redis has executed since it started,
// from INFO commandstats (the INFO asking counts once it is done).
func redisCommands(ctx context.Context, addr string) (int64, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "INFO commandstats\r\n"); err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	rd := bufio.NewReader(conn)
	head, err := rd.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 {
		return 0, fmt.Errorf("redis INFO: unexpected reply %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	return parseCommandStats(string(body))
}

// parseCommandStats sums the calls of every "cmdstat_<name>:calls=N,..."
// line of INFO commandstats.
func parseCommandStats(info string) (int64, error) {
	var total int64
	for line := range strings.Lines(info) {
		_, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(stats, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil || !strings.HasPrefix(stats, "calls=") {
			return 0, fmt.Errorf("redis INFO: unexpected line %q", strings.TrimSpace(line))
		}
		total += n
	}
	return total, nil
}

// redisReady is a readiness check for redis-server: PING answers +PONG.
func redisReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) != "+PONG" {
			return errors.New("redis answered " + strconv.Quote(line))
		}
		return nil
	}
}
