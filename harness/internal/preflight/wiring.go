package preflight

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/toxics"
)

const (
	// wantKeys is how many seeded keys the wiring checks like to use: a
	// PATCH of Flag, then GETs of three keys with the proxy normal and of
	// four others while it refuses connections.
	wantKeys = 8
	// countWait bounds the wait for Redis to see the commands of phase
	// (a), for a service that writes to its cache after answering.
	countWait = 2 * time.Second
	// pollInterval is how often a wait checks its condition.
	pollInterval = 50 * time.Millisecond
)

const (
	fixRedis = "connect to Redis only at the address in REDIS_URL ({{redis_url}}: flagstorm's proxy); " +
		"a service that reads REDIS_HOST/REDIS_PORT, a fixed address or another Redis goes around the proxy and every Redis fault does nothing"
	fixPostgres = "connect to PostgreSQL only through DATABASE_URL ({{database_url}}: flagstorm's proxy), " +
		"not PGHOST/PGPORT or a fixed DSN; and answer a write 200 only once it is committed"
	fixRecover = "reconnect to Redis and PostgreSQL after an outage (a pool that drops dead connections, no connection held for good)"
)

// ignoredCommands are the Redis commands that do not count as the
// service's traffic: INFO (this check's, and any sampler's), replication,
// and connection housekeeping.
var ignoredCommands = map[string]bool{
	"info": true, "replconf": true, "hello": true, "client": true, "ping": true, "command": true,
}

// redisCounter reads how many commands Redis has run.
type redisCounter struct{ rdb *redis.Client }

func newRedisCounter(addr, password string) *redisCounter {
	return &redisCounter{rdb: redis.NewClient(&redis.Options{
		Addr:            addr,
		Password:        password,
		Protocol:        2,
		DisableIdentity: true, // no CLIENT SETINFO on connect
		MaxRetries:      -1,
		DialTimeout:     time.Second,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
		PoolSize:        1,
	})}
}

func (r *redisCounter) Close() error { return r.rdb.Close() }

// count returns the calls of every command in INFO commandstats except
// ignoredCommands. Unlike total_commands_processed it leaves out this
// check's own INFO calls and a replica's REPLCONF ACK every second.
func (r *redisCounter) count(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := r.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	return parseCommandstats(info)
}

// parseCommandstats sums the calls= of the cmdstat_ lines, like
// "cmdstat_get:calls=21,usec=175,...", except ignoredCommands (and their
// subcommands, "cmdstat_client|setinfo").
func parseCommandstats(info string) (int64, error) {
	var n int64
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, stats, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		base, _, _ := strings.Cut(name, "|")
		if ignoredCommands[strings.ToLower(base)] {
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("INFO commandstats: %q: %w", sc.Text(), err)
				}
				n += calls
			}
		}
	}
	return n, sc.Err()
}

func (c *checker) wiring(ctx context.Context) (err error) {
	if c.t.Faults == nil {
		c.rep.skip("wiring: redis, wiring: postgres (no fault controller: whether the service's traffic crosses the proxies is NOT verified)")
		return nil
	}
	doRedis := c.t.RedisProxy != "" && c.t.RedisAddr != ""
	switch {
	case c.t.RedisProxy == "":
		c.rep.skip("wiring: redis (no redis proxy)")
	case c.t.RedisAddr == "":
		c.rep.skip("wiring: redis (no direct Redis address to count commands at)")
	}
	doPostgres := c.t.PostgresProxy != "" && c.t.Uses.Patch
	switch {
	case c.t.PostgresProxy == "":
		c.rep.skip("wiring: postgres (no postgres proxy)")
	case !c.t.Uses.Patch:
		c.rep.skip("wiring: postgres (PATCH not used by the scenarios: a write is how it is checked)")
	}
	if !doRedis && !doPostgres {
		return nil
	}
	c.moreKeys(ctx)
	c.learnEnabled(ctx)

	s := toxics.NewSession(c.t.Faults, nil)
	defer func() {
		// Cleanup runs under a context of its own that outlives ctx.
		if cerr := s.Cleanup(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("preflight: remove the faults: %w", cerr))
		}
	}()
	bctx, cancel := context.WithTimeout(ctx, FaultTimeout)
	err = s.Begin(bctx)
	cancel()
	if err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if doRedis {
		if err := c.wiringRedis(ctx, s); err != nil {
			return err
		}
	}
	if doPostgres {
		if err := c.wiringPostgres(ctx, s); err != nil {
			return err
		}
	}
	return c.recovery(ctx)
}

// moreKeys fills c.keys up to wantKeys from the list, when it can.
func (c *checker) moreKeys(ctx context.Context) {
	if len(c.keys) >= wantKeys {
		return
	}
	a := c.api.list(ctx)
	if a.status != http.StatusOK {
		return
	}
	fs, err := decodeList(a.body)
	if err != nil {
		return
	}
	for _, f := range fs {
		if k, ok := f.str("key"); ok {
			c.keys = appendNew(c.keys, k)
		}
		if len(c.keys) >= wantKeys {
			return
		}
	}
}

// keysFor returns the keys to GET in a phase: n keys from c.keys[from:],
// skipping Flag, wrapping around when there are too few.
func (c *checker) keysFor(from, n int) []string {
	others := c.keys[1:] // keys[0] is Flag
	if len(others) == 0 {
		return []string{c.t.Flag}
	}
	out := make([]string, 0, n)
	for i := range n {
		out = appendNew(out, others[(from+i)%len(others)])
	}
	return out
}

