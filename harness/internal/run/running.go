package run

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"
)

// Running is a service already up with its backends behind a Toxiproxy
// the user runs (docker compose, a staging box): the harness drives load
// at its URLs, injects the timeline's faults through that Toxiproxy's
// API (proxies found by name: redis, postgres, redis-replica), reads the
// database directly for the oracle's truth when given, and reads Redis's
// INFO for the backend cost. It cannot perform actions on Redis (crash,
// restart, failover, flush): a file with one is refused, saying why.
type Running struct {
	URLs         []string
	AdminToken   string
	SourceHeader string
	// Toxiproxy is the API URL of the Toxiproxy in front of the backends.
	Toxiproxy string
	// Oracle is the field that tells writes apart (default "version"):
	// the harness assumes it is the only writer while it runs.
	Oracle oracle.Field
	// DatabaseURL reaches PostgreSQL directly; with Truth (an SQL query,
	// $1 environment, $2 key; default flagserver's), durability is checked
	// there, else by reading every written flag back through the API.
	DatabaseURL, Truth string
	// Redis is the Redis primary's direct address, for INFO and the
	// preflight's wiring check; optional. RedisPassword is its password
	// (AUTH), "" for none.
	Redis, RedisPassword string
	// Ready is the readiness path; default /readyz.
	Ready string
	// Proxies are created on the Toxiproxy when absent, by name.
	Proxies map[string]service.Proxy
}

// Name is the URL.
func (r Running) Name() string { return "" }

// Start finds the proxies and checks that the plan's faults name them.
func (r Running) Start(ctx context.Context, p *Plan, w io.Writer, _ *slog.Logger) (*System, error) {
	spec := p.Spec
	for _, s := range p.Steps {
		switch {
		case s.Action == scenarios.ActionFlush && r.Redis == "":
			return nil, &InvalidError{Err: fmt.Errorf("%s: phase %s flushes Redis: give the primary's direct address (--redis-addr, or running.redis)", spec.File, s.Name)}
		case s.Action != 0 && s.Action != scenarios.ActionFlush:
			return nil, &InvalidError{Err: fmt.Errorf("%s: phase %s (%s) needs the Redis processes, which a running service's are not the harness's to crash, restart or fail over: run the file on the local stack (flagstorm run FILE --target DESC with command:), or use faults", spec.File, s.Name, s.Action)}
		}
	}
	if spec.Target.Start != "" {
		return nil, &InvalidError{Err: fmt.Errorf("%s starts the service at phase %s (target.start): the harness cannot start a running service", spec.File, spec.Target.Start)}
	}
	ctl, err := toxics.NewRemote(toxics.RemoteConfig{URL: r.Toxiproxy})
	if err != nil {
		return nil, &InvalidError{Err: fmt.Errorf("--toxiproxy-url: %w", err)}
	}
	version, err := ctl.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy at %s: %w", secret.URL(r.Toxiproxy), err)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Proxies)) {
		pr := r.Proxies[name]
		if _, err := ctl.EnsureProxy(ctx, name, pr.Listen, pr.Upstream); err != nil {
			return nil, fmt.Errorf("toxiproxy at %s: proxy %s: %w", secret.URL(r.Toxiproxy), name, err)
		}
	}
	proxies, err := ctl.Proxies(ctx)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy at %s: %w", secret.URL(r.Toxiproxy), err)
	}
	var have []string
	for _, pi := range proxies {
		have = append(have, pi.Name)
	}
	for _, s := range p.Steps {
		if s.Fault != nil && !slices.Contains(have, s.Fault.Proxy) {
			return nil, &InvalidError{Err: fmt.Errorf("%s: phase %s injects a fault on proxy %q, which the Toxiproxy at %s does not have (it has: %s); name your proxies redis, postgres and redis-replica", spec.File, s.Name, s.Fault.Proxy, secret.URL(r.Toxiproxy), strings.Join(have, ", "))}
		}
	}
	fmt.Fprintf(w, "running service at %s; Toxiproxy %s at %s with proxies %s\n", strings.Join(secret.URLs(r.URLs), ", "), version, secret.URL(r.Toxiproxy), strings.Join(have, ", "))
	field := r.Oracle
	if field.Name == "" {
		field = oracle.Field{Name: "version"}
	}
	sys := &System{
		URLs: r.URLs, AdminToken: r.AdminToken, SourceHeader: r.SourceHeader, Ready: cmp.Or(r.Ready, "/readyz"),
		Faults: ctl, RedisProxy: "redis", ReplicaProxy: "redis-replica",
		Oracle: field,
		Close:  func(context.Context) error { return nil },
	}
	if r.Redis != "" {
		sys.RedisAddrs, sys.RedisPassword = []string{r.Redis}, r.RedisPassword
	}
	if slices.Contains(have, "postgres") {
		sys.PostgresProxy = "postgres"
	}
	switch {
	case r.DatabaseURL != "":
		sys.Truth, sys.TruthName = pgTruth{url: r.DatabaseURL, query: cmp.Or(r.Truth, flagserverTruth)}, "the database"
	default:
		sys.Truth, sys.TruthName = apiTruth{base: r.URLs[0], field: field.Name}, "the API (faults off)"
	}
	return sys, nil
}
