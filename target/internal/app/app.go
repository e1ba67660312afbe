// Package app is the flag server's composition root (AC14): the one place
// that turns a Config into a store, a cache, a service and an HTTP server,
// and tears them down in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/httpapi"
	"github.com/flagstorm/flagstorm/target/internal/rediscache"
	"github.com/flagstorm/flagstorm/target/internal/store/postgres"
	"github.com/flagstorm/flagstorm/target/internal/store/sqlite"
)

// store is what the composition root needs of a storage adapter.
type store interface {
	flags.Store
	Seed(ctx context.Context, envs []string, n int) (int, error)
	Close()
}

// Server is a running flag server.
type Server struct {
	addr     string
	profile  Profile
	log      *slog.Logger
	registry *prometheus.Registry
	store    store
	cache    *rediscache.Cache
	service  *flags.Service
	http     *http.Server
	served   chan error
}

// Start opens the store (seeding it if asked), connects the cache (waiting
// at most the profile's ConnectWait), builds the service and starts serving
// on cfg.ListenAddr. Close stops it.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	profile, err := LookupProfile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	cfg.Unsafe.warn(log)
	profile = cfg.Unsafe.apply(profile)
	s := &Server{profile: profile, log: log, registry: prometheus.NewRegistry(), served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.release(context.WithoutCancel(ctx))
		}
	}()
	s.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(profile.Name),
	)

	if err := s.setUpStore(ctx, cfg); err != nil {
		return nil, err
	}
	svcCfg := s.serviceConfig(cfg)
	if cfg.RedisURL != "" {
		if err := s.connectCache(ctx, cfg); err != nil {
			return nil, err
		}
		svcCfg.Cache = s.cache
	} else {
		log.Info("REDIS_URL is not set: no shared cache")
	}
	s.service, err = flags.New(svcCfg)
	if err != nil {
		return nil, err
	}
	if err := s.serve(ctx, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// setUpStore opens the store, registers its pool's metrics and seeds it if
// cfg asks.
func (s *Server) setUpStore(ctx context.Context, cfg Config) error {
	var err error
	s.store, err = openStore(ctx, cfg, s.profile.DatabaseMaxConns, s.log)
	if err != nil {
		return err
	}
	if stat, ok := dbPoolStatOf(s.store); ok {
		s.registry.MustRegister(dbPoolCollector{stat: stat})
	}
	if cfg.SeedFlags > 0 {
		n, err := s.store.Seed(ctx, cfg.Environments, cfg.SeedFlags)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		s.log.Info("seeded flags", "created", n, "per_environment", cfg.SeedFlags, "environments", cfg.Environments)
	}
	return nil
}

// serviceConfig is the profile's service configuration with cfg's
// overrides, without the cache.
func (s *Server) serviceConfig(cfg Config) flags.Config {
	svcCfg := s.profile.Service
	svcCfg.Store = s.store
	svcCfg.Environments = cfg.Environments
	svcCfg.Logger = s.log
	svcCfg.Registerer = s.registry
	if cfg.CacheTTL > 0 {
		svcCfg.CacheTTL = cfg.CacheTTL
		svcCfg.CacheTTLJitter = min(svcCfg.CacheTTLJitter, cfg.CacheTTL/10)
	}
	if cfg.MemoryCacheTTL != nil {
		svcCfg.MemoryTTL = *cfg.MemoryCacheTTL
	}
	return svcCfg
}

// connectCache builds the Redis cache and waits at most the profile's
// ConnectWait for it (with BlockingColdStart, first until Redis answers);
// a cache not ready by then reconnects in the background.
func (s *Server) connectCache(ctx context.Context, cfg Config) error {
	rc := s.profile.Redis
	rc.URL = cfg.RedisURL
	rc.Logger = s.log
	rc.Registerer = s.registry
	var err error
	s.cache, err = rediscache.New(rc)
	if err != nil {
		return err
	}
	if cfg.Unsafe.BlockingColdStart {
		if err := waitForRedis(ctx, s.cache.Client()); err != nil {
			return err
		}
	}
	if err := s.cache.Connect(ctx, s.profile.ConnectWait); err != nil {
		s.log.Warn("redis not ready at start; serving from the database and reconnecting in the background", "wait", s.profile.ConnectWait, "err", err)
	}
	return nil
}

// serve builds the HTTP API over the service and starts serving it on
// cfg.ListenAddr.
func (s *Server) serve(ctx context.Context, cfg Config) error {
	h, err := httpapi.New(s.service, httpapi.Config{
		AdminToken: cfg.AdminToken,
		Logger:     s.log,
		Registerer: s.registry,
		Gatherer:   s.registry,
	})
	if err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		s.log.Warn("ADMIN_TOKEN is not set: every PATCH will be refused")
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	s.addr = ln.Addr().String()
	s.http = httpapi.NewServer(s.addr, h)
	go func() { s.served <- s.http.Serve(ln) }()
	attrs := []any{"addr", s.addr, "profile", s.profile.Name, "store", storeKind(cfg), "cache", s.service.Ready(ctx).Cache}
	if on := cfg.Unsafe.Enabled(); len(on) > 0 {
		attrs = append(attrs, "unsafe", on)
	}
	s.log.Info("flagserver listening", attrs...)
	return nil
}

// openStore opens PostgreSQL when cfg has a URL, with defaultConns
// connections unless DATABASE_MAX_CONNS or the URL says otherwise, and
// SQLite if not.
func openStore(ctx context.Context, cfg Config, defaultConns int, log *slog.Logger) (store, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL,
			MaxConns: int32(cfg.DatabaseMaxConns), DefaultMaxConns: int32(defaultConns)})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		return st, nil
	}
	log.Info("DATABASE_URL is not set: using the embedded SQLite database", "path", cfg.SQLitePath)
	st, err := sqlite.Open(ctx, sqlite.Config{Path: cfg.SQLitePath})
	if err != nil {
		return nil, fmt.Errorf("SQLITE_PATH: %w", err)
	}
	return st, nil
}

func storeKind(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Profile is the cache profile in use.
func (s *Server) Profile() Profile { return s.profile }

// Registry holds the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Done yields the error that ended serving on its own (http.ErrServerClosed after Close).
func (s *Server) Done() <-chan error { return s.served }

// Close stops accepting requests, waits for those in flight (bounded by
// ctx), delivers pending cache invalidations, and closes the cache and the
// store.
func (s *Server) Close(ctx context.Context) error {
	var errs []error
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	errs = append(errs, s.release(ctx))
	return errors.Join(errs...)
}

func (s *Server) release(ctx context.Context) error {
	var errs []error
	if s.service != nil {
		if err := s.service.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.cache != nil {
		if err := s.cache.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis: %w", err))
		}
	}
	if s.store != nil {
		s.store.Close()
	}
	return errors.Join(errs...)
}

func buildInfo(profile string) prometheus.Collector {
	version, goVersion := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flagserver_build_info",
		Help:        "Build and configuration of this flagserver; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion, "profile": profile},
	})
	g.Set(1)
	return g
}

// shutdownTimeout bounds a graceful stop in main.
const shutdownTimeout = 10 * time.Second
