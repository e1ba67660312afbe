// Package stack starts flagstorm's local stack (ARCHITECTURE §1, §3): a
// Redis primary and replica (real redis-server processes on free loopback
// ports, no persistence), a database (a PostgreSQL server given by URL, a
// throwaway cluster, or the flagserver's embedded SQLite), an in-process
// Toxiproxy with the proxies redis, redis-replica and postgres, and N
// flagserver processes wired through the proxies. `flagstorm stack` and
// `flagstorm run` both use it.
//
// In external mode ([External]) it tests a service it did not start: only
// the proxies run, in front of the user's Redis and PostgreSQL, and the
// user points the service at them.
//
// Every child process runs in its own process group (a Ctrl-C at the
// terminal reaches flagstorm only, which then stops the children in
// order) and, on Linux, is SIGKILLed by the kernel if flagstorm dies
// without stopping it. [Stack.Close] stops and reaps them all.
//
// The harness reaches flagserver only over HTTP and runs it as a binary;
// it imports nothing from target/.
package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/logfile"
	"github.com/flagstorm/flagstorm/internal/pgcluster"
	"github.com/flagstorm/flagstorm/internal/redisproc"
	"github.com/flagstorm/flagstorm/toxics"
)

const (
	// closeTimeout bounds Close as a whole.
	closeTimeout = 30 * time.Second
	// stopGrace is how long a flagserver has to exit after SIGTERM before
	// SIGKILL.
	stopGrace = 5 * time.Second
	// reapTimeout bounds the wait for a SIGKILLed process to be reaped.
	reapTimeout = 5 * time.Second
	// pollInterval is how often a condition being waited for is checked.
	pollInterval = 10 * time.Millisecond
	// readyPollInterval is how often a starting flagserver's /readyz is
	// asked: its start time is measured (a cold start has a 500 ms
	// budget), so to within a few milliseconds.
	readyPollInterval = 2 * time.Millisecond
	// logTail is how much of a process's log goes into an error.
	logTail = 2048
	// pgDirPrefix names the directories of throwaway clusters; the pid of
	// the flagstorm process follows, so that a later stack can remove the
	// clusters of one that died.
	pgDirPrefix = "flagstorm-stack-pg-"
	// pgDatabase is the database created in a throwaway cluster.
	pgDatabase = "flagstorm"
	// runDirPrefix names the temporary run directories.
	runDirPrefix = "flagstorm-stack-"
	// ownerFile, in a temporary run directory, holds the pid of the
	// flagstorm process that made it, so that a later stack can remove the
	// directory of one that died (SIGKILL) before it could.
	ownerFile = "owner.pid"
	// databaseURLFile, in the run directory of a throwaway cluster, holds
	// the database's URL with its password (mode 0600); everything printed
	// or logged shows the URL redacted.
	databaseURLFile = "database-url"
	// redisPasswordFile, in the run directory, holds the password both
	// Redis servers require (mode 0600); nothing printed or logged shows
	// it.
	redisPasswordFile = "redis-password"
	// adminTokenFile, in the run directory, holds the flagservers' admin
	// token (mode 0600); nothing printed or logged shows it.
	adminTokenFile = "admin-token"
)

// redisArgs are given to both Redis servers (they swap roles in a
// failover). A full sync through a file rather than a socket: after a
// diskless sync, Redis 7 holds the replication stream back until the
// replica's first ACK, which often comes only with its once-a-second cron,
// so a replica took 30 ms or 1.03 s to be ready (toxics waits until the
// stream flows); through a file it takes ~0.1 s every time. The file is
// deleted after the sync and no snapshot is ever loaded at start (each run
// of a server has an empty data directory).
var redisArgs = []string{"--repl-diskless-sync", "no", "--rdb-del-sync-files", "yes"}

// ErrFlagserverNotFound: there is no flagserver binary to run.
var ErrFlagserverNotFound = errors.New("stack: flagserver binary not found")

// ErrExternal: the operation needs a process the stack started, and in
// external mode it started none.
var ErrExternal = errors.New("stack: not available in external mode")

// ComponentError says which component of the stack failed to start.
type ComponentError struct {
	// Component is "config", "redis primary", "redis replica", "postgres",
	// "toxiproxy", "proxy <name>", "flagserver" or "flagserver[i]".
	Component string
	Err       error
}

