package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

// Config is the server's configuration, read from the environment
// (12-factor) and overridden by command-line flags. Every field names its
// variable and default.
type Config struct {
	// ListenAddr (LISTEN_ADDR) is the HTTP address. Default 127.0.0.1:8080;
	// use :8080 to listen on every interface (containers).
	ListenAddr string
	// DatabaseURL (DATABASE_URL) is a PostgreSQL URL. Empty: an embedded
	// SQLite file at SQLitePath, so the server runs anywhere.
	DatabaseURL string
	// DatabaseMaxConns (DATABASE_MAX_CONNS) is the most PostgreSQL
	// connections the server opens. 0 (default): pool_max_conns in
	// DATABASE_URL if given, else pgx's default, the greater of 4 and the
	// number of CPUs. A database slower than it is busy (network latency)
	// needs more: each query holds a connection for its round trips.
	DatabaseMaxConns int
	// SQLitePath (SQLITE_PATH) is the SQLite file. Default flagserver.db.
	SQLitePath string
	// RedisURL (REDIS_URL) is the cache, e.g. redis://127.0.0.1:6379/0.
	// Empty: no Redis; reads go to the in-process cache and the database.
	RedisURL string
	// Profile (CACHE_PROFILE) is "hardened" (default) or "seed".
	Profile string
	// CacheTTL (CACHE_TTL) is the Redis TTL. Default 300s. With the hardened
	// profile's jitter, entries live between CacheTTL-10% and CacheTTL.
	CacheTTL time.Duration
	// MemoryCacheTTL (MEMORY_CACHE_TTL) is how long the in-process cache
	// answers without asking Redis. Nil: the profile's (hardened 1s, seed
	// off). 0 switches it off, so Redis is on every read path.
	MemoryCacheTTL *time.Duration
	// AdminToken (ADMIN_TOKEN) is the bearer token PATCH requires. Empty:
	// updates are refused.
	AdminToken string
	// Environments (ENVIRONMENTS, comma separated) are the known
	// environments. Default development,staging,production.
	Environments []string
	// SeedFlags (SEED_FLAGS) seeds this many flags per environment at start
	// if they are missing (existing flags are left alone). 0: no seeding.
	SeedFlags int
	// LogLevel (LOG_LEVEL) is debug, info (default), warn or error.
	LogLevel string
	// LogFormat (LOG_FORMAT) is json or text. Default: text on a terminal,
	// json otherwise.
	LogFormat string
	// Unsafe are the deliberately UNSAFE switches (UNSAFE_*, environment
	// only, see Unsafe). The zero value, every switch off, is the only
	// setting for anything but a test of the harness.
	Unsafe Unsafe
}

// DefaultEnvironments are the environments a server knows when
// ENVIRONMENTS is unset.
var DefaultEnvironments = []string{"development", "staging", "production"}

// ConfigFromEnv reads the configuration from environment variables through
// getenv (os.Getenv in main). Every value that does not parse is reported,
// naming its variable; call Validate once flags have overridden it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		ListenAddr:   or(getenv("LISTEN_ADDR"), "127.0.0.1:8080"),
		DatabaseURL:  getenv("DATABASE_URL"),
		SQLitePath:   or(getenv("SQLITE_PATH"), "flagserver.db"),
		RedisURL:     getenv("REDIS_URL"),
		Profile:      or(getenv("CACHE_PROFILE"), "hardened"),
		AdminToken:   getenv("ADMIN_TOKEN"),
		Environments: DefaultEnvironments,
		LogLevel:     or(getenv("LOG_LEVEL"), "info"),
		LogFormat:    getenv("LOG_FORMAT"),
	}
	unsafe, errs := unsafeFromEnv(getenv)
	c.Unsafe = unsafe
	if v := getenv("CACHE_TTL"); v != "" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("CACHE_TTL: want a positive duration such as 300s, got %q", v))
		}
		c.CacheTTL = d
	}
	if v := getenv("MEMORY_CACHE_TTL"); v != "" {
		d, err := parseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("MEMORY_CACHE_TTL: want a duration such as 1s, or 0 to switch the in-process cache off, got %q", v))
		}
		c.MemoryCacheTTL = &d
	}
	if v := getenv("ENVIRONMENTS"); v != "" {
		c.Environments = nil
		for _, e := range strings.Split(v, ",") {
			c.Environments = append(c.Environments, strings.TrimSpace(e))
		}
	}
	if v := getenv("DATABASE_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxDatabaseConns {
			errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS: want a number of connections from 1 to %d, or 0 for the default, got %q", maxDatabaseConns, v))
		}
		c.DatabaseMaxConns = n
	}
	if v := getenv("SEED_FLAGS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("SEED_FLAGS: want a number of flags per environment (0 for none), got %q", v))
		}
		c.SeedFlags = n
	}
	return c, errors.Join(errs...)
}

// maxDatabaseConns bounds DATABASE_MAX_CONNS below PostgreSQL's own
// default max_connections (100) with room for others.
const maxDatabaseConns = 90

// Validate checks the fields that have no natural zero.
func (c Config) Validate() error {
	var errs []error
	if _, err := LookupProfile(c.Profile); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseMaxConns < 0 || c.DatabaseMaxConns > maxDatabaseConns {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS: want a number of connections from 1 to %d, or 0 for the default, got %d", maxDatabaseConns, c.DatabaseMaxConns))
	}
	if len(c.Environments) == 0 {
		errs = append(errs, errors.New("ENVIRONMENTS: at least one environment is required"))
	}
	for _, e := range c.Environments {
		if !flags.ValidEnvironment(e) {
			errs = append(errs, fmt.Errorf("ENVIRONMENTS: %q is not a valid environment name (lower-case letters, digits and '-', starting with a letter)", e))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: want json or text, got %q", c.LogFormat))
	}
	return errors.Join(errs...)
}

// parseDuration takes Go durations ("300s", "1m") and, for convenience,
// bare seconds ("300").
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
