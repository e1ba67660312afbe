// Package preflight checks, in seconds and before any load, that a service
// meets the target contract (docs/target-contract.md) and that its traffic
// really crosses flagstorm's Toxiproxy proxies.
//
// The second part is the one that matters most: a service that connects to
// Redis at REDIS_HOST instead of the REDIS_URL flagstorm gave it talks to
// Redis around the proxy, every fault then does nothing, and the run passes.
// Check refuses such a service before the run starts.
//
// What Check does, in order (each item is one line of [Report.String]):
//
//   - readiness: GET Target.Ready answers 200.
//   - list (Uses.List): GET /api/config/flags?environment=E answers 200 with
//     {"flags": [...]} or a bare array of flag objects holding Target.Flag.
//   - get (Uses.Get): GET /api/config/flags/{key}?environment=E answers 200
//     with the flag (key, environment, enabled as a bool) for Target.Flag
//     and every key of Target.Flags.
//   - unknown key (Uses.Get): a key that does not exist answers 404.
//   - field: the oracle's field is in the answers with the right type (an
//     integer version, or a string nonce).
//   - patch auth (Uses.Patch): a PATCH without the bearer token, and one
//     with a wrong token, answer 401 or 403; one with it answers 200.
//   - patch (Uses.Patch): the 200 holds the flag as written: the version
//     grew, or the nonce is echoed.
//   - write read back (Uses.Patch): a GET right after the PATCH returns the
//     write (the same nonce, a version >= the written one).
//   - wiring: redis (Target.Faults and RedisProxy set): Redis's own command
//     counters, read at RedisAddr directly, must move while the service
//     serves a PATCH and a few GETs, and must stay still while the redis
//     proxy refuses connections.
//   - wiring: postgres (PostgresProxy set, Uses.Patch): a PATCH while the
//     postgres proxy refuses connections must not answer 200.
//   - recovery: after the wiring faults are removed, GET answers 200 again
//     within [RecoveryTimeout], so the run starts on a healthy service.
//
// PATCHes write the flag's current "enabled" value back (and a nonce when
// Field is one), so the seeded data keeps its meaning. The wiring checks
// start from clean proxies ([toxics.Session.Begin] resets every proxy on
// the server: run Check before the run's faults, never during them); their
// faults go through the session and are removed on every exit path,
// Ctrl-C included.
package preflight

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/toxics"
)

// Timeouts and bounds. A healthy service passes every check in well under
// two seconds; one that hangs costs at most a few RequestTimeouts per
// phase.
const (
	// RequestTimeout bounds each HTTP request Check sends.
	RequestTimeout = 3 * time.Second
	// ClientTimeout is the timeout of the HTTP client Check builds when
	// Target.HTTPClient is nil.
	ClientTimeout = 5 * time.Second
	// PhaseTimeout bounds the requests of one wiring phase.
	PhaseTimeout = 4 * time.Second
	// RecoveryTimeout bounds the wait for the service to answer GET again
	// after the wiring faults are removed.
	RecoveryTimeout = 10 * time.Second
	// FaultTimeout bounds applying or removing one fault.
	FaultTimeout = 5 * time.Second
	// BypassAllowance is how many Redis commands may be counted while the
	// redis proxy refuses connections before the service is said to bypass
	// it (a stray command from another client).
	BypassAllowance = 2
)

// Uses says which endpoints the scenario files send requests to; only
// those are checked.
type Uses struct {
	List, Get, Patch bool
}

// Target is the service to check and what the run will use of it.
type Target struct {
	// URL is the service's base URL, like "http://127.0.0.1:8090".
	URL string
	// AdminToken is the bearer token for PATCH.
	AdminToken string
	// Ready is the readiness path. Default "/readyz".
	Ready string
	// Environment and Flag name a seeded flag (like "production" and
	// "flag-000"); Flags are a few more seeded keys of the same
	// environment. The wiring checks need about eight keys in all and take
	// the rest from the list endpoint.
	Environment, Flag string
	Flags             []string
	// Field is the oracle's field: a version the service increments with
	// every write (Nonce false, flagserver's "version"), or a writable
	// string field the harness writes a nonce into (Nonce true).
	Field string
	Nonce bool
	// Uses are the endpoints the scenario files use.
	Uses Uses
	// Faults controls the proxies in front of the service's backends; nil
	// skips the wiring checks (the Report says so).
	Faults toxics.Controller
	// RedisProxy and PostgresProxy are the proxy names ("redis",
	// "postgres"); "" when there is none.
	RedisProxy, PostgresProxy string
	// RedisAddr is the Redis primary's own address (host:port), not the
	// proxy's: Check reads its command counters there.
	RedisAddr string
	// RedisPassword is RedisAddr's password (AUTH); "" for none.
	RedisPassword string
	// HTTPClient sends the requests; nil means a client with a
	// [ClientTimeout] timeout.
	HTTPClient *http.Client
}