func (e *ComponentError) Error() string { return e.Component + ": " + e.Err.Error() }
func (e *ComponentError) Unwrap() error { return e.Err }

func componentErr(component string, err error) error {
	if err == nil {
		return nil
	}
	return &ComponentError{Component: component, Err: err}
}

// Endpoints says where everything of a stack is.
type Endpoints struct {
	// TargetURLs are the flagservers' base URLs, by instance (in external
	// mode: the service's URL).
	TargetURLs []string `json:"target_urls"`
	// Profiles are the instances' cache profiles, by instance.
	Profiles []string `json:"profiles,omitempty"`
	// RedisPrimary and RedisReplica are the servers' direct addresses.
	RedisPrimary string `json:"redis_primary,omitempty"`
	RedisReplica string `json:"redis_replica,omitempty"`
	// RedisPassword is the password both Redis servers require
	// (requirepass; the replica's masterauth), random for each stack.
	// Never printed: RedisPasswordFile holds it.
	RedisPassword string `json:"-"`
	// RedisPasswordFile is the file (mode 0600, in the run directory)
	// that holds RedisPassword.
	RedisPasswordFile string `json:"redis_password_file,omitempty"`
	// Proxies maps each proxy's name to its listen address.
	Proxies map[string]string `json:"proxies"`
	// Upstreams maps each proxy's name to the address it forwards to.
	Upstreams map[string]string `json:"upstreams"`
	// Database is where the flags live: "url", "throwaway" or "sqlite";
	// "" in external mode.
	Database string `json:"database,omitempty"`
	// DatabaseURL reaches PostgreSQL directly, not through the proxy, so
	// that the oracle reads the truth whatever the faults. It carries the
	// password (a throwaway cluster has a random one): WriteJSON and
	// WriteSummary print it redacted.
	DatabaseURL string `json:"database_url,omitempty"`
	// DatabaseURLFile is the file (mode 0600, in the run directory) that
	// holds the throwaway cluster's DatabaseURL with its password.
	DatabaseURLFile string `json:"database_url_file,omitempty"`
	// SQLitePath is the flagservers' database file in SQLite mode.
	SQLitePath string `json:"sqlite_path,omitempty"`
	// ToxiproxyAPI is the base URL of the Toxiproxy HTTP API, if served.
	ToxiproxyAPI string `json:"toxiproxy_api,omitempty"`
	// AdminToken is the flagservers' bearer token for PATCH. Never
	// printed: AdminTokenFile holds it.
	AdminToken string `json:"-"`
	// AdminTokenFile is the file (mode 0600, in the run directory) that
	// holds AdminToken; "" in external mode.
	AdminTokenFile string `json:"admin_token_file,omitempty"`
	// Dir is the run directory.
	Dir string `json:"dir,omitempty"`
	// External is true in external mode.
	External bool `json:"external"`
	// Processes are the child processes running now.
	Processes []Process `json:"processes"`
}

// Process is a child process of the stack.
type Process struct {
	// Name is "flagserver[i]", "redis-primary", "redis-replica" or
	// "postgres".
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Log is the process's log file.
	Log string `json:"log,omitempty"`
}

// Stack is a running local stack. Its methods are safe for concurrent
// use. Close stops everything.
type Stack struct {
	cfg     Config
	log     *slog.Logger
	dir     string
	ownDir  bool
	flagBin string
	http    *http.Client

	proxy     *toxics.Embedded
	proxies   map[string]toxics.ProxyInfo
	primary   *toxics.RedisServer
	replica   *toxics.RedisServer
	cluster   *pgcluster.Cluster
	database  Database
	dbURL     string // direct, with the password
	dbURLFile string // holds dbURL (throwaway cluster)
	// redisPass is the password of both Redis servers; redisPassFile and
	// tokenFile hold it and the admin token (mode 0600).
	redisPass     string
	redisPassFile string
	tokenFile     string
	sqlite        string
	instances     []*instance

	readyIn time.Duration
	pgSetup time.Duration

	deferredStarted atomic.Bool // StartTargets was called

	mu sync.Mutex // guards proxies

	closeOnce sync.Once
	closeErr  error
	watchers  sync.WaitGroup // one per flagserver process
}

