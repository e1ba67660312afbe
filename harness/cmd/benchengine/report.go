package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// partLoad is the load average when a part started.
type partLoad struct {
	part part
	load string
}

// report is what a benchmark invocation found, and where.
type report struct {
	cfg        config
	setup      benchkit.Setup
	flagstorm  string // the binary, its Go version and commit
	flagserver string
	wrkVersion string
	heyVersion string
	// loadStart and loadEnd are /proc/loadavg's 1, 5 and 15-minute load
	// averages before the servers start and after the last run; loads the
	// same at the start of each part. Other work on the machine shows
	// here.
	loadStart, loadEnd string
	loads              []partLoad

	throughput *throughputResult // nil when not run
	accuracy   *accuracyResult
	memory     *memoryResult
	clients    *clientsResult
}

func newReport(ctx context.Context, cfg config, command string, e *env) *report {
	r := &report{
		cfg:        cfg,
		setup:      benchkit.NewSetup(command),
		flagstorm:  benchkit.DescribeBinary(cfg.Flagstorm),
		flagserver: benchkit.DescribeBinary(cfg.Flagserver),
		loadStart:  benchkit.LoadAvg(),
	}
	if e.wrk != nil {
		r.wrkVersion = e.wrk.Version(ctx)
	}
	if e.hey != nil {
		r.heyVersion = heyVersion(ctx)
	}
	return r
}

func (r *report) verdicts() []benchkit.Verdict {
	var vs []benchkit.Verdict
	if t := r.throughput; t != nil {
		for _, ep := range t.endpoints {
			v := benchkit.Verdict{Goal: fmt.Sprintf("%s: flagstorm req/s ≥ %.1f × wrk", ep.name, goalThroughputRatio), Got: "no valid run"}
			if x, ok := t.ratio(ep.name, toolFlagstorm, toolWrk); ok {
				v.Pass, v.Got = x >= goalThroughputRatio, fmt.Sprintf("%.2f×", x)
			}
			vs = append(vs, v)
		}
	}
	if a := r.accuracy; a != nil {
		v := benchkit.Verdict{
			Goal: fmt.Sprintf("accuracy: \\|p50 with %v toxic − (%v + p50 without)\\| ≤ %v", a.latency, a.latency, a.tolerance),
			Pass: a.pass(),
			Got: fmt.Sprintf("%s − (%s + %s) = %s", benchkit.Ms(a.toxic.P50), benchkit.Ms(a.latency), benchkit.Ms(a.plain.P50),
				signedMs(a.deviation())),
		}
		vs = append(vs, v)
	}
	if m := r.memory; m != nil {
		v := benchkit.Verdict{
			Goal: fmt.Sprintf("memory: peak RSS of a %v run ≤ %.1f × a %v run's", m.longDur, goalMemoryRatio, m.shortDur),
			Pass: m.pass(),
			Got:  fmt.Sprintf("%s vs %s = %.2f×", benchkit.MiB(m.long.Proc.LastHWM), benchkit.MiB(m.short.Proc.LastHWM), m.ratio()),
		}
		if !m.goalLength {
			v.Goal += " (quick check; the goal compares 1 min with 10 min: -memory-long)"
		}
		vs = append(vs, v)
	}
	return vs
}

func (r *report) markdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	cfg := r.cfg
	r.setup.WriteHead(w)
	loads := []string{r.loadStart + " at the start"}
	for _, l := range r.loads {
		loads = append(loads, fmt.Sprintf("%s before %s", l.load, l.part))
	}
	loads = append(loads, r.loadEnd+" at the end")
	p("| load average (1, 5, 15 min) | %s |", strings.Join(loads, "; "))
	p("| Go | %s (benchmark); flagstorm %s |", r.setup.GoVersion, r.flagstorm)
	if r.throughput != nil {
		p("| flagserver | %s: SQLite in a temporary file, `SEED_FLAGS=100`, no Redis, `CACHE_PROFILE=hardened`, `LOG_LEVEL=warn` |", r.flagserver)
	}
	if r.wrkVersion != "" {
		p("| wrk | %s: `wrk %s` |", r.wrkVersion, strings.Join(benchkit.WrkArgs(cfg.Threads, cfg.Connections, cfg.Duration, "done.lua", "URL"), " "))
	}
	if r.heyVersion != "" {
		p("| hey | %s: `hey %s` |", r.heyVersion, strings.Join(heyArgs(cfg.Connections, cfg.Duration, "URL"), " "))
	}
	p("| flagstorm | `flagstorm %s`, a generated scenario: one `GET` of the endpoint, threshold `http_req_failed: rate==0`, `gracefulStop: %v` |",
		strings.Join(flagstormArgs("scenario.yaml", "BASE", "DIR"), " "), gracefulStop)
	p("")
	if r.throughput != nil {
		r.throughputMarkdown(p)
	}
	if r.accuracy != nil {
		r.accuracyMarkdown(p)
	}
	if r.memory != nil {
		r.memoryMarkdown(p)
	}
	if r.clients != nil {
		r.clientsMarkdown(p)
	}
	benchkit.WriteGoals(w, r.verdicts())
}

