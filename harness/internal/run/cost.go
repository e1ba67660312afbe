package run

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/harness/internal/record"
	"github.com/flagstorm/flagstorm/internal/metric"
	"github.com/flagstorm/flagstorm/scenarios"
)

// redisCost samples Redis's INFO stats once a second on every server
// given (primary and replica, directly, not through the proxies), so each
// phase's backend cost can be put per HTTP request: retry amplification
// and reconnect storms become numbers.
type redisCost struct {
	password string // of every server sampled; "" for none

	mu      sync.Mutex
	samples []costSample
}

type costSample struct {
	at          time.Time
	cmds, conns int64
	unreachable int // servers that did not answer
}

// quietRedis silences go-redis's process-wide pool log: the sampler
// dials a Redis the timeline crashed on purpose, once a second, and each
// failed dial would print a line among the run's output.
var quietRedis sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

func (c *redisCost) run(ctx context.Context, addrs []string) {
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	clients := make([]*redis.Client, 0, len(addrs))
	for _, a := range addrs {
		clients = append(clients, redis.NewClient(&redis.Options{Addr: a, Password: c.password, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, DisableIdentity: true}))
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s := costSample{at: time.Now()}
		for _, cl := range clients {
			ictx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			info, err := cl.Info(ictx, "stats").Result()
			cancel()
			if err != nil {
				s.unreachable++
				continue
			}
			s.cmds += infoInt(info, "total_commands_processed")
			s.conns += infoInt(info, "total_connections_received")
		}
		c.mu.Lock()
		c.samples = append(c.samples, s)
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func infoInt(info, field string) int64 {
	i := strings.Index(info, field+":")
	if i < 0 {
		return 0
	}
	v := info[i+len(field)+1:]
	if j := strings.IndexAny(v, "\r\n"); j >= 0 {
		v = v[:j]
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// notes puts each phase's Redis commands and new connections per HTTP
// request. Counters restart when a server restarts cold: such intervals
// are left out (a negative delta).
func (c *redisCost) notes(spec *scenarios.Spec, rec *record.Recorder, start time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i, p := range spec.Timeline {
		from, to := start.Add(p.At), start.Add(spec.PhaseEnd(i))
		var cmds, conns int64
		var prev *costSample
		for j := range c.samples {
			s := &c.samples[j]
			if !s.at.After(from) || s.at.After(to) {
				prev = s
				continue
			}
			if prev != nil && prev.unreachable == 0 && s.unreachable == 0 && s.cmds >= prev.cmds && s.conns >= prev.conns {
				cmds += s.cmds - prev.cmds
				conns += s.conns - prev.conns
			}
			prev = s
		}
		reqs, _ := rec.Summarize(record.Selector{Metric: metric.HTTPReqs.Name(), Tags: map[string]string{"phase": p.Name}})
		if reqs.Sum == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("backend cost in %s: %.2f Redis commands and %.4f new Redis connections per HTTP request (the harness's own INFO polls included)",
			p.Name, float64(cmds)/reqs.Sum, float64(conns)/reqs.Sum))
	}
	return out
}