// Start starts the stack and waits until every component is ready:
// Redis answers PING (directly and through its proxy), PostgreSQL accepts
// connections, every flagserver answers /readyz with 200. What can start
// concurrently does: Redis and the database first, then the proxies, then
// the flagservers alongside the replica. On any failure it stops what it
// started and returns a *ComponentError naming the component, with the
// tail of its log. The caller must Close the stack.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	begin := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, componentErr("config", err)
	}
	s := &Stack{
		cfg:     cfg,
		log:     cfg.Logger,
		proxies: map[string]toxics.ProxyInfo{},
		http: &http.Client{
			Timeout:   time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.External != nil {
		err = s.startExternal(ctx)
	} else {
		err = s.start(ctx)
	}
	if err != nil {
		if cerr := s.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after the failed start: %w", cerr))
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return nil, err
	}
	s.readyIn = time.Since(begin)
	attrs := []any{"duration", s.readyIn.Round(time.Millisecond)}
	if s.pgSetup > 0 {
		attrs = append(attrs, "postgres_setup", s.pgSetup.Round(time.Millisecond))
	}
	s.log.Info("stack ready", attrs...)
	return s, nil
}

// start starts the local stack.
func (s *Stack) start(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	if err := s.startPrimaryAndDatabase(ctx); err != nil {
		return err
	}
	return s.startReplicaAndTargets(ctx)
}

// prepare finds everything that can be found missing, before anything
// starts, chooses the database, creates the run directory and the
// embedded Toxiproxy.
func (s *Stack) prepare() error {
	cfg := s.cfg
	if cfg.Command == nil {
		bin, err := findFlagserver(cfg.FlagserverBin)
		if err != nil {
			return componentErr("flagserver", err)
		}
		s.flagBin = bin
	}
	redisBin := cmp.Or(cfg.RedisServerBin, "redis-server")
	if _, err := exec.LookPath(redisBin); err != nil {
		if cfg.RedisServerBin == "" {
			return componentErr("redis primary", toxics.ErrRedisNotFound)
		}
		return componentErr("redis primary", fmt.Errorf("%w (configured binary %q: %w)", toxics.ErrRedisNotFound, cfg.RedisServerBin, err))
	}
	s.database = cfg.Database
	if s.database == DatabaseAuto {
		if pgErr := pgcluster.Available(); pgErr != nil {
			s.database = DatabaseSQLite
			s.log.Info("no DATABASE_URL and no PostgreSQL server binaries: the flagservers use SQLite; database faults are unavailable (no postgres proxy)", "reason", pgErr)
		} else {
			s.database = DatabaseThrowaway
		}
	}
	if s.database == DatabaseThrowaway {
		if err := pgcluster.Available(); err != nil {
			return componentErr("postgres", err)
		}
	}
	if s.database == DatabaseSQLite && cfg.Command != nil {
		return componentErr("postgres", fmt.Errorf("%s needs PostgreSQL (SQLite is flagserver's own): install the postgresql package for a throwaway cluster, or give --database-url", cfg.Command.Name))
	}
	if err := s.makeDir(); err != nil {
		return componentErr("config", err)
	}
	if err := s.writeSecrets(); err != nil {
		return componentErr("config", err)
	}
	if c := cfg.Command; c != nil {
		if names := service.SecretsInArgv(append(slices.Clone(c.Argv), c.SeedArgv...)); len(names) > 0 {
			s.log.Warn("the command line of the service carries secrets: any local user can read them (ps, /proc); pass them in env: instead", "service", c.Name, "placeholders", strings.Join(names, ", "))
		}
	}
	var err error
	s.proxy, err = toxics.NewEmbedded(toxics.EmbeddedConfig{APIAddr: cfg.ToxiproxyAPI})
	if err != nil {
		return componentErr("toxiproxy", err)
	}
	return nil
}

// startPrimaryAndDatabase starts the Redis primary and the database side
// by side, each with its proxy.
func (s *Stack) startPrimaryAndDatabase(ctx context.Context) error {
	cfg := s.cfg
	var wg sync.WaitGroup
	var redisErr, dbErr error
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
		defer cancel()
		t := time.Now()
		s.primary, redisErr = toxics.StartRedis(rctx, toxics.RedisConfig{
			Dir: filepath.Join(s.dir, "redis-primary"), Binary: cfg.RedisServerBin, Args: redisArgs,
			Password: s.redisPass,
		})
		var p toxics.ProxyInfo
		if redisErr == nil {
			p, redisErr = s.addProxy(rctx, ProxyRedis, "", s.primary.Addr())
		}
		if redisErr == nil {
			if redisErr = ping(rctx, p.Listen, s.redisPass); redisErr != nil {
				redisErr = fmt.Errorf("PING through proxy %s: %w", ProxyRedis, redisErr)
			}
		}
		redisErr = componentErr("redis primary", redisErr)
		s.log.Debug("redis primary ready", "duration", time.Since(t))
	})
	wg.Go(func() {
		t := time.Now()
		dbErr = componentErr("postgres", s.startDatabase(ctx))
		s.log.Debug("database ready", "database", s.database.String(), "duration", time.Since(t))
	})
	wg.Wait()
	return errors.Join(redisErr, dbErr)
}

