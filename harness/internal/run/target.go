package run

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/harness/internal/stack"
	"github.com/flagstorm/flagstorm/internal/secret"
	"github.com/flagstorm/flagstorm/scenarios"
	"github.com/flagstorm/flagstorm/toxics"
)

// Target is the seam between a run and what it runs against: the
// built-in flagserver on the local stack (Local), a service already
// running somewhere (Remote), and later a user's own command. Start
// brings the system under test up for one plan and says what the run may
// do with it; the run never asks which kind it has.
type Target interface {
	// Name is how reports name the target: a profile ("hardened"), a
	// variant, or the URL.
	Name() string
	// Start starts (or finds) the system and returns it ready for load.
	// The caller closes it. Errors are infrastructure failures, except an
	// *InvalidError: the plan asks what this target cannot do.
	Start(ctx context.Context, p *Plan, w io.Writer, log *slog.Logger) (*System, error)
}

// System is a started target: its addresses and what the harness can do
// to it and learn from it. A nil field means "this target cannot", and the
// checks that need it are inconclusive, never passed.
type System struct {
	// URLs are the service's base URLs (requests spread over them).
	URLs []string
	// AdminToken is added to requests that write.
	AdminToken string
	// Faults injects the timeline's faults; nil: none can be.
	Faults toxics.Controller
	// Primary and Replica are the Redis servers behind the proxies, for
	// actions (failover, crash, flush) and backend cost; nil: unknown.
	Primary, Replica *toxics.RedisServer
	// RedisAddrs are Redis servers to read INFO from for the backend cost
	// when Primary and Replica are unknown.
	RedisAddrs []string
	// RedisPassword is the password (AUTH) of every Redis server above;
	// "" for none. Never printed.
	RedisPassword string
	// Ready is the readiness path the preflight checks; "": no preflight
	// (a service that promised no contract: --target-url alone).
	Ready string
	// PostgresProxy names the proxy in front of PostgreSQL; "": none
	// (flagserver on SQLite).
	PostgresProxy string
	// RedisProxy and ReplicaProxy name the proxies in front of them.
	RedisProxy, ReplicaProxy string
	// SourceHeader is the response header naming where an answer came
	// from (X-Flag-Source); "" when the service sends none.
	SourceHeader string
	// Oracle names the flag field that tells writes apart when the
	// harness is the only writer of the data the run reads, so it may
	// judge every read against its own writes (stale_reads,
	// staleness_seconds); the zero Field: no oracle. With a nonce field,
	// every write carries a fresh {{nonce}} in it.
	Oracle oracle.Field
	// Truth reads the source of truth, for lost_writes (TruthName says
	// which: "the database", "the API"); nil: durability cannot be
	// checked, for the reason in NoTruth.
	Truth     oracle.Truth
	TruthName string
	NoTruth   string
	// StartDeferred starts instances held back for a cold start
	// (target.start) and returns each one's time to ready; nil: none are
	// held back.
	StartDeferred func(ctx context.Context) ([]time.Duration, error)
	// Close stops what Start started.
	Close func(ctx context.Context) error
}

// Local is flagserver on the local stack: Redis primary and replica,
// PostgreSQL (a throwaway cluster, a given URL, or SQLite), Toxiproxy in
// front of each, and the scenario's flagserver instances with one cache
// profile.
type Local struct {
	Profile       string // "hardened" or "seed"
	FlagserverBin string // "": next to flagstorm, bin/flagserver, or PATH
	DatabaseURL   string // "": a throwaway cluster, else SQLite
	// Env is extra flagserver environment (an UNSAFE_ switch of a
	// deliberately broken build).
	Env map[string]string
}

// Name is the profile.
func (l Local) Name() string { return l.Profile }

