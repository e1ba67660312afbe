package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the zero Config.
const (
	DefaultInstances    = 1
	DefaultProfile      = "hardened"
	DefaultSeedFlags    = 100
	DefaultReadyTimeout = 30 * time.Second
	// MaxInstances bounds Config.Instances (a typo guard: each instance is
	// a process with its own connection pools).
	MaxInstances = 64
)

// Profiles are the flagserver cache profiles (ARCHITECTURE §2).
var Profiles = []string{"hardened", "seed"}

// Database says where the flagservers keep their flags.
type Database int

const (
	// DatabaseAuto picks, in order: Config.DatabaseURL if set; a throwaway
	// PostgreSQL cluster if initdb and postgres are installed; else SQLite.
	DatabaseAuto Database = iota
	// DatabaseGiven is the PostgreSQL server of Config.DatabaseURL.
	DatabaseGiven
	// DatabaseThrowaway is a PostgreSQL cluster the stack initializes in a
	// temporary directory (initdb) and removes on Close. Its superuser
	// has a random password (scram-sha-256), carried by
	// Endpoints.DatabaseURL and printed only redacted.
	DatabaseThrowaway
	// DatabaseSQLite is the flagserver's embedded SQLite, one file in the
	// run directory shared by every instance. There is no postgres proxy:
	// database faults are unavailable.
	DatabaseSQLite
)

var databaseNames = [...]string{
	DatabaseAuto:      "auto",
	DatabaseGiven:     "url",
	DatabaseThrowaway: "throwaway",
	DatabaseSQLite:    "sqlite",
}

// String returns "auto", "url", "throwaway" or "sqlite".
func (d Database) String() string {
	if d >= 0 && int(d) < len(databaseNames) {
		return databaseNames[d]
	}
	return "Database(" + strconv.Itoa(int(d)) + ")"
}

// ParseDatabase parses a Database name; "" is auto. "url" is implied by a
// database URL and not accepted here.
func ParseDatabase(s string) (Database, error) {
	switch s {
	case "", "auto":
		return DatabaseAuto, nil
	case "throwaway":
		return DatabaseThrowaway, nil
	case "sqlite":
		return DatabaseSQLite, nil
	}
	return 0, fmt.Errorf("database %q: want auto, throwaway or sqlite (or give a database URL)", s)
}

// Config configures a [Stack]. The zero Config starts one hardened
// flagserver with Redis primary and replica, a database as [DatabaseAuto]
// finds one, and the Toxiproxy proxies, in a temporary directory.
type Config struct {
	// Instances is how many flagserver processes run. Default 1.
	Instances int
	// Profiles are the instances' cache profiles, "hardened" or "seed":
	// one per instance, or one for all. Default hardened.
	Profiles []string
	// FlagserverBin is the flagserver executable. "" tries, in order,
	// flagserver next to the running executable, bin/flagserver in the
	// working directory, and flagserver on PATH.
	FlagserverBin string
	// RedisServerBin is the redis-server executable; "" finds it on PATH.
	RedisServerBin string

	// Database chooses the database; default DatabaseAuto.
	Database Database
	// DatabaseURL is a PostgreSQL URL (postgres://user:pass@host:port/db)
	// the flagservers use, through the postgres proxy; the stack neither
	// creates nor drops it. It must name one TCP host. "" lets Database
	// decide. In external mode it is only reported (for the oracle) and,
	// when External.PostgresUpstream is empty, gives its address.
	DatabaseURL string
	// SeedFlags is how many flags per environment each flagserver seeds
	// at start if missing (idempotent, so every instance seeds). 0 means
	// 100; -1 seeds none.
	SeedFlags int
	// AdminToken is the bearer token for PATCH. "" means a random one,
	// reported by Endpoints (in external mode: none).
	AdminToken string
	// MemoryCacheTTL is passed as MEMORY_CACHE_TTL. Nil: the profile's
	// own (hardened 1s, seed off); 0 switches the in-process cache off.
	MemoryCacheTTL *time.Duration
	// Env is extra flagserver environment (CACHE_TTL, ENVIRONMENTS, ...),
	// applied after the stack's own variables, which it may override;
	// LISTEN_ADDR is reserved. The flagserver variables of this process's
	// environment are not passed on.
	Env map[string]string

	// ToxiproxyAPI is where to serve the Toxiproxy HTTP API, so that
	// toxiproxy-cli can drive the proxies too: "" (default) serves none;
	// "127.0.0.1:0" picks a free port. Keep it on loopback: it has no
	// authentication.
	ToxiproxyAPI string

	// Dir is the run directory: logs, Redis and SQLite data. "" means a
	// new temporary directory, removed on Close unless KeepDir. A Dir you
	// give is created if missing and never removed. A throwaway PostgreSQL
	// cluster lives in its own temporary directory (its user must be able
	// to traverse the path), always removed.
	Dir string
	// KeepDir keeps the temporary run directory after Close. Without it,
	// the directory holds the pid of its owner, and a later Start removes
	// it if that process died without removing it.
	KeepDir bool

	// External, if set, tests a service the stack did not start: only the
	// proxies run, in front of the given upstreams.
	External *External

	// DeferTargets, if set, makes Start leave the flagservers stopped: it
	// picks their addresses (Endpoints lists their URLs), seeds the
	// database once (flagserver seed), and returns; [Stack.StartTargets]
	// starts them later, for instance once a fault on the redis proxy is
	// on (a cold start while Redis is unreachable). Not in external mode.
	DeferTargets bool

	// Command, if set, runs a service described by a target description
	// instead of flagserver (Profiles and MemoryCacheTTL do not apply;
	// Env is added to its environment). It needs PostgreSQL.
	Command *Command

	// ReadyTimeout bounds the wait for each component to become ready
	// (not initdb). Default 30 s.
	ReadyTimeout time.Duration
	// Logger receives progress and the readiness time; nil discards.
	Logger *slog.Logger
}

