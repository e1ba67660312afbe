package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// Goals of issue 2.
const (
	goalMemoryRatio = 0.8                  // flag-memory req/s ≥ 0.8 × hello
	goalRedisRatio  = 0.9                  // flag-redis req/s ≥ 0.9 × redis-get
	goalP95         = 2 * time.Millisecond // p95 of flag-memory and flag-redis
	goalRSS         = 64 << 20             // flagserver's peak RSS, bytes
	// minShare is the share of reads the intended source must answer for
	// a run not to be flagged.
	minShare = 0.99
)

// measurement is one wrk run of a case.
type measurement struct {
	benchkit.WrkResult
	// source is the X-Flag-Source the case measures; "" for a reference
	// handler.
	source string
	// share is the fraction of flagserver's reads during the run that
	// source answered (flagserver_reads_total); NaN when none was counted,
	// unused for a reference handler.
	share float64
	// reads are flagserver's reads during the run, by source.
	reads map[string]float64
	// fallbacks are flagserver's reads during the run that went to the
	// database, by reason (miss, cache_error, circuit_open, ...).
	fallbacks map[string]float64
	// redisCommands is how many commands Redis executed during the run.
	redisCommands int64
	// cpu is the CPU time the server under test used during the run.
	cpu time.Duration
}

// cpuPerRequest is the server's CPU time per completed request, in µs.
func (m measurement) cpuPerRequest() float64 {
	if m.Requests == 0 {
		return 0
	}
	return float64(m.cpu) / float64(time.Microsecond) / float64(m.Requests)
}

// commandsPerRequest is Redis commands per completed request.
func (m measurement) commandsPerRequest() float64 {
	if m.Requests == 0 {
		return 0
	}
	return float64(m.redisCommands) / float64(m.Requests)
}

func (m measurement) String() string {
	s := fmt.Sprintf("%8.0f req/s  p95 %s  p99 %s  CPU %.1f µs/req  %.3f Redis cmds/req",
		m.RPS(), benchkit.Ms(m.P95), benchkit.Ms(m.P99), m.cpuPerRequest(), m.commandsPerRequest())
	if m.source != "" {
		s += "  " + m.source + " " + pct(m.share)
		if o := others(m.reads, m.source); o != "" {
			s += " (" + o + ")"
		}
		if f := counts(m.fallbacks); f != "" {
			s += "; database reads: " + f
		}
	}
	if !m.Valid() {
		s += "  INVALID: " + m.Problem()
	}
	return s
}

// caseResult is a case and its runs, one per round.
type caseResult struct {
	benchCase
	runs []measurement
}

func (c *caseResult) valid() []measurement {
	var v []measurement
	for _, m := range c.runs {
		if m.Valid() {
			v = append(v, m)
		}
	}
	return v
}

// median of f over the valid runs; false when there is none.
func (c *caseResult) median(f func(measurement) float64) (float64, bool) {
	return benchkit.MedianOf(c.runs, f)
}

func (c *caseResult) rps() (float64, bool) {
	return c.median(func(m measurement) float64 { return m.RPS() })
}

func (c *caseResult) p95() (time.Duration, bool) {
	v, ok := c.median(func(m measurement) float64 { return float64(m.P95) })
	return time.Duration(v), ok
}

func (c *caseResult) p99() (time.Duration, bool) {
	v, ok := c.median(func(m measurement) float64 { return float64(m.P99) })
	return time.Duration(v), ok
}

// worst is the run in which the intended source answered the smallest
// share of the reads (a run that counted none is worst of all).
func (c *caseResult) worst() measurement {
	var w measurement
	for i, m := range c.runs {
		if i == 0 || math.IsNaN(m.share) || m.share < w.share {
			w = m
		}
		if math.IsNaN(m.share) {
			break
		}
	}
	return w
}

// rssResult is the peak RSS of one server process.
type rssResult struct {
	name       string
	bytes      int64
	err        error
	flagserver bool
}

