package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
	f := defineStackFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return usageError("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if f.cfg.AdminToken, err = f.admin.resolve(e, args); err != nil {
		return err
	}
	warnArgvURLs(e, args, "database-url", "target-url")
	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	if cfg.ToxiproxyAPI != "" {
		log.Warn("the Toxiproxy API is on, without authentication: any local user can create proxies and toxics while the stack runs", "addr", cfg.ToxiproxyAPI)
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
	if f.jsonOut {
		err = st.WriteJSON(e.stdout)
	} else {
		st.WriteSummary(e.stdout)
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

// stackFlags are the flags of `flagstorm stack`, as parsed.
type stackFlags struct {
	cfg      stack.Config
	profiles listFlag
	memTTL   optDuration
	x        stack.External
	database string
	seed     int
	jsonOut  bool
	logLevel string
	admin    secretFlag
}

// defineStackFlags defines the flags of `flagstorm stack` and its usage
// on fs.
func defineStackFlags(fs *flag.FlagSet) *stackFlags {
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
	f := &stackFlags{}
	cfg, x := &f.cfg, &f.x
	fs.IntVar(&cfg.Instances, "instances", stack.DefaultInstances, "number of flagserver instances")
	fs.Var(&f.profiles, "profile", "cache `profile`, hardened or seed: one for all instances or one per instance (repeat or comma-separate) (default hardened)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL the flagservers use through the postgres proxy (not created or dropped); in external mode, read directly by the oracle")
	fs.StringVar(&f.database, "database", "auto", "without --database-url: auto (a throwaway PostgreSQL cluster if initdb is installed, else SQLite), throwaway or sqlite (SQLite: no database faults)")
	fs.IntVar(&f.seed, "seed-flags", stack.DefaultSeedFlags, "flags per environment each flagserver seeds if missing (0: none)")
	f.admin.define(fs, "admin-token", "flagserver bearer token for PATCH (default: random); written to the run directory's admin-token file (mode 0600), never printed")
	fs.Var(&f.memTTL, "memory-cache-ttl", "flagserver in-process cache `TTL`, e.g. 1s; 0 switches it off (default: the profile's)")
	fs.StringVar(&cfg.ToxiproxyAPI, "toxiproxy-api", "", "serve the Toxiproxy HTTP API at `ADDR` (127.0.0.1:0: a free port), for toxiproxy-cli and flagstorm run --toxiproxy-url; it has no authentication: any local user can then create proxies and toxics (default: off)")
	fs.StringVar(&cfg.FlagserverBin, "flagserver-bin", "", "flagserver executable (default: next to flagstorm, then bin/flagserver, then PATH)")
	fs.StringVar(&cfg.RedisServerBin, "redis-server-bin", "", "redis-server executable (default: from PATH)")
	fs.StringVar(&cfg.Dir, "dir", "", "run directory for logs and data (default: a temporary directory, removed at the end)")
	fs.BoolVar(&cfg.KeepDir, "keep-dir", false, "keep the temporary run directory (logs) after the stop")
	fs.BoolVar(&f.jsonOut, "json", false, "print the endpoints as one line of JSON (with the child PIDs)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&x.TargetURL, "target-url", "", "external mode: base URL of your service; only the proxies start")
	fs.StringVar(&x.RedisUpstream, "redis-upstream", "", "external mode: your Redis primary (host:port), behind proxy redis")
	fs.StringVar(&x.RedisReplicaUpstream, "redis-replica-upstream", "", "external mode: your Redis replica (host:port), behind proxy redis-replica")
	fs.StringVar(&x.PostgresUpstream, "postgres-upstream", "", "external mode: your PostgreSQL (host:port), behind proxy postgres (default: --database-url's)")
	fs.StringVar(&x.RedisListen, "redis-listen", "", "external mode: fixed listen address of proxy redis (default 127.0.0.1, free port)")
	fs.StringVar(&x.RedisReplicaListen, "redis-replica-listen", "", "external mode: fixed listen address of proxy redis-replica")
	fs.StringVar(&x.PostgresListen, "postgres-listen", "", "external mode: fixed listen address of proxy postgres")
	return f
}

// config turns the parsed flags into the stack's configuration; its
// errors are usage errors.
func (f *stackFlags) config(log *slog.Logger) (stack.Config, error) {
	cfg := f.cfg
	cfg.Logger = log
	cfg.Profiles = f.profiles
	cfg.MemoryCacheTTL = f.memTTL.d
	if cfg.ToxiproxyAPI == "off" {
		cfg.ToxiproxyAPI = ""
	}
	var err error
	if cfg.Database, err = stack.ParseDatabase(f.database); err != nil {
		return cfg, usageError("--database: %v", err)
	}
	switch {
	case f.seed == 0:
		cfg.SeedFlags = -1
	case f.seed < 0:
		return cfg, usageError("--seed-flags: %d; want 0 or more", f.seed)
	default:
		cfg.SeedFlags = f.seed
	}
	if f.x != (stack.External{}) {
		if f.x.TargetURL == "" {
			return cfg, usageError("the upstream and listen flags are for external mode: add --target-url (the URL of your service)")
		}
		cfg.External = &f.x
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("%v", indentErr(err))
	}
	return cfg, nil
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