// startReplicaAndTargets starts the replica beside the flagservers (they
// do not use it); with DeferTargets, it reserves the flagservers'
// addresses and seeds the database instead of starting them.
func (s *Stack) startReplicaAndTargets(ctx context.Context) error {
	cfg := s.cfg
	var wg sync.WaitGroup
	var replicaErr error
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
		defer cancel()
		t := time.Now()
		defer func() { s.log.Debug("redis replica ready", "duration", time.Since(t)) }()
		s.replica, replicaErr = toxics.StartRedis(rctx, toxics.RedisConfig{
			Dir: filepath.Join(s.dir, "redis-replica"), Binary: cfg.RedisServerBin, Args: redisArgs,
			ReplicaOf: s.primary.Addr(), Password: s.redisPass,
		})
		if replicaErr == nil {
			_, replicaErr = s.addProxy(rctx, ProxyRedisReplica, "", s.replica.Addr())
		}
		replicaErr = componentErr("redis replica", replicaErr)
	})
	s.instances = make([]*instance, cfg.Instances)
	errs := make([]error, cfg.Instances)
	for i := range s.instances {
		s.instances[i] = s.newInstance(i)
	}
	if cfg.Command != nil && !cfg.DeferTargets {
		if err := s.seedCommand(ctx); err != nil {
			wg.Wait()
			return errors.Join(err, replicaErr)
		}
	}
	for i := range s.instances {
		if cfg.DeferTargets {
			continue
		}
		wg.Go(func() {
			t := time.Now()
			_, errs[i] = s.instances[i].start(ctx, true)
			s.log.Debug("flagserver ready", "instance", i, "duration", time.Since(t))
		})
	}
	if cfg.DeferTargets {
		wg.Go(func() { errs[0] = s.reserveAndSeed(ctx) })
	}
	wg.Wait()
	return errors.Join(append(errs, replicaErr)...)
}