// touch sends what the scenarios send: a PATCH of Flag (writing back its
// "enabled") and a read of each key, all within PhaseTimeout. Their
// answers do not matter; what Redis saw does.
func (c *checker) touch(ctx context.Context, keys []string) {
	ctx, cancel := context.WithTimeout(ctx, PhaseTimeout)
	defer cancel()
	if c.t.Uses.Patch {
		c.api.patch(ctx, c.t.Flag, "", c.enabled, "", "")
	}
	for _, k := range keys {
		switch {
		case c.t.Uses.Get || !c.t.Uses.List:
			c.api.get(ctx, k)
		default:
			c.api.list(ctx)
		}
	}
}

// what describes the requests touch sends, for a Problem.
func (c *checker) what(keys []string) string {
	reads := "GET " + strings.Join(keys, ", ")
	if !c.t.Uses.Get && c.t.Uses.List {
		reads = fmt.Sprintf("%d GETs of the list", len(keys))
	}
	if c.t.Uses.Patch {
		return "a PATCH of " + c.t.Flag + " and " + reads
	}
	return reads
}

// apply applies a refused fault on proxy, bounded by FaultTimeout.
func apply(ctx context.Context, s *toxics.Session, proxy string) (toxics.Applied, error) {
	ctx, cancel := context.WithTimeout(ctx, FaultTimeout)
	defer cancel()
	a, err := s.Apply(ctx, toxics.Fault{Proxy: proxy, Kind: toxics.Refused})
	if err != nil {
		return toxics.Applied{}, fmt.Errorf("preflight: %w", err)
	}
	return a, nil
}

// remove removes a, even after ctx is cancelled.
func remove(ctx context.Context, s *toxics.Session, a toxics.Applied) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FaultTimeout)
	defer cancel()
	if err := s.Remove(ctx, a); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	return nil
}

func (c *checker) wiringRedis(ctx context.Context, s *toxics.Session) error {
	const item = "wiring: redis"
	c.rep.checked(item)
	rc := newRedisCounter(c.t.RedisAddr, c.t.RedisPassword)
	defer rc.Close()

	// (a) The proxy normal: Redis must see the service's commands.
	before, err := rc.count(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return c.ctxErr(ctx)
		}
		c.rep.problem(item, fmt.Sprintf("cannot count Redis's commands at %s: %v", c.t.RedisAddr, err),
			"give flagstorm the Redis primary's own address (not the proxy's), reachable from where flagstorm runs, with INFO allowed")
		return nil
	}
	keysA := c.keysFor(0, 3)
	c.touch(ctx, keysA)
	var seen int64
	deadline := time.Now().Add(countWait)
	for {
		n, err := rc.count(ctx)
		if err == nil {
			seen = n - before
		}
		if seen > 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return c.ctxErr(ctx)
		}
	}
	if seen <= 0 {
		c.rep.problem(item, fmt.Sprintf("no command reached Redis through the proxy during %s: the service does not use the Redis it was given (REDIS_URL, proxy %q)", c.what(keysA), c.t.RedisProxy), fixRedis)
		return nil
	}

	// (b) The proxy refusing connections: Redis must see (almost) nothing.
	// Other keys, so that nothing comes from a cache the service filled
	// in (a).
	a, err := apply(ctx, s, c.t.RedisProxy)
	if err != nil {
		return err
	}
	keysB := c.keysFor(3, 4)
	during, cerr := c.countDuring(ctx, rc, keysB)
	if err := remove(ctx, s, a); err != nil {
		return err
	}
	if cerr != nil {
		if ctx.Err() != nil {
			return c.ctxErr(ctx)
		}
		c.rep.problem(item, fmt.Sprintf("cannot count Redis's commands at %s: %v", c.t.RedisAddr, cerr), "make the Redis primary's own address reachable from where flagstorm runs")
		return nil
	}
	if during > BypassAllowance {
		c.rep.problem(item, fmt.Sprintf("the service reached Redis while its proxy refused connections: it bypasses the proxy (reads REDIS_HOST/REDIS_PORT or a fixed address?): Redis ran %d commands during %s", during, c.what(keysB)), fixRedis)
	}
	return nil
}

// countDuring returns how many commands Redis ran while touch sent its
// requests.
func (c *checker) countDuring(ctx context.Context, rc *redisCounter, keys []string) (int64, error) {
	before, err := rc.count(ctx)
	if err != nil {
		return 0, err
	}
	c.touch(ctx, keys)
	after, err := rc.count(ctx)
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

func (c *checker) wiringPostgres(ctx context.Context, s *toxics.Session) error {
	const item = "wiring: postgres"
	c.rep.checked(item)
	a, err := apply(ctx, s, c.t.PostgresProxy)
	if err != nil {
		return err
	}
	ans := c.api.patch(ctx, c.t.Flag, "", c.enabled, "", "")
	if err := remove(ctx, s, a); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return c.ctxErr(ctx)
	}
	if ans.status == http.StatusOK {
		c.rep.problem(item, fmt.Sprintf("PATCH %s answered 200 while the postgres proxy %q refused connections: the write went around the proxy", c.api.flagPath(c.t.Flag), c.t.PostgresProxy), fixPostgres)
	}
	return nil
}

// recovery waits until the service answers a read again after the faults.
func (c *checker) recovery(ctx context.Context) error {
	const item = "recovery"
	c.rep.checked(item)
	start := time.Now()
	deadline := start.Add(RecoveryTimeout)
	var last string
	for {
		f, got := c.read(ctx, c.t.Flag)
		if f != nil {
			return nil
		}
		last = got
		if ctx.Err() != nil {
			return c.ctxErr(ctx)
		}
		if time.Now().After(deadline) {
			c.rep.problem(item, fmt.Sprintf("no 200 within %v after the proxies were restored; last: %s", RecoveryTimeout, last), fixRecover)
			return nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return c.ctxErr(ctx)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
