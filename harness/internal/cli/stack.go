package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/harness/internal/stack"
)

// stackCloseTimeout bounds the stop after Ctrl-C.
const stackCloseTimeout = 30 * time.Second

// runStack is `flagstorm stack`: start the stack, print its endpoints, run
// until SIGINT or SIGTERM, stop it. A stop by signal is its normal end:
// exit 0.
func runStack(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("stack", e)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: flagstorm stack [flags]

Starts Redis (primary and replica), a database, Toxiproxy (proxies redis,
redis-replica, postgres) and flagserver instances wired through the
proxies; prints the endpoints; runs until Ctrl-C (SIGINT) or SIGTERM, then
stops everything. With --target-url it starts only the proxies, in front
of the upstreams you give, to test your own service.

Flags (environment fallback FLAGSTORM_<FLAG>):
`)
		fs.PrintDefaults()
	}
	var (
		cfg      stack.Config
		profiles listFlag
		memTTL   optDuration
		x        stack.External
		database string
		seed     int
		jsonOut  bool
		logLevel string
	)
	fs.IntVar(&cfg.Instances, "instances", stack.DefaultInstances, "number of flagserver instances")
	fs.Var(&profiles, "profile", "cache `profile`, hardened or seed: one for all instances or one per instance (repeat or comma-separate) (default hardened)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL the flagservers use through the postgres proxy (not created or dropped); in external mode, read directly by the oracle")
	fs.StringVar(&database, "database", "auto", "without --database-url: auto (a throwaway PostgreSQL cluster if initdb is installed, else SQLite), throwaway or sqlite (SQLite: no database faults)")
	fs.IntVar(&seed, "seed-flags", stack.DefaultSeedFlags, "flags per environment each flagserver seeds if missing (0: none)")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "flagserver bearer token for PATCH (default: random, printed)")
	fs.Var(&memTTL, "memory-cache-ttl", "flagserver in-process cache `TTL`, e.g. 1s; 0 switches it off (default: the profile's)")
	fs.StringVar(&cfg.ToxiproxyAPI, "toxiproxy-api", "127.0.0.1:0", "serve the Toxiproxy HTTP API here, for toxiproxy-cli (\"off\": none)")
	fs.StringVar(&cfg.FlagserverBin, "flagserver-bin", "", "flagserver executable (default: next to flagstorm, then bin/flagserver, then PATH)")
	fs.StringVar(&cfg.RedisServerBin, "redis-server-bin", "", "redis-server executable (default: from PATH)")
	fs.StringVar(&cfg.Dir, "dir", "", "run directory for logs and data (default: a temporary directory, removed at the end)")
	fs.BoolVar(&cfg.KeepDir, "keep-dir", false, "keep the temporary run directory (logs) after the stop")
	fs.BoolVar(&jsonOut, "json", false, "print the endpoints as one line of JSON (with the child PIDs)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&x.TargetURL, "target-url", "", "external mode: base URL of your service; only the proxies start")
	fs.StringVar(&x.RedisUpstream, "redis-upstream", "", "external mode: your Redis primary (host:port), behind proxy redis")
	fs.StringVar(&x.RedisReplicaUpstream, "redis-replica-upstream", "", "external mode: your Redis replica (host:port), behind proxy redis-replica")
	fs.StringVar(&x.PostgresUpstream, "postgres-upstream", "", "external mode: your PostgreSQL (host:port), behind proxy postgres (default: --database-url's)")
	fs.StringVar(&x.RedisListen, "redis-listen", "", "external mode: fixed listen address of proxy redis (default 127.0.0.1, free port)")
	fs.StringVar(&x.RedisReplicaListen, "redis-replica-listen", "", "external mode: fixed listen address of proxy redis-replica")
	fs.StringVar(&x.PostgresListen, "postgres-listen", "", "external mode: fixed listen address of proxy postgres")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}

	level, err := parseLevel(logLevel)
	if err != nil {
		return usageError("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	cfg.Profiles = profiles
	cfg.MemoryCacheTTL = memTTL.d
	if cfg.ToxiproxyAPI == "off" {
		cfg.ToxiproxyAPI = ""
	}
	if cfg.Database, err = stack.ParseDatabase(database); err != nil {
		return usageError("--database: %v", err)
	}
	switch {
	case seed == 0:
		cfg.SeedFlags = -1
	case seed < 0:
		return usageError("--seed-flags: %d; want 0 or more", seed)
	default:
		cfg.SeedFlags = seed
	}
	if x != (stack.External{}) {
		if x.TargetURL == "" {
			return usageError("the upstream and listen flags are for external mode: add --target-url (the URL of your service)")
		}
		cfg.External = &x
	}
	if err := cfg.Validate(); err != nil {
		return usageError("%v", indentErr(err))
	}

	st, err := stack.Start(ctx, cfg)
	if err != nil {
		var ce *stack.ComponentError
		if errors.As(err, &ce) {
			return fmt.Errorf("%s would not start: %w", ce.Component, ce.Err)
		}
		return err
	}
	stop := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stackCloseTimeout)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			return &exitError{code: ExitInfra, err: err}
		}
		return nil
	}
	if jsonOut {
		err = printStackJSON(e.stdout, st)
	} else {
		printStack(e.stdout, st)
	}
	if err != nil {
		return errors.Join(err, stop())
	}
	<-ctx.Done()
	log.Info("stopping the stack")
	if err := stop(); err != nil {
		return err
	}
	log.Info("stack stopped")
	return nil
}

// stackJSON is what --json prints.
type stackJSON struct {
	stack.Endpoints
	ReadySeconds         float64 `json:"ready_seconds"`
	PostgresSetupSeconds float64 `json:"postgres_setup_seconds,omitempty"`
}

func printStackJSON(w io.Writer, st *stack.Stack) error {
	b, err := json.Marshal(stackJSON{
		Endpoints:            st.Endpoints(),
		ReadySeconds:         st.ReadyIn().Seconds(),
		PostgresSetupSeconds: st.PostgresSetup().Seconds(),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printStack prints the endpoints as a readable block.
func printStack(w io.Writer, st *stack.Stack) {
	ep := st.Endpoints()
	pids := map[string]int{}
	for _, p := range ep.Processes {
		pids[p.Name] = p.PID
	}
	via := func(name string) string {
		if l, ok := ep.Proxies[name]; ok {
			return fmt.Sprintf("  via proxy %-13s %s", name, l)
		}
		return ""
	}
	if ep.External {
		fmt.Fprintf(w, "target (yours): %s\n", ep.TargetURLs[0])
		names := make([]string, 0, len(ep.Proxies))
		for n := range ep.Proxies {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "proxy %-13s %s -> %s\n", n, ep.Proxies[n], ep.Upstreams[n])
		}
		if ep.DatabaseURL != "" {
			fmt.Fprintf(w, "database (direct, for the oracle): %s\n", redact(ep.DatabaseURL))
		}
		fmt.Fprintf(w, "Point your service at the proxies: %s.\n", pointAt(ep))
	} else {
		for i, u := range ep.TargetURLs {
			name := fmt.Sprintf("flagserver[%d]", i)
			fmt.Fprintf(w, "%s (%s): %s  pid %d\n", name, ep.Profiles[i], u, pids[name])
		}
		fmt.Fprintf(w, "redis primary  %-21s%s\n", ep.RedisPrimary, via(stack.ProxyRedis))
		fmt.Fprintf(w, "redis replica  %-21s%s\n", ep.RedisReplica, via(stack.ProxyRedisReplica))
		switch ep.Database {
		case "sqlite":
			fmt.Fprintf(w, "database       SQLite %s (no postgres proxy: database faults are unavailable)\n", ep.SQLitePath)
		case "throwaway":
			fmt.Fprintf(w, "postgres       %s%s  (throwaway cluster)\n", redact(ep.DatabaseURL), via(stack.ProxyPostgres))
		default:
			fmt.Fprintf(w, "postgres       %s%s\n", redact(ep.DatabaseURL), via(stack.ProxyPostgres))
		}
		fmt.Fprintf(w, "admin token    %s\n", ep.AdminToken)
	}
	if ep.ToxiproxyAPI != "" {
		fmt.Fprintf(w, "toxiproxy API  %s/ (toxiproxy-cli -h %s list)\n", ep.ToxiproxyAPI, ep.ToxiproxyAPI)
	}
	if ep.Dir != "" {
		fmt.Fprintf(w, "run dir        %s\n", ep.Dir)
	}
	if d := st.PostgresSetup(); d > 0 {
		fmt.Fprintf(w, "ready in %.2f s (%.2f s of it creating the PostgreSQL cluster)\n", st.ReadyIn().Seconds(), d.Seconds())
	} else {
		fmt.Fprintf(w, "ready in %.2f s\n", st.ReadyIn().Seconds())
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}

// pointAt says which proxy address stands for which backend.
func pointAt(ep stack.Endpoints) string {
	var parts []string
	for _, p := range []struct{ name, what string }{
		{stack.ProxyRedis, "Redis"},
		{stack.ProxyRedisReplica, "the Redis replica"},
		{stack.ProxyPostgres, "PostgreSQL"},
	} {
		if l, ok := ep.Proxies[p.name]; ok {
			parts = append(parts, p.what+" at "+l)
		}
	}
	return strings.Join(parts, ", ")
}

// redact hides a URL's password.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	if name, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + name + ":xxxxx@" + host
	}
	return u
}

func indentErr(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "\n  ")
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// listFlag is a repeatable flag that also splits on commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// optDuration is a duration flag that remembers whether it was given.
type optDuration struct{ d *time.Duration }

func (o *optDuration) String() string {
	if o == nil || o.d == nil {
		return ""
	}
	return o.d.String()
}

func (o *optDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	o.d = &d
	return nil
}
