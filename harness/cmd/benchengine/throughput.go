package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// Throughput goal of issue 4: flagstorm's requests per second at least
// this fraction of wrk's, on the same endpoint.
const goalThroughputRatio = 0.9

// flagPath is flagserver's endpoint of the throughput runs.
const flagPath = "/api/config/flags/flag-007?environment=production"

// tool is a load generator.
type tool uint8

// The tools, in the order of the first round.
const (
	toolFlagstorm tool = iota + 1
	toolWrk
	toolHey
)

var toolNames = [...]string{toolFlagstorm: "flagstorm", toolWrk: "wrk", toolHey: "hey"}

func (t tool) String() string {
	if t >= toolFlagstorm && t <= toolHey {
		return toolNames[t]
	}
	return fmt.Sprintf("tool(%d)", uint8(t))
}

var tools = []tool{toolFlagstorm, toolWrk, toolHey}

// endpoint is a measured URL on one server.
type endpoint struct {
	name string
	what string
	srv  *server
	path string
	want string // a substring of a correct body
}

func (ep endpoint) url() string { return ep.srv.base() + ep.path }

// throughputCase is one tool against one endpoint, one run per round.
type throughputCase struct {
	endpoint endpoint
	tool     tool
	runs     []result
}

// throughputResult is the throughput part.
type throughputResult struct {
	endpoints []endpoint
	cases     []*throughputCase // by endpoint, then tool
	// sources are flagserver's X-Flag-Source answers after warm-up.
	sources []string
}

func (t *throughputResult) lookup(ep string, tl tool) *throughputCase {
	for _, c := range t.cases {
		if c.endpoint.name == ep && c.tool == tl {
			return c
		}
	}
	return nil
}

// ratio is num's median req/s over den's on endpoint ep.
func (t *throughputResult) ratio(ep string, num, den tool) (float64, bool) {
	n, d := t.lookup(ep, num), t.lookup(ep, den)
	if n == nil || d == nil {
		return 0, false
	}
	return benchkit.RPSRatio(n.runs, d.runs)
}

// runThroughput warms up and checks both endpoints, then runs every tool
// against every endpoint once per round. The tools' order rotates from
// round to round, so that none always follows the same one.
func runThroughput(ctx context.Context, e *env) (*throughputResult, error) {
	cfg := e.cfg
	t := &throughputResult{endpoints: []endpoint{
		{"hello", "net/http handler writing a fixed 200-byte JSON body (own process)", e.hello, "/", `"key":"flag-007"`},
		{"flagserver", "GET " + flagPath + " (SQLite, no Redis, hardened: in-process cache)", e.server, flagPath, `"key":"flag-007"`},
	}}
	for _, ep := range t.endpoints {
		if err := e.pr.WarmUp(ctx, ep.url()); err != nil {
			return nil, err
		}
		src, err := check(ctx, e.pr, ep.url(), ep.want)
		if err != nil {
			return nil, err
		}
		if ep.srv == e.server {
			t.sources = append(t.sources, src)
		}
		for _, tl := range tools {
			t.cases = append(t.cases, &throughputCase{endpoint: ep, tool: tl})
		}
	}
	e.logf("throughput: %d rounds × %d endpoints × %d tools, %v each (about %v)", cfg.Rounds, len(t.endpoints), len(tools),
		cfg.Duration, time.Duration(cfg.Rounds*len(t.endpoints)*len(tools))*(cfg.Duration+2*time.Second))
	for round := range cfg.Rounds {
		for _, ep := range t.endpoints {
			for i := range tools {
				tl := tools[(i+round)%len(tools)]
				c := t.lookup(ep.name, tl)
				res, err := measure(ep.srv, func() (result, error) { return throughputRun(ctx, e, tl, ep) })
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, %s: %w", round+1, ep.name, tl, err)
				}
				c.runs = append(c.runs, res)
				e.logf("round %d/%d %-10s %-9s %s", round+1, cfg.Rounds, ep.name, tl, res)
				if err := pause(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	return t, nil
}

func throughputRun(ctx context.Context, e *env, tl tool, ep endpoint) (result, error) {
	cfg := e.cfg
	switch tl {
	case toolWrk:
		return runWrk(ctx, e.wrk, cfg.Threads, cfg.Connections, cfg.Duration, ep.url())
	case toolHey:
		return e.hey.run(ctx, cfg.Connections, cfg.Duration, ep.url())
	default:
		return e.flagstorm.run(ctx, "throughput-"+ep.name, fmt.Sprintf("benchengine throughput: %d VUs", cfg.Connections),
			loadShape{VUs: cfg.Connections, Duration: cfg.Duration}, ep.srv.base(), ep.path, 0)
	}
}