func (r *report) throughputMarkdown(p func(string, ...any)) {
	cfg, t := r.cfg, r.throughput
	p("### Throughput (medians over valid runs)")
	p("")
	p("%d connections (flagstorm: constant-vus, %d VUs) for %v per run; %d round(s), every tool against every endpoint once per round, the tools' order rotated from round to round.",
		cfg.Connections, cfg.Connections, cfg.Duration, cfg.Rounds)
	p("")
	p("| endpoint | tool | req/s | req/s by round | p50 | p99 | generator CPU/req | generator cores | generator peak RSS | server CPU/req | valid runs |")
	p("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	var invalid []string
	for _, c := range t.cases {
		cell := func(f func(result) float64, format string) string { return medianCell(c.runs, f, format) }
		rounds, problems := benchkit.Rounds(c.runs)
		for _, s := range problems {
			invalid = append(invalid, fmt.Sprintf("%s, %s, %s", c.endpoint.name, c.tool, s))
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |", c.endpoint.name, c.tool,
			cell(result.RPS, "%.0f"), rounds,
			cell(func(r result) float64 { return float64(r.P50) / 1e6 }, "%.2f ms"),
			cell(func(r result) float64 { return float64(r.P99) / 1e6 }, "%.2f ms"),
			cell(result.GenCPUPerRequest, "%.1f µs"),
			cell(result.GenCores, "%.2f"),
			cell(func(r result) float64 { return float64(r.Proc.LastHWM) / (1 << 20) }, "%.1f MiB"),
			cell(result.ServerCPUPerRequest, "%.1f µs"),
			len(c.runs)-len(problems), len(c.runs))
	}
	p("")
	p("Generator CPU/req: user + system CPU time of the load generator's process over its whole life " +
		"(`rusage` at exit: start-up, the run and, for flagstorm, writing its reports) per request it completed; " +
		"generator cores: that CPU time over the process's wall time; generator peak RSS: its own VmHWM, read every 100 ms. Server CPU/req: the server's CPU time during the run " +
		"(`/proc/<pid>/stat`, 10 ms ticks) per completed request. Req/s: each tool's own count over its own measured duration. " +
		"hey's latencies have 0.1 ms resolution.")
	if len(t.sources) > 0 {
		p("flagserver's `X-Flag-Source` after warm-up: `%s`.", strings.Join(t.sources, "`, `"))
	}
	benchkit.WriteInvalid(p, invalid)
	p("")
	p("| endpoint | flagstorm ÷ wrk | hey ÷ wrk | flagstorm ÷ hey | goal |")
	p("|---|---:|---:|---:|---|")
	for _, ep := range t.endpoints {
		cell := func(num, den tool) string {
			if x, ok := t.ratio(ep.name, num, den); ok {
				return fmt.Sprintf("%.2f", x)
			}
			return "—"
		}
		p("| %s | %s | %s | %s | flagstorm ÷ wrk ≥ %.1f |", ep.name, cell(toolFlagstorm, toolWrk), cell(toolHey, toolWrk),
			cell(toolFlagstorm, toolHey), goalThroughputRatio)
	}
	p("")
}

func (r *report) accuracyMarkdown(p func(string, ...any)) {
	a := r.accuracy
	p("### Accuracy behind a %v latency toxic", a.latency)
	p("")
	p("The hello server behind an embedded Toxiproxy proxy (in the benchmark's process); %d VUs of flagstorm (constant-vus) for %v, "+
		"then `wrk -t1 -c%d` as a reference for the toxic itself; first without a fault, then with a downstream latency toxic of %v.",
		a.vus, a.duration, a.vus, a.latency)
	p("")
	p("| run | tool | p50 | p95 | p99 | requests | req/s |")
	p("|---|---|---:|---:|---:|---:|---:|")
	for _, row := range []struct {
		run, tool string
		r         result
	}{
		{"no fault (A)", "flagstorm", a.plain},
		{fmt.Sprintf("%v toxic (B)", a.latency), "flagstorm", a.toxic},
		{"no fault", "wrk", a.plainRef},
		{fmt.Sprintf("%v toxic", a.latency), "wrk", a.toxicRef},
	} {
		s := ""
		if !row.r.Valid() {
			s = " (invalid: " + row.r.Problem() + ")"
		}
		p("| %s | %s | %s | %s | %s | %d%s | %.0f |", row.run, row.tool, benchkit.Ms(row.r.P50), benchkit.Ms(row.r.P95), benchkit.Ms(row.r.P99),
			row.r.Requests, s, row.r.RPS())
	}
	p("")
	p("flagstorm: B − (%v + A) = %s; the same for wrk: %s.", a.latency, signedMs(a.deviation()), signedMs(a.refDeviation()))
	p("")
}

func (r *report) memoryMarkdown(p func(string, ...any)) {
	m := r.memory
	p("### Memory: constant-arrival-rate %d/s against the hello server", m.rate)
	p("")
	if !m.goalLength {
		p("`-memory-long` not set: the long run lasts %v, not the goal's %v; a quick check of the trend only.", m.longDur, 10*m.shortDur)
		p("")
	}
	p("`constant-arrival-rate`, `preAllocatedVUs` = `maxVUs` = %d (a fixed pool: see below).", memoryVUs)
	p("")
	p("| run | duration | requests | of the arrivals | dropped | VUs allocated | peak RSS (VmHWM) | ru_maxrss | VmRSS at 60 s | VmRSS, last read | CPU |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range []struct {
		name string
		d    time.Duration
		r    result
	}{{"short", m.shortDur, m.short}, {"long", m.longDur, m.long}} {
		at60 := "—"
		if v, ok := row.r.Proc.RSSAt(time.Minute); ok {
			at60 = benchkit.MiB(v)
		}
		last := "—"
		if n := len(row.r.Proc.Samples); n > 0 {
			last = benchkit.MiB(row.r.Proc.Samples[n-1].RSS)
		}
		p("| %s | %v | %d | %.1f %% | %d | %d | %s | %s | %s | %s | %.1f s |", row.name, row.d, row.r.Requests,
			100*achieved(row.r, m.rate, row.d), row.r.Dropped, row.r.VUs, benchkit.MiB(row.r.Proc.LastHWM), benchkit.MiB(row.r.Proc.MaxRSS), at60, last,
			row.r.Proc.CPU.Seconds())
	}
	p("")
	p("Peak RSS: flagstorm's own high-water mark since exec (VmHWM of `/proc/<pid>/status`, read every 100 ms while it ran, "+
		"so it includes writing the reports); VmRSS was sampled every %v. `ru_maxrss` at exit is shown for comparison but is not "+
		"the process's own: Linux carries into it the high-water mark of the memory exec replaced, which for a child of this "+
		"benchmark is the benchmark's own RSS at the spawn. "+
		"Long ÷ short: %.2f. The VU pool is fixed because flagstorm's memory grows with the VUs busy at once "+
		"(each holds a connection; about 75 KiB a VU here): with a pool allowed to grow, one stall of the target "+
		"during the long run would make every VU busy and raise the peak, which is not what this compares.", memorySample, m.ratio())
	p("")
	p("VmRSS at each minute (MiB):")
	p("")
	for _, row := range []struct {
		name string
		r    result
	}{{"short", m.short}, {"long", m.long}} {
		var xs []string
		for k := time.Minute; ; k += time.Minute {
			v, ok := row.r.Proc.RSSAt(k)
			if !ok {
				break
			}
			xs = append(xs, fmt.Sprintf("%.1f", float64(v)/(1<<20)))
		}
		if len(xs) == 0 {
			xs = []string{"— (shorter than a minute)"}
		}
		p("- %s: %s", row.name, strings.Join(xs, " · "))
	}
	for _, row := range []struct {
		name string
		d    time.Duration
		r    result
	}{{"short", m.shortDur, m.short}, {"long", m.longDur, m.long}} {
		if a := achieved(row.r, m.rate, row.d); a < minAchieved {
			p("")
			p("⚠ The %s run completed only %.1f %% of its %d/s arrivals: flagstorm did not hold the rate.", row.name, 100*a, m.rate)
		}
	}
	p("")
}

func (r *report) clientsMarkdown(p func(string, ...any)) {
	cfg, c := r.cfg, r.clients
	p("### flagstorm's cost taken apart (against the hello server)")
	p("")
	p("%d concurrent clients for %v per run; %d round(s), the clients' order rotated from round to round. "+
		"The loops are this program's hidden `-client-loop` mode, each its own process.", cfg.Connections, cfg.Duration, cfg.Rounds)
	p("")
	p("| client | what | req/s | req/s by round | CPU/req | cores | peak RSS | server CPU/req | valid runs |")
	p("|---|---|---:|---|---:|---:|---:|---:|---:|")
	for _, cc := range c.cases {
		cell := func(f func(result) float64, format string) string { return medianCell(cc.runs, f, format) }
		rounds, problems := benchkit.Rounds(cc.runs)
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |", cc.name, cc.what, cell(result.RPS, "%.0f"), rounds,
			cell(result.GenCPUPerRequest, "%.1f µs"), cell(result.GenCores, "%.2f"),
			cell(func(r result) float64 { return float64(r.Proc.LastHWM) / (1 << 20) }, "%.1f MiB"),
			cell(result.ServerCPUPerRequest, "%.1f µs"), len(cc.runs)-len(problems), len(cc.runs))
	}
	p("")
}

func signedMs(d time.Duration) string {
	return fmt.Sprintf("%+.2f ms", float64(d)/float64(time.Millisecond))
}

// medianCell is a table cell: the median of f over the valid runs in
// format, or "—" when there is none.
func medianCell(runs []result, f func(result) float64, format string) string {
	if v, ok := benchkit.MedianOf(runs, f); ok {
		return fmt.Sprintf(format, v)
	}
	return "—"
}