// reserveAndSeed picks the deferred flagservers' addresses and seeds the
// database with `flagserver seed`, so that a deferred start finds its
// data as a restarted server would.
func (s *Stack) reserveAndSeed(ctx context.Context) error {
	for _, in := range s.instances {
		port, err := freeport.Loopback()
		if err != nil {
			return componentErr(in.name, err)
		}
		in.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if s.cfg.Command != nil {
		return s.seedCommand(ctx)
	}
	if s.cfg.SeedFlags == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	in := s.instances[0]
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return componentErr("flagserver seed", fmt.Errorf("open the log: %w", err))
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- flagstorm: %s seed -seed %d\n", s.flagBin, s.cfg.SeedFlags)
	cmd := exec.CommandContext(ctx, s.flagBin, "seed", "-seed", strconv.Itoa(s.cfg.SeedFlags))
	cmd.Env = in.env
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Run(); err != nil {
		return componentErr("flagserver seed", fmt.Errorf("%s seed: %w\n--- %s (tail) ---\n%s", s.flagBin, err, in.logPath, s.hide(logfile.Tail(in.logPath, logTail))))
	}
	return nil
}

// StartTargets starts the flagservers of a stack configured with
// DeferTargets, all at once, and waits until each answers /readyz with
// 200 (bounded by ReadyTimeout and ctx). It returns, by instance, the
// time from starting the process to its first ready answer, and for an
// instance that was not ready, how long it was waited for; with the
// error naming it. It may be called once.
func (s *Stack) StartTargets(ctx context.Context) ([]time.Duration, error) {
	if s.cfg.External != nil {
		return nil, ErrExternal
	}
	if !s.cfg.DeferTargets {
		return nil, errors.New("stack: StartTargets: the flagservers were started by Start (DeferTargets is off)")
	}
	if !s.deferredStarted.CompareAndSwap(false, true) {
		return nil, errors.New("stack: StartTargets: already called")
	}
	ready := make([]time.Duration, len(s.instances))
	errs := make([]error, len(s.instances))
	var wg sync.WaitGroup
	for i, in := range s.instances {
		wg.Go(func() { ready[i], errs[i] = in.start(ctx, false) })
	}
	wg.Wait()
	return ready, errors.Join(errs...)
}

// startDatabase starts or checks the database and adds the postgres proxy.
func (s *Stack) startDatabase(ctx context.Context) error {
	switch s.database {
	case DatabaseSQLite:
		s.sqlite = filepath.Join(s.dir, "flagserver.db")
		return nil
	case DatabaseGiven:
		s.dbURL = s.cfg.DatabaseURL
		if err := s.checkPostgres(ctx, s.dbURL); err != nil {
			return err
		}
	case DatabaseThrowaway:
		t := time.Now()
		pgcluster.RemoveStale(ctx, pgDirPrefix)
		dir, err := os.MkdirTemp("", pgDirPrefix+strconv.Itoa(os.Getpid())+"-*")
		if err != nil {
			return fmt.Errorf("create the cluster directory: %w", err)
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, PasswordAuth: true})
		if err != nil {
			return fmt.Errorf("throwaway cluster: %w", err)
		}
		s.cluster = c
		if s.dbURL, err = c.CreateDatabase(ctx, pgDatabase); err != nil {
			return fmt.Errorf("throwaway cluster in %s: %w", c.Dir(), err)
		}
		s.dbURLFile = filepath.Join(s.dir, databaseURLFile)
		if err := writePrivate(s.dbURLFile, s.dbURL+"\n"); err != nil {
			return fmt.Errorf("throwaway cluster: write its URL: %w", err)
		}
		s.pgSetup = time.Since(t)
	}
	upstream, _, err := proxiedURL(s.dbURL, "")
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	_, err = s.addProxy(rctx, ProxyPostgres, "", upstream)
	return err
}

// checkPostgres connects to the database and runs a query.
func (s *Stack) checkPostgres(ctx context.Context, dbURL string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to the database URL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("query the database URL: %w", err)
	}
	return nil
}

