package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
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
	wrkResult
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
		m.RPS(), ms(m.P95), ms(m.P99), m.cpuPerRequest(), m.commandsPerRequest())
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
	var xs []float64
	for _, m := range c.valid() {
		xs = append(xs, f(m))
	}
	return median(xs)
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
	command    string
	date       time.Time
	nproc      int
	cpu        string
	ram        string
	goVersion  string
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

func newReport(cfg config, command, wrkVersion string, w *wrk, cases []*caseResult) *report {
	r := &report{
		cfg:        cfg,
		command:    command,
		date:       time.Now().UTC(),
		nproc:      runtime.NumCPU(),
		cpu:        cpuModel(),
		ram:        memTotal(),
		goVersion:  runtime.Version(),
		wrkVersion: wrkVersion,
		wrkCommand: "wrk " + strings.Join(w.args("URL"), " "),
		loadEnd:    loadAvg(),
		cases:      cases,
	}
	r.wrkCommand = strings.Replace(r.wrkCommand, w.script, "done.lua", 1)
	r.flagserver = describeBinary(cfg.Flagserver)
	return r
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
	a, ok1 := n.rps()
	b, ok2 := d.rps()
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return a / b, true
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

// verdict is one goal's outcome.
type verdict struct {
	goal string
	pass bool
	got  string
}

func (r *report) verdicts() []verdict {
	var vs []verdict
	for _, q := range ratios {
		if q.goal == 0 {
			continue
		}
		v := verdict{goal: fmt.Sprintf("%s req/s ≥ %.1f × %s", q.num, q.goal, q.den), got: "no valid run"}
		if x, ok := r.ratio(q.num, q.den); ok {
			v.pass, v.got = x >= q.goal, fmt.Sprintf("%.2f×", x)
		}
		vs = append(vs, v)
	}
	// Each p95 is shown next to its reference's, which says how much of
	// it the machine and net/http cost before flagserver does anything.
	for _, q := range []struct{ name, ref string }{{"flag-memory", "hello"}, {"flag-redis", "redis-get"}} {
		v := verdict{goal: fmt.Sprintf("%s p95 ≤ %s", q.name, ms(goalP95)), got: "no valid run"}
		if c := r.lookup(q.name); c != nil {
			if p, ok := c.p95(); ok {
				v.pass, v.got = p <= goalP95, ms(p)
			}
		}
		if ref := r.lookup(q.ref); ref != nil && v.got != "no valid run" {
			if p, ok := ref.p95(); ok {
				v.got += fmt.Sprintf(" (%s: %s)", q.ref, ms(p))
			}
		}
		vs = append(vs, v)
	}
	v := verdict{goal: fmt.Sprintf("flagserver peak RSS ≤ %s", mib(goalRSS)), pass: true}
	var got []string
	for _, x := range r.rss {
		if !x.flagserver {
			continue
		}
		if x.err != nil {
			v.pass = false
			got = append(got, fmt.Sprintf("%s: %v", x.name, x.err))
			continue
		}
		v.pass = v.pass && x.bytes <= goalRSS
		got = append(got, fmt.Sprintf("%s (%s)", mib(x.bytes), x.name))
	}
	if len(got) == 0 {
		v.pass, got = false, []string{"not measured"}
	}
	v.got = strings.Join(got, ", ")
	return append(vs, v)
}

func (r *report) passed() bool {
	for _, v := range r.verdicts() {
		if !v.pass {
			return false
		}
	}
	return true
}

// write prints the Markdown report to stdout and, if file is set, to file.
func (r *report) write(stdout io.Writer, file string) error {
	var b bytes.Buffer
	r.markdown(&b)
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return err
	}
	if file != "" {
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("-markdown: %w", err)
		}
	}
	return nil
}

func (r *report) markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("### Setup")
	p("")
	p("| | |")
	p("|---|---|")
	p("| command | `%s` |", r.command)
	p("| date | %s |", r.date.Format("2006-01-02 15:04 MST"))
	p("| machine | nproc %d, %s, %s RAM |", r.nproc, r.cpu, r.ram)
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end |", r.loadStart, r.loadEnd)
	p("| Go | %s |", r.goVersion)
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
			p95 = ms(v)
		}
		if v, ok := c.p99(); ok {
			p99 = ms(v)
		}
		if v, ok := c.median(measurement.cpuPerRequest); ok {
			cpu = fmt.Sprintf("%.1f µs", v)
		}
		if v, ok := c.median(measurement.commandsPerRequest); ok {
			cmds = fmt.Sprintf("%.3f", v)
		}
		var rounds []string
		for i, m := range c.runs {
			s := fmt.Sprintf("%.0f", m.RPS())
			if !m.Valid() {
				s = "~~" + s + "~~"
				invalid = append(invalid, fmt.Sprintf("%s, round %d: %s", c.name, i+1, m.Problem()))
			}
			rounds = append(rounds, s)
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
			len(c.valid()), len(c.runs), strings.Join(rounds, " · "), path)
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
	if len(invalid) > 0 {
		p("")
		p("Invalid runs (struck through, left out of the medians):")
		for _, s := range invalid {
			p("- %s", s)
		}
	}
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
		v := mib(x.bytes)
		if x.err != nil {
			v = x.err.Error()
		}
		p("| %s | %s |", x.name, v)
	}
	p("")
	p("### Goals")
	p("")
	p("| goal | verdict | measured |")
	p("|---|---|---|")
	for _, v := range r.verdicts() {
		verdict := "FAIL"
		if v.pass {
			verdict = "PASS"
		}
		p("| %s | **%s** | %s |", v.goal, verdict, v.got)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

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

// describeBinary names a Go binary with the Go version and the commit it
// was built from (when the build recorded them).
func describeBinary(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return path
	}
	desc := fmt.Sprintf("%s (%s", path, bi.GoVersion)
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		desc += ", commit " + rev[:min(len(rev), 12)]
		if modified == "true" {
			desc += " + uncommitted changes"
		}
	}
	return desc + ")"
}

// loadAvg is the 1, 5 and 15-minute load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	return procField("/proc/cpuinfo", "model name", func(v string) string { return v })
}

// memTotal is MemTotal of /proc/meminfo, in GiB.
func memTotal() string {
	return procField("/proc/meminfo", "MemTotal", func(v string) string {
		kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		if err != nil {
			return v
		}
		return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	})
}

// procField finds the first "key : value" line of a /proc file.
func procField(path, key string, format func(string) string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return format(strings.TrimSpace(v))
		}
	}
	return "unknown"
}
