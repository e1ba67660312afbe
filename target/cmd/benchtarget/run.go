package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// config is the command line.
type config struct {
	// Duration of each wrk run; whole seconds, at least 1 s. Default 10s.
	Duration time.Duration
	// Connections wrk keeps open. Default 50.
	Connections int
	// Threads of wrk. Default 2.
	Threads int
	// Rounds: each case is run once per round, round-robin. Default 3.
	Rounds int
	// Markdown is a file the report is also written to; empty: none.
	Markdown string
	// Strict makes a failed goal exit with status 1. Default false: a
	// failed goal is reported, not an error.
	Strict bool
	// Flagserver is the binary under test. Default bin/flagserver.
	Flagserver string
	// Pin confines the servers and redis-server to CPU 0 and wrk to the
	// other CPUs (taskset), so that the load generator does not compete
	// with the server for a core. Default false: nothing is pinned, as in
	// the recorded figures.
	Pin bool
}

// run is the command; it returns the exit status: 0 done, 1 failed (or a
// goal failed under -strict), 2 usage or a missing tool.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if benchkit.Mode(args, "-serve") {
		return serve(ctx, args[1:], stderr)
	}
	cfg, err := parseFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		var rep *report
		rep, err = bench(ctx, cfg, benchkit.CommandLine(args, "./target/cmd/benchtarget"), stderr)
		if err == nil {
			err = benchkit.Publish(stdout, cfg.Markdown, rep.markdown, cfg.Strict, rep.verdicts())
		}
	}
	return benchkit.ExitStatus(stderr, "benchtarget", err)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("benchtarget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of each wrk run (whole seconds)")
	fs.IntVar(&c.Connections, "connections", 50, "connections wrk keeps open")
	fs.IntVar(&c.Threads, "threads", 2, "wrk threads")
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds; each case runs once per round, round-robin")
	fs.StringVar(&c.Markdown, "markdown", "", "also write the Markdown report to this file")
	fs.BoolVar(&c.Strict, "strict", false, "exit with status 1 when a goal fails")
	fs.StringVar(&c.Flagserver, "flagserver", filepath.Join("bin", "flagserver"), "flagserver binary (make build)")
	fs.BoolVar(&c.Pin, "pin", false, "pin the servers and redis-server to CPU 0 and wrk to the other CPUs (taskset)")
	probs, err := benchkit.ParseFlags(fs, args)
	if err != nil {
		return c, err
	}
	probs.WholeSeconds("duration", c.Duration)
	probs.Threads(c.Threads, c.Connections)
	if c.Pin && runtime.NumCPU() < 2 {
		probs.Addf("-pin needs at least 2 CPUs, this process may use %d", runtime.NumCPU())
	}
	probs.AtLeastOne("rounds", c.Rounds)
	return c, probs.Err()
}

// server is one server under test.
type server struct {
	name       string
	proc       *benchkit.Proc
	base       string // http://host:port
	flagserver bool   // the system under test, not a reference handler
}

// benchCase is one measured endpoint.
type benchCase struct {
	name   string
	what   string
	srv    *server
	path   string
	source string // X-Flag-Source that proves the path; "" for a reference handler
}

func (c benchCase) url() string { return c.srv.base + c.path }

