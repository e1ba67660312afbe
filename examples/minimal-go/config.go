package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// defect is a deliberately broken build, chosen by DEFECT.
type defect int

const (
	correct          defect = iota // DEFECT empty
	staleAfterOutage               // a failed invalidation is logged and forgotten
	errorOnRedis                   // a Redis failure answers 500 instead of reading the database
	slowFallback                   // 2 s Redis timeouts, 3 retries, no breaker
	bypass                         // Redis at REDIS_HOST:REDIS_PORT, not REDIS_URL
)

var defectNames = []string{"", "stale-after-outage", "error-on-redis", "slow-fallback", "bypass"}

func (d defect) String() string {
	if d == correct {
		return "none"
	}
	return defectNames[d]
}

func parseDefect(s string) (defect, error) {
	for i, name := range defectNames {
		if s == name {
			return defect(i), nil
		}
	}
	return 0, fmt.Errorf("unknown DEFECT %q: want empty (a correct build) or one of %s", s, strings.Join(defectNames[1:], ", "))
}

// config is everything the service reads from its environment.
type config struct {
	ListenAddr  string         // LISTEN_ADDR, default 127.0.0.1:8090
	DatabaseURL string         // DATABASE_URL, required
	AdminToken  string         // ADMIN_TOKEN; empty refuses every write
	Redis       *redis.Options // from REDIS_URL (default redis://127.0.0.1:6379/0)
	Defect      defect         // DEFECT, default empty (correct)

	SeedFlags        int      // SEED_FLAGS, default 100 (seed only)
	SeedEnvironments []string // SEED_ENVIRONMENTS, default production,staging,development (seed only)
}

// loadConfig reads the environment through getenv and returns every
// problem at once.
func loadConfig(getenv func(string) string) (config, error) {
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var errs []error
	cfg := config{
		ListenAddr:  or("LISTEN_ADDR", "127.0.0.1:8090"),
		DatabaseURL: getenv("DATABASE_URL"),
		AdminToken:  getenv("ADMIN_TOKEN"),
	}
	d, err := parseDefect(getenv("DEFECT"))
	errs = append(errs, err)
	cfg.Defect = d
	if cfg.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required (a PostgreSQL URL, e.g. postgres://user:pass@127.0.0.1:5432/flags)"))
	}
	if d == bypass {
		// The defect: the address comes from variables a proxy in REDIS_URL never sees.
		cfg.Redis = &redis.Options{Addr: net.JoinHostPort(or("REDIS_HOST", "127.0.0.1"), or("REDIS_PORT", "6379"))}
	} else if cfg.Redis, err = redis.ParseURL(or("REDIS_URL", "redis://127.0.0.1:6379/0")); err != nil {
		errs = append(errs, fmt.Errorf("REDIS_URL: %w", err))
	}
	if cfg.Redis != nil {
		setRedisTimeouts(cfg.Redis, d)
	}
	cfg.SeedFlags, err = strconv.Atoi(or("SEED_FLAGS", "100"))
	if err != nil || cfg.SeedFlags < 0 {
		errs = append(errs, fmt.Errorf("SEED_FLAGS %q: want a number >= 0", getenv("SEED_FLAGS")))
	}
	for e := range strings.SplitSeq(or("SEED_ENVIRONMENTS", "production,staging,development"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.SeedEnvironments = append(cfg.SeedEnvironments, e)
		}
	}
	return cfg, errors.Join(errs...)
}

// setRedisTimeouts makes a failing Redis cost at most a few tens of
// milliseconds per request (with the breaker, microseconds): reads are
// not retried, the database answers instead.
func setRedisTimeouts(o *redis.Options, d defect) {
	if d == slowFallback {
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		o.MaxRetries = 3
		return
	}
	o.DialTimeout = 100 * time.Millisecond
	o.ReadTimeout = 20 * time.Millisecond
	o.WriteTimeout = 20 * time.Millisecond
	o.PoolTimeout = 20 * time.Millisecond
	o.MaxRetries = -1 // no retries
	o.DialerRetries = 1
}