// External describes the user's own service and the backends it uses.
// The stack starts a proxy (on the Listen address, default 127.0.0.1 and
// a free port) for each upstream given; point the service at the proxies'
// addresses (Endpoints.Proxies). Fixed Listen addresses let that
// configuration be static.
type External struct {
	// TargetURL is the service's base URL, like http://127.0.0.1:8080.
	// Required.
	TargetURL string
	// RedisUpstream is the Redis primary (host:port) behind proxy redis.
	RedisUpstream string
	// RedisReplicaUpstream is a Redis replica behind proxy redis-replica.
	RedisReplicaUpstream string
	// PostgresUpstream is the PostgreSQL server behind proxy postgres;
	// default: the host and port of Config.DatabaseURL, if set.
	PostgresUpstream string
	// RedisListen, RedisReplicaListen and PostgresListen are the proxies'
	// listen addresses (host:port).
	RedisListen, RedisReplicaListen, PostgresListen string
}

// Proxy names.
const (
	ProxyRedis        = "redis"
	ProxyRedisReplica = "redis-replica"
	ProxyPostgres     = "postgres"
)

// withDefaults returns cfg with the documented defaults filled in, or
// every problem found.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("ready timeout: %v; want > 0", cfg.ReadyTimeout))
	}
	if cfg.External != nil {
		errs = append(errs, cfg.External.validate(cfg.DatabaseURL))
		if cfg.DeferTargets {
			errs = append(errs, errors.New("defer targets: the stack starts no flagserver in external mode"))
		}
		if cfg.ToxiproxyAPI != "" {
			errs = append(errs, checkHostPort("toxiproxy API address", cfg.ToxiproxyAPI))
		}
		if cfg.DatabaseURL != "" {
			if _, _, err := proxiedURL(cfg.DatabaseURL, ""); err != nil {
				errs = append(errs, err)
			}
		}
		return cfg, errors.Join(errs...)
	}

	if cfg.Instances == 0 {
		cfg.Instances = DefaultInstances
	}
	if cfg.Instances < 0 || cfg.Instances > MaxInstances {
		errs = append(errs, fmt.Errorf("instances: %d; want 1 to %d", cfg.Instances, MaxInstances))
	}
	switch n := len(cfg.Profiles); {
	case n == 0:
		cfg.Profiles = []string{DefaultProfile}
	case n != 1 && n != cfg.Instances:
		errs = append(errs, fmt.Errorf("profiles: %d given for %d instances; give one for all or one per instance", n, cfg.Instances))
	}
	for _, p := range cfg.Profiles {
		if !validProfile(p) {
			errs = append(errs, fmt.Errorf("profile %q: want %s", p, strings.Join(Profiles, " or ")))
		}
	}
	if len(cfg.Profiles) == 1 && cfg.Instances > 1 {
		one := cfg.Profiles[0]
		cfg.Profiles = make([]string, cfg.Instances)
		for i := range cfg.Profiles {
			cfg.Profiles[i] = one
		}
	} else {
		cfg.Profiles = append([]string(nil), cfg.Profiles...)
	}

	switch cfg.Database {
	case DatabaseAuto, DatabaseGiven:
		if cfg.DatabaseURL != "" {
			cfg.Database = DatabaseGiven
		} else if cfg.Database == DatabaseGiven {
			errs = append(errs, errors.New("database url: no database URL given"))
		}
	case DatabaseThrowaway, DatabaseSQLite:
		if cfg.DatabaseURL != "" {
			errs = append(errs, fmt.Errorf("database %s: a database URL is given too; use one or the other", cfg.Database))
		}
	default:
		errs = append(errs, fmt.Errorf("database: unknown %v", cfg.Database))
	}
	if cfg.DatabaseURL != "" {
		if _, _, err := proxiedURL(cfg.DatabaseURL, ""); err != nil {
			errs = append(errs, err)
		}
	}

	switch {
	case cfg.SeedFlags == 0:
		cfg.SeedFlags = DefaultSeedFlags
	case cfg.SeedFlags == -1:
		cfg.SeedFlags = 0
	case cfg.SeedFlags < 0:
		errs = append(errs, fmt.Errorf("seed flags: %d; want a number of flags per environment, or -1 for none", cfg.SeedFlags))
	}
	if cfg.MemoryCacheTTL != nil && *cfg.MemoryCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("memory cache TTL: %v; want 0 (off) or more", *cfg.MemoryCacheTTL))
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = randomHex(16)
	}
	if strings.ContainsAny(cfg.AdminToken, " \t\r\n") {
		errs = append(errs, errors.New("admin token: must not contain white space"))
	}
	for k := range cfg.Env {
		if k == "LISTEN_ADDR" {
			errs = append(errs, errors.New("env: LISTEN_ADDR is chosen by the stack"))
		} else if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, fmt.Errorf("env: invalid variable name %q", k))
		}
	}
	if cfg.ToxiproxyAPI != "" {
		errs = append(errs, checkHostPort("toxiproxy API address", cfg.ToxiproxyAPI))
	}
	return cfg, errors.Join(errs...)
}