// bench starts Redis and the four servers, warms and checks each case,
// runs the rounds and returns the report. Every child is stopped before it
// returns, whatever happens.
func bench(ctx context.Context, cfg config, command string, stderr io.Writer) (rep *report, err error) {
	wrkPath, err := exec.LookPath("wrk")
	if err != nil {
		return nil, benchkit.UsageError{Msg: "install wrk: apt-get install -y wrk"}
	}
	redisPath, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, benchkit.UsageError{Msg: "install redis-server: apt-get install -y redis-server"}
	}
	if _, err := os.Stat(cfg.Flagserver); err != nil {
		return nil, benchkit.UsageError{Msg: fmt.Sprintf("flagserver binary %s not found: run `make build` first (%v)", cfg.Flagserver, err)}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "benchtarget-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	w, err := benchkit.NewWrk(wrkPath, dir)
	if err != nil {
		return nil, err
	}
	children := &benchkit.Procs{Dir: dir}
	if cfg.Pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			return nil, benchkit.UsageError{Msg: "-pin: install taskset: apt-get install -y util-linux"}
		}
		children.CPUs = "0"
		w.CPUs = fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	}

	const cases = 6
	budget := 2*time.Minute + time.Duration(cfg.Rounds*cases)*(cfg.Duration+benchkit.GenSlack)
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	defer func() {
		if serr := children.StopAll(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop child processes: %w", serr))
		}
	}()
	pr := benchkit.NewProber()
	defer pr.Close()

	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "benchtarget: "+format+"\n", a...) }
	loadStart := benchkit.LoadAvg()
	srv, err := startServers(ctx, children, pr, redisPath, self, cfg.Flagserver, dir)
	if err != nil {
		return nil, err
	}
	logf("redis-server %s, hello %s, redis-get %s, flagserver %s (memory cache) and %s (MEMORY_CACHE_TTL=0)",
		srv.redis, srv.hello.base, srv.redisGet.base, srv.memory.base, srv.noMemory.base)

	list := []benchCase{
		{"hello", "net/http handler writing a fixed JSON body", srv.hello, "/", ""},
		{"redis-get", "one go-redis GET (default options) per request", srv.redisGet, "/", ""},
		{"flag-memory", "one flag, in-process cache (default MEMORY_CACHE_TTL)", srv.memory, flagPath, "memory"},
		{"list-memory", "list of 100 flags, in-process cache", srv.memory, listPath, "memory"},
		{"flag-redis", "one flag, MEMORY_CACHE_TTL=0: Redis on every read", srv.noMemory, flagPath, "redis"},
		{"list-redis", "list of 100 flags, MEMORY_CACHE_TTL=0", srv.noMemory, listPath, "redis"},
	}
	results := make([]*caseResult, len(list))
	for i, c := range list {
		if err := pr.WarmUp(ctx, c.url()); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if err := checkPath(ctx, pr, c.url(), c.source); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		results[i] = &caseResult{benchCase: c}
	}
	logf("warmed up and checked %d cases; %d rounds of %v each (about %v)",
		len(list), cfg.Rounds, cfg.Duration, time.Duration(cfg.Rounds*len(list))*(cfg.Duration+time.Second))

	for round := 1; round <= cfg.Rounds; round++ {
		for _, cr := range results {
			m, err := measure(ctx, cfg, w, pr, srv.redis, cr.benchCase)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round, cr.name, err)
			}
			cr.runs = append(cr.runs, m)
			logf("round %d/%d %-11s %s", round, cfg.Rounds, cr.name, m)
		}
	}

	rep = newReport(cfg, command, w.Version(ctx), results)
	rep.loadStart = loadStart
	for _, s := range []*server{srv.memory, srv.noMemory, srv.hello, srv.redisGet} {
		b, err := s.proc.PeakRSS()
		rep.rss = append(rep.rss, rssResult{name: s.name, bytes: b, err: err, flagserver: s.flagserver})
	}
	return rep, nil
}

// Paths of the flagserver cases.
const (
	flagPath = "/api/config/flags/flag-007?environment=production"
	listPath = "/api/config/flags?environment=production"
)

// measure runs wrk once against c. The server's CPU time, Redis's command
// count and, for flagserver, its reads by source are read before and
// after: what a request cost and which path answered it.
func measure(ctx context.Context, cfg config, w *benchkit.Wrk, pr *benchkit.Prober, redisAddr string, c benchCase) (measurement, error) {
	var before counters
	if c.source != "" {
		var err error
		if before, err = scrapeCounters(ctx, pr, c.srv.base); err != nil {
			return measurement{}, err
		}
	}
	cmdsBefore, err := redisCommands(ctx, redisAddr)
	if err != nil {
		return measurement{}, err
	}
	var res benchkit.WrkResult
	cpu, err := c.srv.proc.CPUDuring(func() (err error) {
		res, _, err = w.Run(ctx, cfg.Threads, cfg.Connections, cfg.Duration, c.url())
		return err
	})
	if err != nil {
		return measurement{}, err
	}
	cmdsAfter, err := redisCommands(ctx, redisAddr)
	if err != nil {
		return measurement{}, err
	}
	m := measurement{
		WrkResult:     res,
		cpu:           cpu,
		redisCommands: max(cmdsAfter-cmdsBefore-1, 0), // -1: the first INFO
	}
	if c.source != "" {
		after, err := scrapeCounters(ctx, pr, c.srv.base)
		if err != nil {
			return measurement{}, err
		}
		m.source = c.source
		m.reads = delta(before.sources, after.sources)
		m.fallbacks = delta(before.fallbacks, after.fallbacks)
		m.share = share(m.reads, c.source)
	}
	return m, nil
}
