package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/harness/internal/oracle"
	"github.com/flagstorm/flagstorm/harness/internal/stack"
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
	// RedisProxy and ReplicaProxy name the proxies in front of them.
	RedisProxy, ReplicaProxy string
	// Oracle is true when the harness is the only writer of the data the
	// run reads, so it may judge every read against its own writes
	// (stale_reads, staleness_seconds).
	Oracle bool
	// Truth reads the source of truth directly, for lost_writes; nil:
	// durability cannot be checked, for the reason in NoTruth.
	Truth   oracle.Truth
	NoTruth string
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
	st, err := stack.Start(ctx, stack.Config{
		Instances:      spec.Instances,
		Profiles:       []string{l.Profile},
		FlagserverBin:  l.FlagserverBin,
		DatabaseURL:    l.DatabaseURL,
		SeedFlags:      max(stack.DefaultSeedFlags, spec.Data.Flags.Len()),
		AdminToken:     token,
		MemoryCacheTTL: spec.MemoryCacheTTL,
		Env:            l.Env,
		DeferTargets:   spec.Target.Start != "",
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	ep := st.Endpoints()
	fmt.Fprintf(w, "stack ready in %s: %s\n", st.ReadyIn().Round(time.Millisecond), strings.Join(ep.TargetURLs, ", "))
	sys := &System{
		URLs: ep.TargetURLs, AdminToken: token,
		Faults: st.Controller(), Primary: st.Primary(), Replica: st.Replica(),
		RedisProxy: stack.ProxyRedis, ReplicaProxy: stack.ProxyRedisReplica,
		Oracle: true,
		Close:  st.Close,
	}
	if ep.DatabaseURL != "" {
		sys.Truth = pgTruth{url: ep.DatabaseURL}
	} else {
		sys.NoTruth = "the flagservers use SQLite, which the harness does not read"
	}
	if spec.Target.Start != "" {
		sys.StartDeferred = st.StartTargets
		fmt.Fprintf(w, "flagserver(s) not started yet: they start at phase %s (target.start)\n", spec.Target.Start)
	}
	return sys, nil
}

// Remote is a service that is already running: the harness drives load at
// its URLs and nothing else (no faults, no oracle: it is not the only
// writer, and it cannot read the service's database).
type Remote struct {
	URLs       []string
	AdminToken string
}

// Name is the URL (or URLs).
func (r Remote) Name() string { return strings.Join(r.URLs, ", ") }

// Start refuses a plan that needs what a running service cannot give.
func (r Remote) Start(_ context.Context, p *Plan, _ io.Writer, _ *slog.Logger) (*System, error) {
	if d := p.Disturbances(); len(d) > 0 {
		return nil, &InvalidError{Err: fmt.Errorf("%s injects faults (phases %s), which need the local stack: run it without --target-url", p.Spec.File, strings.Join(d, ", "))}
	}
	if p.Spec.Target.Start != "" {
		return nil, &InvalidError{Err: fmt.Errorf("%s starts the flagservers at phase %s (target.start), which needs the local stack: run it without --target-url", p.Spec.File, p.Spec.Target.Start)}
	}
	return &System{
		URLs: r.URLs, AdminToken: r.AdminToken,
		NoTruth: "the harness has no access to the service's database",
		Close:   func(context.Context) error { return nil },
	}, nil
}

// pgTruth reads flag versions straight from PostgreSQL, not through the
// proxies the faults are on.
type pgTruth struct{ url string }

func (p pgTruth) Version(ctx context.Context, env, key string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v int64
	err = conn.QueryRow(ctx, `SELECT version FROM feature_flags WHERE environment = $1 AND key = $2`, env, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