// report is what a benchmark invocation found, and where.
type report struct {
	cfg        config
	setup      benchkit.Setup
	flagserver string // the binary, its Go version and commit
	wrkVersion string
	wrkCommand string
	// loadStart and loadEnd are /proc/loadavg's 1, 5 and 15-minute load
	// averages before the servers start and after the last run: other
	// work on the machine shows here.
	loadStart, loadEnd string
	cases              []*caseResult
	rss                []rssResult
}

func newReport(cfg config, command, wrkVersion string, cases []*caseResult) *report {
	return &report{
		cfg:        cfg,
		setup:      benchkit.NewSetup(command),
		flagserver: benchkit.DescribeBinary(cfg.Flagserver),
		wrkVersion: wrkVersion,
		wrkCommand: "wrk " + strings.Join(benchkit.WrkArgs(cfg.Threads, cfg.Connections, cfg.Duration, "done.lua", "URL"), " "),
		loadEnd:    benchkit.LoadAvg(),
		cases:      cases,
	}
}

func (r *report) lookup(name string) *caseResult {
	for _, c := range r.cases {
		if c.name == name {
			return c
		}
	}
	return nil
}

// ratio is the ratio of two cases' median req/s.
func (r *report) ratio(num, den string) (float64, bool) {
	n, d := r.lookup(num), r.lookup(den)
	if n == nil || d == nil {
		return 0, false
	}
	return benchkit.RPSRatio(n.runs, d.runs)
}

// ratios are the ratios reported; goal 0 means informative.
var ratios = []struct {
	num, den string
	goal     float64
}{
	{"flag-memory", "hello", goalMemoryRatio},
	{"list-memory", "hello", 0},
	{"flag-redis", "redis-get", goalRedisRatio},
	{"list-redis", "redis-get", 0},
}

func (r *report) verdicts() []benchkit.Verdict {
	var vs []benchkit.Verdict
	for _, q := range ratios {
		if q.goal == 0 {
			continue
		}
		v := benchkit.Verdict{Goal: fmt.Sprintf("%s req/s ≥ %.1f × %s", q.num, q.goal, q.den), Got: "no valid run"}
		if x, ok := r.ratio(q.num, q.den); ok {
			v.Pass, v.Got = x >= q.goal, fmt.Sprintf("%.2f×", x)
		}
		vs = append(vs, v)
	}
	// Each p95 is shown next to its reference's, which says how much of
	// it the machine and net/http cost before flagserver does anything.
	for _, q := range []struct{ name, ref string }{{"flag-memory", "hello"}, {"flag-redis", "redis-get"}} {
		v := benchkit.Verdict{Goal: fmt.Sprintf("%s p95 ≤ %s", q.name, benchkit.Ms(goalP95)), Got: "no valid run"}
		if c := r.lookup(q.name); c != nil {
			if p, ok := c.p95(); ok {
				v.Pass, v.Got = p <= goalP95, benchkit.Ms(p)
			}
		}
		if ref := r.lookup(q.ref); ref != nil && v.Got != "no valid run" {
			if p, ok := ref.p95(); ok {
				v.Got += fmt.Sprintf(" (%s: %s)", q.ref, benchkit.Ms(p))
			}
		}
		vs = append(vs, v)
	}
	v := benchkit.Verdict{Goal: fmt.Sprintf("flagserver peak RSS ≤ %s", benchkit.MiB(goalRSS)), Pass: true}
	var got []string
	for _, x := range r.rss {
		if !x.flagserver {
			continue
		}
		if x.err != nil {
			v.Pass = false
			got = append(got, fmt.Sprintf("%s: %v", x.name, x.err))
			continue
		}
		v.Pass = v.Pass && x.bytes <= goalRSS
		got = append(got, fmt.Sprintf("%s (%s)", benchkit.MiB(x.bytes), x.name))
	}
	if len(got) == 0 {
		v.Pass, got = false, []string{"not measured"}
	}
	v.Got = strings.Join(got, ", ")
	return append(vs, v)
}