// startExternal starts the proxies in front of the user's services.
func (s *Stack) startExternal(ctx context.Context) error {
	x := s.cfg.External
	var err error
	s.proxy, err = toxics.NewEmbedded(toxics.EmbeddedConfig{APIAddr: s.cfg.ToxiproxyAPI})
	if err != nil {
		return componentErr("toxiproxy", err)
	}
	s.dbURL = s.cfg.DatabaseURL
	pgUpstream := x.PostgresUpstream
	if pgUpstream == "" && s.dbURL != "" {
		pgUpstream, _, _ = proxiedURL(s.dbURL, "") // checked by withDefaults
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	var errs []error
	for _, p := range []struct{ name, listen, upstream string }{
		{ProxyRedis, x.RedisListen, x.RedisUpstream},
		{ProxyRedisReplica, x.RedisReplicaListen, x.RedisReplicaUpstream},
		{ProxyPostgres, x.PostgresListen, pgUpstream},
	} {
		if p.upstream == "" {
			continue
		}
		if _, err := s.addProxy(ctx, p.name, p.listen, p.upstream); err != nil {
			errs = append(errs, componentErr("proxy "+p.name, err))
			continue
		}
		// The user's services may start later; say so rather than fail.
		if c, err := net.DialTimeout("tcp", p.upstream, time.Second); err != nil {
			s.log.Warn("upstream does not accept connections (yet)", "proxy", p.name, "upstream", p.upstream, "err", err)
		} else {
			_ = c.Close()
		}
	}
	return errors.Join(errs...)
}

// addProxy adds a proxy listening on listen (default 127.0.0.1:0) and
// records it.
func (s *Stack) addProxy(ctx context.Context, name, listen, upstream string) (toxics.ProxyInfo, error) {
	listen = cmp.Or(listen, "127.0.0.1:0")
	info, err := s.proxy.AddProxy(ctx, name, listen, upstream)
	if err != nil {
		return info, fmt.Errorf("proxy %s (listen %s, upstream %s): %w", name, listen, upstream, err)
	}
	s.mu.Lock()
	s.proxies[name] = info
	s.mu.Unlock()
	return info, nil
}

// proxyListen returns the listen address of a proxy the stack added.
func (s *Stack) proxyListen(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxies[name].Listen
}

// makeDir creates the run directory: a temporary one (mode 0700) with
// the owner file unless KeepDir, after removing those of processes that
// died.
func (s *Stack) makeDir() error {
	if s.cfg.Dir == "" {
		removeStaleDirs(s.log)
		dir, err := os.MkdirTemp("", runDirPrefix+"*")
		if err != nil {
			return fmt.Errorf("create the run directory: %w", err)
		}
		s.dir, s.ownDir = dir, true
		if s.cfg.KeepDir {
			return nil // kept: never reclaimed
		}
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			return fmt.Errorf("create the run directory: %w", err)
		}
		return nil
	}
	dir, err := filepath.Abs(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the run directory: %w", err)
	}
	s.dir = dir
	return nil
}

