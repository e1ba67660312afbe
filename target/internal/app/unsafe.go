package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Unsafe holds the deliberately UNSAFE switches. Each one breaks one
// resilience property of the cache on purpose, so that the harness can
// prove it fails a target that lacks it (issue 5: "the harness must fail
// bad targets"). They are read from the environment only (there are no
// command-line flags for them), only the exact value "true" turns one on,
// every one that is on is logged at WARN at start-up, and none of them is
// part of a profile: the hardened and seed profiles are unchanged unless a
// variable is set. Never set them outside a test of the harness.
type Unsafe struct {
	// NoDBFallback (UNSAFE_NO_DB_FALLBACK): a failed Redis read (an error,
	// a timeout or an open circuit) answers 503 instead of reading the
	// database; no in-process copy is served for it either. A miss still
	// reads the database.
	NoDBFallback bool
	// NaiveInvalidation (UNSAFE_NAIVE_INVALIDATION): an update commits to
	// the database and sends one DEL; if Redis is down the DEL is lost. No
	// durable (retried) invalidation, no generation guard on fills, no
	// second DEL: after a Redis outage, Redis serves the versions from
	// before it until their TTL.
	NaiveInvalidation bool
	// UnboundedRetries (UNSAFE_UNBOUNDED_RETRIES): every failed Redis
	// command is retried at once, without backoff, up to UnsafeRetries
	// times, inside one circuit-breaker call: a sick Redis gets a retry
	// storm and every read waits out all of it.
	UnboundedRetries bool
	// BlockingColdStart (UNSAFE_BLOCKING_COLD_START): start-up waits until
	// Redis answers PING before it listens, so the server is neither
	// ready nor serving while Redis is unreachable.
	BlockingColdStart bool
	// NoRedisTimeout (UNSAFE_NO_REDIS_TIMEOUT): no dial, read, write or
	// pool timeouts on Redis: a blackholed Redis hangs every request that
	// touches it until the network gives the data back.
	NoRedisTimeout bool
	// IgnoreUnknownOutcome (UNSAFE_IGNORE_UNKNOWN_OUTCOME): an update whose
	// store call failed without saying whether it committed (a timeout, a
	// lost connection) answers 503 and invalidates nothing, and the
	// update runs under the client's context: a commit that lands after
	// the answer leaves Redis serving the old version until its TTL
	// (issue 12, finding 2, as it was).
	IgnoreUnknownOutcome bool
}

// UnsafeRetries is how often UNSAFE_UNBOUNDED_RETRIES retries a command:
// unbounded for every practical purpose (with hardened's 20 ms budget a
// blackholed command takes ~40 s), but finite, so that a broken test
// target cannot spin for ever.
const UnsafeRetries = 1000

// unsafeForever stands for "no timeout" where go-redis has no such value
// (a dial timeout of 0 means its default, 5 s).
const unsafeForever = 24 * time.Hour

// unsafeSwitch is one UNSAFE_ variable.
type unsafeSwitch struct {
	Var   string
	What  string
	field func(*Unsafe) *bool
}

// unsafeSwitches lists the switches in the order help and logs show them.
var unsafeSwitches = []unsafeSwitch{
	{"UNSAFE_NO_DB_FALLBACK", "a Redis failure answers 503 instead of reading the database",
		func(u *Unsafe) *bool { return &u.NoDBFallback }},
	{"UNSAFE_NAIVE_INVALIDATION", "an update sends one DEL, lost if Redis is down: no durable invalidation, no generation guard",
		func(u *Unsafe) *bool { return &u.NaiveInvalidation }},
	{"UNSAFE_UNBOUNDED_RETRIES", fmt.Sprintf("a failed Redis command is retried at once, up to %d times, no backoff", UnsafeRetries),
		func(u *Unsafe) *bool { return &u.UnboundedRetries }},
	{"UNSAFE_BLOCKING_COLD_START", "start-up waits for Redis before listening: not ready while Redis is down",
		func(u *Unsafe) *bool { return &u.BlockingColdStart }},
	{"UNSAFE_NO_REDIS_TIMEOUT", "no Redis dial, read, write or pool timeouts: a blackholed Redis hangs requests",
		func(u *Unsafe) *bool { return &u.NoRedisTimeout }},
	{"UNSAFE_IGNORE_UNKNOWN_OUTCOME", "an update of unknown outcome (a database timeout mid-commit) invalidates nothing: a late commit stays stale in Redis for the TTL",
		func(u *Unsafe) *bool { return &u.IgnoreUnknownOutcome }},
}

// UnsafeVars are the names of the UNSAFE_ variables.
func UnsafeVars() []string {
	out := make([]string, len(unsafeSwitches))
	for i, s := range unsafeSwitches {
		out[i] = s.Var
	}
	return out
}

// unsafeFromEnv reads the switches: unset, "" or "false" is off, "true"
// is on, anything else is an error (so a typo is not silently off).
func unsafeFromEnv(getenv func(string) string) (Unsafe, []error) {
	var u Unsafe
	var errs []error
	for _, s := range unsafeSwitches {
		switch v := getenv(s.Var); v {
		case "", "false":
		case "true":
			*s.field(&u) = true
		default:
			errs = append(errs, fmt.Errorf("%s: want true (UNSAFE: %s) or unset, got %q", s.Var, s.What, v))
		}
	}
	return u, errs
}

// Enabled lists the variables of the switches that are on.
func (u Unsafe) Enabled() []string {
	var out []string
	for _, s := range unsafeSwitches {
		if *s.field(&u) {
			out = append(out, s.Var)
		}
	}
	return out
}

// warn logs every switch that is on, at WARN.
func (u Unsafe) warn(log *slog.Logger) {
	for _, s := range unsafeSwitches {
		if *s.field(&u) {
			log.Warn("UNSAFE configuration: never use outside a test of the harness", "switch", s.Var, "effect", s.What)
		}
	}
}

// apply returns the profile with the switches' settings.
func (u Unsafe) apply(p Profile) Profile {
	if u.NoDBFallback {
		p.Service.NoCacheFallback = true
	}
	if u.IgnoreUnknownOutcome {
		p.Service.IgnoreUnknownOutcome = true
		p.Service.ReconcileInterval = 0
	}
	if u.NaiveInvalidation {
		p.Service.DurableInvalidation = false
		p.Service.GuardedFill = false
		p.Service.InvalidationRecheck = 0
		p.Service.ReconcileInterval = 0
	}
	if u.UnboundedRetries {
		p.Redis.MaxRetries = UnsafeRetries
		p.Redis.RetryBackoff = nil
	}
	if u.NoRedisTimeout {
		p.Redis.DialTimeout = unsafeForever
		p.Redis.ReadTimeout = -1 // go-redis: no deadline
		p.Redis.WriteTimeout = -1
		p.Redis.PoolTimeout = unsafeForever
	}
	return p
}

// unsafeHelp is the UNSAFE section of flagserver help.
func unsafeHelp() string {
	var b strings.Builder
	b.WriteString("\nUNSAFE switches (environment only, value true; each breaks one resilience property on purpose,\nso that the flagstorm harness can prove it catches it; never set them in production):\n")
	for _, s := range unsafeSwitches {
		fmt.Fprintf(&b, "  %-28s %s\n", s.Var, s.What)
	}
	return b.String()
}

// waitForRedis pings until Redis answers or ctx ends (UNSAFE_BLOCKING_COLD_START).
func waitForRedis(ctx context.Context, c *redis.Client) error {
	const interval = 20 * time.Millisecond
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for redis (UNSAFE_BLOCKING_COLD_START): %w (last: %w)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}