// Start starts the stack; the flagservers wait for their phase when the
// scenario has a cold start.
func (l Local) Start(ctx context.Context, p *Plan, w io.Writer, log *slog.Logger) (*System, error) {
	spec := p.Spec
	token := randomToken()
	fmt.Fprintf(w, "starting the stack for %s (profile %s, %d instance(s))\n", spec.Name, l.Profile, spec.Instances)
	for _, k := range slices.Sorted(maps.Keys(l.Env)) {
		fmt.Fprintf(w, "  flagserver environment: %s=%s\n", k, l.Env[k])
	}
	st, sys, err := startStack(ctx, p, w, stack.Config{
		Profiles:       []string{l.Profile},
		FlagserverBin:  l.FlagserverBin,
		DatabaseURL:    l.DatabaseURL,
		AdminToken:     token,
		MemoryCacheTTL: spec.MemoryCacheTTL,
		Env:            l.Env,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	ep := st.Endpoints()
	sys.Oracle, sys.SourceHeader, sys.Ready = oracle.Field{Name: "version"}, "X-Flag-Source", "/readyz"
	if ep.DatabaseURL != "" {
		sys.PostgresProxy = stack.ProxyPostgres
		sys.Truth, sys.TruthName = pgTruth{url: ep.DatabaseURL, query: flagserverTruth}, "the database"
	} else {
		sys.NoTruth = "the flagservers use SQLite, which the harness does not read"
	}
	if spec.Target.Start != "" {
		sys.StartDeferred = st.StartTargets
		fmt.Fprintf(w, "flagserver(s) not started yet: they start at phase %s (target.start)\n", spec.Target.Start)
	}
	return sys, nil
}

// startStack starts the local stack for the plan (its instances, seed
// size and cold start filled into cfg) and returns the system's common
// part: addresses, the proxies and the Redis servers.
func startStack(ctx context.Context, p *Plan, w io.Writer, cfg stack.Config) (*stack.Stack, *System, error) {
	spec := p.Spec
	cfg.Instances = spec.Instances
	cfg.SeedFlags = max(stack.DefaultSeedFlags, spec.Data.Flags.Len())
	cfg.DeferTargets = spec.Target.Start != ""
	st, err := stack.Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	ep := st.Endpoints()
	fmt.Fprintf(w, "stack ready in %s: %s\n", st.ReadyIn().Round(time.Millisecond), strings.Join(ep.TargetURLs, ", "))
	return st, &System{
		URLs: ep.TargetURLs, AdminToken: cfg.AdminToken,
		Faults: st.Controller(), Primary: st.Primary(), Replica: st.Replica(), RedisPassword: st.Primary().Password(),
		RedisProxy: stack.ProxyRedis, ReplicaProxy: stack.ProxyRedisReplica,
		Close: st.Close,
	}, nil
}

// Remote is a service that is already running: the harness drives load at
// its URLs and nothing else (no faults, no oracle: it is not the only
// writer, and it cannot read the service's database).
type Remote struct {
	URLs       []string
	AdminToken string
	// SourceHeader is the header naming where an answer came from
	// (flagserver's X-Flag-Source); "" when the service sends none.
	SourceHeader string
}

// Name is the URL (or URLs).
func (r Remote) Name() string { return strings.Join(secret.URLs(r.URLs), ", ") }

// Start refuses a plan that needs what a running service cannot give.
func (r Remote) Start(_ context.Context, p *Plan, _ io.Writer, _ *slog.Logger) (*System, error) {
	if d := p.Disturbances(); len(d) > 0 {
		return nil, &InvalidError{Err: fmt.Errorf("%s injects faults (phases %s), which need the local stack (run it without --target-url) or the service's Toxiproxy (add --toxiproxy-url; in a run split between runners, the runner whose segment starts at 0 applies them)", p.Spec.File, strings.Join(d, ", "))}
	}
	if p.Spec.Target.Start != "" {
		return nil, &InvalidError{Err: fmt.Errorf("%s starts the flagservers at phase %s (target.start), which needs the local stack: run it without --target-url", p.Spec.File, p.Spec.Target.Start)}
	}
	return &System{
		URLs: r.URLs, AdminToken: r.AdminToken, SourceHeader: r.SourceHeader,
		NoTruth: "the harness has no access to the service's database",
		Close:   func(context.Context) error { return nil },
	}, nil
}

// flagserverTruth is flagserver's version of a flag.
const flagserverTruth = `SELECT version FROM feature_flags WHERE environment = $1 AND key = $2`

// pgTruth reads a flag's field straight from PostgreSQL, not through the
// proxies the faults are on: query takes the environment as $1 and the
// key as $2 and returns one column.
type pgTruth struct{ url, query string }

func (p pgTruth) Marker(ctx context.Context, env, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v any
	err = conn.QueryRow(ctx, p.query, env, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && v == nil {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}

// Command is a service from a target description (package service),
// started on the local stack like flagserver: Redis primary and replica,
// PostgreSQL, Toxiproxy in front of each, its instances wired through the
// proxies by the description's templates.
type Command struct {
	Desc *service.Description
	// Variant is one of the description's variants; "" its only one.
	Variant string
	// DatabaseURL is the PostgreSQL the stack uses (through its proxy);
	// "": a throwaway cluster.
	DatabaseURL string
	// Env is extra environment for every instance (the command line's
	// --env), after the description's and the variant's.
	Env map[string]string
}

// variant is the variant name, defaulted.
func (c Command) variant() string {
	if c.Variant != "" {
		return c.Variant
	}
	if names := c.Desc.VariantNames(); len(names) == 1 {
		return names[0]
	}
	return service.DefaultVariant
}

// Name is the variant when the description has several, else the
// service's name.
func (c Command) Name() string {
	if len(c.Desc.Variants) > 1 {
		return c.variant()
	}
	return c.Desc.Name
}

// Expected is the scenario's expectations of the variant (or of the
// service's name, for a description with one variant).
// A variant's own expect: (in the description) replaces the file's.
func (c Command) Expected(spec *scenarios.Spec) Expected {
	name, s := c.Name(), c.expectSpec(spec)
	return func(key string, index int) scenarios.Expectation { return s.Expectation(name, key, index) }
}

// expectSpec is spec with the variant's expect lists from the description
// in place of the file's, when the variant has them.
func (c Command) expectSpec(spec *scenarios.Spec) *scenarios.Spec {
	v, ok := c.Desc.Variants[c.variant()]
	if !ok || v.Expect == nil {
		return spec
	}
	s := *spec
	var failures []scenarios.ExpectedFailure
	for _, e := range v.Expect[spec.Name] {
		failures = append(failures, scenarios.ExpectedFailure{Text: e.Threshold, May: e.May})
	}
	s.Expect = map[string][]scenarios.ExpectedFailure{c.Name(): failures}
	return &s
}

// Start starts the stack with the description's command.
func (c Command) Start(ctx context.Context, p *Plan, w io.Writer, log *slog.Logger) (*System, error) {
	spec, d := p.Spec, c.Desc
	v, ok := d.Variants[c.variant()]
	if !ok {
		return nil, &InvalidError{Err: fmt.Errorf("%s: no variant %q (have %s)", d.File, c.variant(), strings.Join(d.VariantNames(), ", "))}
	}
	if s := c.expectSpec(spec); s != spec {
		if err := s.Validate(); err != nil {
			return nil, &InvalidError{Err: fmt.Errorf("%s: variants.%s.expect.%s: %w", d.File, c.variant(), spec.Name, err)}
		}
	}
	env := map[string]string{"SEED_ENVIRONMENTS": strings.Join(spec.Data.Environments, ",")}
	maps.Copy(env, v.Env)
	maps.Copy(env, c.Env)
	cmd := &stack.Command{Name: d.Name, Argv: programPath(d, d.Command.Argv), Env: d.Command.Env, Dir: d.Path(d.Command.Dir), Ready: d.Ready}
	if cmd.Dir == "" {
		cmd.Dir = d.Dir
	}
	if abs, err := filepath.Abs(cmd.Dir); err == nil {
		cmd.Dir = abs
	}
	if s := d.Seed; s != nil {
		cmd.SeedArgv, cmd.SeedSQL = programPath(d, s.Argv), d.Path(s.SQL)
	}
	token := randomToken()
	fmt.Fprintf(w, "starting the stack for %s (%s, variant %s, %d instance(s))\n", spec.Name, d.Name, c.variant(), spec.Instances)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(w, "  %s environment: %s=%s\n", d.Name, k, env[k])
	}
	st, sys, err := startStack(ctx, p, w, stack.Config{
		Command: cmd, DatabaseURL: c.DatabaseURL, AdminToken: token,
		Env: env, ReadyTimeout: d.ReadyTimeout, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ep := st.Endpoints()
	sys.Oracle = oracle.Field{Name: cmp.Or(d.Oracle.Nonce, d.Oracle.Version), Nonce: d.Oracle.Nonce != ""}
	sys.SourceHeader, sys.Ready, sys.PostgresProxy = d.SourceHeader, d.Ready, stack.ProxyPostgres
	switch {
	case d.Oracle.Truth != "" && ep.DatabaseURL != "":
		sys.Truth, sys.TruthName = pgTruth{url: ep.DatabaseURL, query: d.Oracle.Truth}, "the database"
	default:
		sys.Truth, sys.TruthName = apiTruth{base: ep.TargetURLs[0], field: sys.Oracle.Name}, "the API (faults off)"
	}
	if spec.Target.Start != "" {
		sys.StartDeferred = st.StartTargets
		fmt.Fprintf(w, "%s not started yet: it starts at phase %s (target.start)\n", d.Name, spec.Target.Start)
	}
	return sys, nil
}

// programPath resolves a relative program path (one with a slash and no
// placeholder) against the description's folder, so that a description
// works from wherever flagstorm is started.
func programPath(d *service.Description, argv []string) []string {
	if len(argv) == 0 || !strings.Contains(argv[0], "/") || filepath.IsAbs(argv[0]) || strings.Contains(argv[0], "{{") {
		return argv
	}
	out := slices.Clone(argv)
	if abs, err := filepath.Abs(d.Path(argv[0])); err == nil {
		out[0] = abs
	}
	return out
}

// apiTruth reads a flag's field back through the service's API, once the
// faults are off: the source of truth for a service whose database the
// harness does not query.
type apiTruth struct{ base, field string }

func (a apiTruth) Marker(ctx context.Context, env, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := a.base + "/api/config/flags/" + url.PathEscape(key) + "?environment=" + url.QueryEscape(env)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case res.StatusCode == http.StatusNotFound:
		return "", nil
	case res.StatusCode != http.StatusOK:
		return "", fmt.Errorf("GET %s: %s", u, res.Status)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("GET %s: %w", u, err)
	}
	switch v := doc[a.field].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case float64:
		return strconv.FormatInt(int64(v), 10), nil
	default:
		return fmt.Sprint(v), nil
	}
}