func (r *report) markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	r.setup.WriteHead(w)
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end |", r.loadStart, r.loadEnd)
	p("| Go | %s |", r.setup.GoVersion)
	p("| flagserver | %s |", r.flagserver)
	p("| wrk | %s: `%s`; %d round(s), the cases alternated round-robin |", r.wrkVersion, r.wrkCommand, r.cfg.Rounds)
	pin := "none: wrk, the servers and redis-server share every CPU"
	if r.cfg.Pin {
		pin = "servers and redis-server on CPU 0, wrk on the others (`-pin`, taskset)"
	}
	p("| CPU pinning | %s |", pin)
	p("")
	p("### Results (medians over valid runs)")
	p("")
	p("| case | what | req/s | p95 | p99 | server CPU/req | Redis cmds/req | valid runs | req/s by round | intended path |")
	p("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
	var invalid, offPath []string
	for _, c := range r.cases {
		rps, p95, p99, cpu, cmds := "—", "—", "—", "—", "—"
		if v, ok := c.rps(); ok {
			rps = fmt.Sprintf("%.0f", v)
		}
		if v, ok := c.p95(); ok {
			p95 = benchkit.Ms(v)
		}
		if v, ok := c.p99(); ok {
			p99 = benchkit.Ms(v)
		}
		if v, ok := c.median(measurement.cpuPerRequest); ok {
			cpu = fmt.Sprintf("%.1f µs", v)
		}
		if v, ok := c.median(measurement.commandsPerRequest); ok {
			cmds = fmt.Sprintf("%.3f", v)
		}
		rounds, problems := benchkit.Rounds(c.runs)
		for _, s := range problems {
			invalid = append(invalid, c.name+", "+s)
		}
		path := "reference (body checked)"
		if c.source != "" && len(c.runs) > 0 {
			w := c.worst()
			path = fmt.Sprintf("`%s` %s", c.source, pct(w.share))
			if o := others(w.reads, c.source); o != "" {
				path += " (" + o + ")"
			}
			if f := counts(w.fallbacks); f != "" {
				path += "; database reads by reason: " + f
			}
			if math.IsNaN(w.share) || w.share < minShare {
				path += " ⚠"
				offPath = append(offPath, c.name)
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %d/%d | %s | %s |", c.name, c.what, rps, p95, p99, cpu, cmds,
			len(c.valid()), len(c.runs), rounds, path)
	}
	p("")
	p("Intended path: before measuring, each flagserver case answered with that `X-Flag-Source` after warm-up; " +
		"the figure is the lowest share, over the rounds, of the reads counted by `flagserver_reads_total` during a run " +
		"that came from it (other sources of that run in brackets). " +
		"Server CPU/req: user + system CPU time of the server process under test during a run " +
		"(`/proc/<pid>/stat`, 10 ms ticks) per request wrk completed; less sensitive to the machine's noise than req/s. " +
		"Redis cmds/req: commands Redis executed during a run (`INFO commandstats`) per request wrk completed.")
	if len(offPath) > 0 {
		p("")
		p("⚠ Off the intended path in at least one run (less than %.0f %% of its reads): %s. "+
			"Those figures measure partly another path.", 100*minShare, strings.Join(offPath, ", "))
	}
	benchkit.WriteInvalid(p, invalid)
	p("")
	p("### Ratios (median req/s)")
	p("")
	p("| ratio | value | goal |")
	p("|---|---:|---|")
	for _, q := range ratios {
		val, goal := "—", "informative"
		if x, ok := r.ratio(q.num, q.den); ok {
			val = fmt.Sprintf("%.2f", x)
		}
		if q.goal > 0 {
			goal = fmt.Sprintf("≥ %.1f", q.goal)
		}
		p("| %s / %s | %s | %s |", q.num, q.den, val, goal)
	}
	p("")
	p("### Peak RSS (VmHWM at the end)")
	p("")
	p("| process | peak RSS |")
	p("|---|---:|")
	for _, x := range r.rss {
		v := benchkit.MiB(x.bytes)
		if x.err != nil {
			v = x.err.Error()
		}
		p("| %s | %s |", x.name, v)
	}
	p("")
	benchkit.WriteGoals(w, r.verdicts())
}

func pct(x float64) string {
	switch {
	case math.IsNaN(x):
		return "no reads counted"
	case x > 0 && x < 0.0001:
		return "< 0.01 %"
	case x > 0.9999 && x < 1:
		return "> 99.99 %"
	}
	return fmt.Sprintf("%.2f %%", 100*x)
}
