package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// clientsCase is one client in the clients part: a loop of the hidden
// -client-loop mode, or (loop 0) the flagstorm CLI or wrk.
type clientsCase struct {
	name string
	what string
	loop loop // 0 for the CLI and wrk
	tool tool // toolFlagstorm or toolWrk when loop is 0
	runs []result
}

// clientsResult is the clients part.
type clientsResult struct {
	cases []*clientsCase
}

// runClients runs, once per round and against the hello server, the
// flagstorm CLI, each client loop and wrk, at the throughput runs'
// concurrency and duration.
func runClients(ctx context.Context, e *env, self string) (*clientsResult, error) {
	cfg := e.cfg
	url := e.hello.base() + "/"
	c := &clientsResult{cases: []*clientsCase{
		{name: "flagstorm run", what: "the CLI: start-up, engine, telemetry observer, reports", tool: toolFlagstorm},
		{name: "engine", what: "engine.Run in-process, configured as the CLI does, with its telemetry observer", loop: loopEngine},
		{name: "engine, no observer", what: "engine.Run without an observer", loop: loopEngineBare},
		{name: "net/http loop", what: "VU goroutines calling a keep-alive net/http client back to back (flagstorm's client before it had its own); no scheduler, recorder or request building", loop: loopNetHTTP},
		{name: "raw socket loop", what: "one TCP connection per VU, a fixed request written, the response read with a minimal parser", loop: loopRaw},
		{name: "epoll loop", what: fmt.Sprintf("wrk's design in Go: %d event loops, each on its own OS thread, over non-blocking connections in epoll; no goroutine per connection", cfg.Threads), loop: loopEpoll},
		{name: "epoll loop, raw syscalls", what: "the same, its system calls bypassing the runtime's bookkeeping (RawSyscall: no entersyscall, no P handed off while blocked)", loop: loopEpollRaw},
		{name: "wrk", what: fmt.Sprintf("wrk -t%d", cfg.Threads), tool: toolWrk},
	}}
	if err := e.pr.WarmUp(ctx, url); err != nil {
		return nil, err
	}
	for round := range cfg.Rounds {
		for i := range c.cases {
			cc := c.cases[(i+round)%len(c.cases)]
			res, err := measure(e.hello, func() (result, error) {
				switch {
				case cc.loop != 0:
					return runLoopProc(ctx, self, cc.loop, url, cfg.Connections, cfg.Threads, cfg.Duration)
				case cc.tool == toolWrk:
					return runWrk(ctx, e.wrk, cfg.Threads, cfg.Connections, cfg.Duration, url)
				default:
					return e.flagstorm.run(ctx, "clients-cli", fmt.Sprintf("benchengine clients: %d VUs", cfg.Connections),
						loadShape{VUs: cfg.Connections, Duration: cfg.Duration}, e.hello.base(), "/", 0)
				}
			})
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", round+1, cc.name, err)
			}
			cc.runs = append(cc.runs, res)
			e.logf("clients round %d/%d %-20s %s", round+1, cfg.Rounds, cc.name, res)
			if err := pause(ctx); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// runLoopProc runs this program in -client-loop mode as a child process
// and reads the line it prints (wrk's done-line format, without
// latencies).
func runLoopProc(ctx context.Context, self string, l loop, url string, vus, threads int, d time.Duration) (result, error) {
	args := []string{"-client-loop", l.String(), "-url", url, "-vus", strconv.Itoa(vus), "-threads", strconv.Itoa(threads), "-duration", d.String()}
	g, err := benchkit.RunGenerator(ctx, self, args, benchkit.ChildEnv(), d+gracefulStop+benchkit.GenSlack, 0)
	if err == nil {
		err = g.ExitError()
	}
	if err != nil {
		return result{}, fmt.Errorf("client loop %s: %w", l, err)
	}
	res, err := benchkit.ParseWrk(string(g.Stdout))
	if err != nil {
		return result{}, fmt.Errorf("client loop %s: %w", l, err)
	}
	return fromWrk(res, g), nil
}