// Problem is one way the service fails the contract.
type Problem struct {
	// Item is the check: "readiness", "list", "get", "unknown key",
	// "field", "patch auth", "patch", "write read back", "wiring: redis",
	// "wiring: postgres", "recovery".
	Item string
	// Got is what the service did.
	Got string
	// Fix says what to change.
	Fix string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s; fix: %s", p.Item, p.Got, p.Fix)
}

// Report is the outcome of Check.
type Report struct {
	// Checked are the items checked, in order, whether they passed or not.
	Checked []string
	// Problems are the failures, in the order found; none means the
	// service passed.
	Problems []Problem
	// Skipped are the items not checked, each with the reason, like
	// "wiring (no fault controller)".
	Skipped []string
	// Elapsed is how long Check took.
	Elapsed time.Duration
}

// OK reports whether no problem was found.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// String prints one line per item: "ok", "FAIL" (one line per problem) or
// "skip", then the time taken.
func (r Report) String() string {
	var b strings.Builder
	for _, item := range r.Checked {
		failed := false
		for _, p := range r.Problems {
			if p.Item == item {
				failed = true
				fmt.Fprintf(&b, "FAIL  %s\n", p)
			}
		}
		if !failed {
			fmt.Fprintf(&b, "ok    %s\n", item)
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "skip  %s\n", s)
	}
	fmt.Fprintf(&b, "preflight took %v", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

func (r *Report) checked(item string) {
	if slices.Contains(r.Checked, item) {
		return
	}
	r.Checked = append(r.Checked, item)
}

func (r *Report) problem(item, got, fix string) {
	r.checked(item)
	r.Problems = append(r.Problems, Problem{Item: item, Got: got, Fix: fix})
}

func (r *Report) skip(what string) { r.Skipped = append(r.Skipped, what) }

// Check runs the checks against t and returns what it found. A service
// that fails a check is a Problem in the Report, not an error; the error
// is for a check that could not run: ctx ended (the Report then holds what
// was found so far), or a fault could not be removed from the proxies.
func Check(ctx context.Context, t Target) (Report, error) {
	start := time.Now()
	if t.Ready == "" {
		t.Ready = "/readyz"
	}
	hc := t.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: ClientTimeout}
	}
	c := &checker{t: t, api: api{hc: hc, base: strings.TrimRight(t.URL, "/"), env: t.Environment, token: t.AdminToken}}
	err := c.run(ctx)
	c.rep.Elapsed = time.Since(start)
	return c.rep, err
}

// checker holds one Check's state.
type checker struct {
	t   Target
	api api
	rep Report

	keys                  []string // seeded keys known, Flag first
	enabled, enabledKnown bool     // Flag's "enabled" as read
	version               int64    // Flag's version as read (version mode)
	versionKnown          bool
}

func (c *checker) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if !c.readiness(ctx) {
		c.rep.skip("everything else (the service does not answer)")
		return c.ctxErr(ctx)
	}
	c.keys = appendNew(nil, append([]string{c.t.Flag}, c.t.Flags...)...)
	steps := []func(context.Context){c.list, c.get, c.unknownKey, c.patch}
	for _, step := range steps {
		if ctx.Err() != nil {
			return c.ctxErr(ctx)
		}
		step(ctx)
	}
	if ctx.Err() != nil {
		return c.ctxErr(ctx)
	}
	return c.wiring(ctx)
}

func (c *checker) ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	return nil
}

// appendNew appends the non-empty keys not in list yet.
func appendNew(list []string, keys ...string) []string {
	for _, k := range keys {
		if k != "" && !slices.Contains(list, k) {
			list = append(list, k)
		}
	}
	return list
}