// Validate reports every problem of the configuration at once.
func (cfg Config) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

func validProfile(p string) bool {
	for _, q := range Profiles {
		if p == q {
			return true
		}
	}
	return false
}

func (x *External) validate(databaseURL string) error {
	var errs []error
	u, err := url.Parse(x.TargetURL)
	switch {
	case x.TargetURL == "":
		errs = append(errs, errors.New("external mode: a target URL is required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("target URL %q: want http://host:port", x.TargetURL))
	}
	if x.RedisUpstream == "" && x.RedisReplicaUpstream == "" && x.PostgresUpstream == "" && databaseURL == "" {
		errs = append(errs, errors.New("external mode: give at least one upstream to proxy (redis, redis replica or postgres)"))
	}
	for _, a := range []struct{ what, addr string }{
		{"redis upstream", x.RedisUpstream},
		{"redis replica upstream", x.RedisReplicaUpstream},
		{"postgres upstream", x.PostgresUpstream},
		{"redis listen address", x.RedisListen},
		{"redis replica listen address", x.RedisReplicaListen},
		{"postgres listen address", x.PostgresListen},
	} {
		if a.addr != "" {
			errs = append(errs, checkHostPort(a.what, a.addr))
		}
	}
	for _, a := range []struct{ what, listen, upstream string }{
		{"redis", x.RedisListen, x.RedisUpstream},
		{"redis replica", x.RedisReplicaListen, x.RedisReplicaUpstream},
		{"postgres", x.PostgresListen, x.PostgresUpstream + databaseURL},
	} {
		if a.listen != "" && a.upstream == "" {
			errs = append(errs, fmt.Errorf("%s listen address given without a %s upstream", a.what, a.what))
		}
	}
	return errors.Join(errs...)
}

// checkHostPort checks a host:port address.
func checkHostPort(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: want host:port: %w", what, addr, err)
	}
	if host == "" {
		return fmt.Errorf("%s %q: give a host (127.0.0.1 to stay on this machine)", what, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s %q: bad port", what, addr)
	}
	return nil
}

// proxiedURL returns the address (host:port) of the server a PostgreSQL
// URL names and, if listen is not "", the URL with that address replaced by
// listen.
func proxiedURL(raw, listen string) (upstream, proxied string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", errors.New("database URL: want postgres://user:password@host:port/database (key=value strings are not supported)")
	}
	q := u.Query()
	for _, k := range []string{"host", "hostaddr", "port"} {
		if q.Has(k) {
			return "", "", fmt.Errorf("database URL %s: the %s parameter is not supported: put one TCP host:port in the URL", redact(raw), k)
		}
	}
	if u.Host == "" || strings.Contains(u.Host, ",") {
		return "", "", fmt.Errorf("database URL %s: want exactly one TCP host:port (Unix sockets and multiple hosts cannot go through the proxy)", redact(raw))
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	upstream = net.JoinHostPort(host, port)
	if listen != "" {
		u.Host = listen
		proxied = u.String()
	}
	return upstream, proxied, nil
}