// writeSecrets picks the Redis password and writes it and the admin
// token to their files in the run directory (mode 0600), for the user who
// needs them: nothing the stack prints or logs shows them.
func (s *Stack) writeSecrets() error {
	s.redisPass = randomHex(16)
	s.redisPassFile = filepath.Join(s.dir, redisPasswordFile)
	s.tokenFile = filepath.Join(s.dir, adminTokenFile)
	for _, f := range []struct{ path, value string }{{s.redisPassFile, s.redisPass}, {s.tokenFile, s.cfg.AdminToken}} {
		if err := writePrivate(f.path, f.value+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// writePrivate writes a file only its owner may read (mode 0600, even if
// it existed with another mode: a --dir of the user's is reused).
func writePrivate(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// removeStaleDirs removes the temporary run directories whose owner file
// names a process that is gone: those of a flagstorm killed before it could
// remove them (its children were killed with it). Directories without the
// file are left alone. Best effort.
func removeStaleDirs(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), runDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove the run directory of a flagstorm that is gone", "dir", dir, "err", err)
			continue
		}
		log.Debug("removed the run directory of a flagstorm that is gone", "dir", dir, "pid", pid)
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Endpoints says where everything is. Processes lists the processes
// running now (a flagserver being restarted is missing).
func (s *Stack) Endpoints() Endpoints {
	s.mu.Lock()
	proxies := maps.Clone(s.proxies)
	s.mu.Unlock()
	e := Endpoints{
		Proxies:         map[string]string{},
		Upstreams:       map[string]string{},
		DatabaseURL:     s.dbURL,
		DatabaseURLFile: s.dbURLFile,
		SQLitePath:      s.sqlite,
		ToxiproxyAPI:    s.proxy.APIURL(),
		AdminToken:      s.cfg.AdminToken,
		AdminTokenFile:  s.tokenFile,
		Dir:             s.dir,
		External:        s.cfg.External != nil,
		Processes:       []Process{},
	}
	for name, p := range proxies {
		e.Proxies[name] = p.Listen
		e.Upstreams[name] = p.Upstream
	}
	if e.External {
		e.TargetURLs = []string{s.cfg.External.TargetURL}
		return e
	}
	e.Database = s.database.String()
	e.RedisPassword, e.RedisPasswordFile = s.redisPass, s.redisPassFile
	e.Profiles = slices.Clone(s.cfg.Profiles)
	for _, in := range s.instances {
		e.TargetURLs = append(e.TargetURLs, in.url())
		if pid := in.pid(); pid != 0 {
			e.Processes = append(e.Processes, Process{Name: in.name, PID: pid, Log: in.logPath})
		}
	}
	for _, r := range []struct {
		name string
		srv  *toxics.RedisServer
		addr *string
	}{{"redis-primary", s.primary, &e.RedisPrimary}, {"redis-replica", s.replica, &e.RedisReplica}} {
		*r.addr = r.srv.Addr()
		if pid := r.srv.PID(); pid != 0 {
			e.Processes = append(e.Processes, Process{Name: r.name, PID: pid, Log: r.srv.LogPath()})
		}
	}
	if s.cluster != nil {
		if pid := s.cluster.PID(); pid != 0 {
			e.Processes = append(e.Processes, Process{Name: "postgres", PID: pid, Log: s.cluster.LogPath()})
		}
	}
	return e
}

// Controller is the embedded Toxiproxy that runs the proxies.
func (s *Stack) Controller() toxics.Controller { return s.proxy }

// Primary is the Redis primary; nil in external mode.
func (s *Stack) Primary() *toxics.RedisServer { return s.primary }

// Replica is the Redis replica of Primary; nil in external mode.
func (s *Stack) Replica() *toxics.RedisServer { return s.replica }

// ReadyIn is how long Start took, from its call until every component
// was ready (a throwaway PostgreSQL's initdb included: see PostgresSetup).
func (s *Stack) ReadyIn() time.Duration { return s.readyIn }

// PostgresSetup is how long creating the throwaway PostgreSQL cluster and
// its database took (initdb, start, CREATE DATABASE), in parallel with
// Redis; 0 for another database.
func (s *Stack) PostgresSetup() time.Duration { return s.pgSetup }

// Restart stops flagserver instance i (SIGTERM, SIGKILL after 5 s) and
// starts it again on the same address with the same configuration,
// waiting until it is ready.
func (s *Stack) Restart(ctx context.Context, i int) error {
	if s.cfg.External != nil {
		return ErrExternal
	}
	if i < 0 || i >= len(s.instances) {
		return fmt.Errorf("stack: restart flagserver[%d]: there are %d instances", i, len(s.instances))
	}
	return s.instances[i].restart(ctx)
}

// Close stops everything in reverse order, each step bounded, even after
// ctx is cancelled (30 s in all): the flagservers (SIGTERM, SIGKILL after
// 5 s), the proxies, Redis, PostgreSQL; every process is reaped. Then it
// removes the temporary run directory unless KeepDir. Closing again
// returns the first result.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Stack) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	var errs []error
	var mu sync.Mutex
	add := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}

	t := time.Now()
	var wg sync.WaitGroup
	for _, in := range s.instances {
		if in != nil {
			wg.Go(func() { add(in.stop(ctx)) })
		}
	}
	wg.Wait()
	s.watchers.Wait()
	s.log.Debug("flagservers stopped", "duration", time.Since(t))
	t = time.Now()
	if s.proxy != nil {
		add(s.proxy.Close(ctx))
	}
	s.log.Debug("proxies stopped", "duration", time.Since(t))
	t = time.Now()
	for _, r := range []*toxics.RedisServer{s.replica, s.primary} {
		if r != nil {
			wg.Go(func() { add(r.Stop(ctx)) })
		}
	}
	if s.cluster != nil {
		wg.Go(func() { add(s.cluster.Stop(ctx)) })
	}
	wg.Wait()
	s.log.Debug("redis and postgres stopped", "duration", time.Since(t))
	s.http.CloseIdleConnections()
	if s.ownDir && !s.cfg.KeepDir {
		if err := os.RemoveAll(s.dir); err != nil {
			add(fmt.Errorf("remove the run directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack: close: %w", err)
	}
	s.log.Debug("stack stopped")
	return nil
}

// ping sends PING over a new connection to addr, after AUTH password
// unless it is "", and expects +PONG.
func ping(ctx context.Context, addr, password string) error {
	var last error
	for {
		last = pingOnce(ctx, addr, password)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", context.Cause(ctx), last)
		case <-time.After(pollInterval):
		}
	}
}

func pingOnce(ctx context.Context, addr, password string) error {
	if password != "" {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		v, err := redisproc.DoAuth(pctx, addr, password, "PING")
		if err != nil {
			return err
		}
		if v != "PONG" {
			return fmt.Errorf("PING answered %v", v)
		}
		return nil
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
