// Command minimal-go is a minimal feature-flag service written only against
// the mandatory part of flagstorm's target contract (docs/target-contract.md):
// PostgreSQL behind a Redis cache, configured only by the environment.
//
//	minimal-go          serve on LISTEN_ADDR until SIGINT or SIGTERM
//	minimal-go seed     create the table and the seed flags, then exit
//
// DEFECT selects a deliberately broken build (README.md). Exit codes: 0 done,
// 1 failed, 2 bad configuration or usage.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flagstorm/flagstorm/examples/minimal-go/internal/flags"
	"github.com/flagstorm/flagstorm/examples/minimal-go/internal/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, with its environment and log output injected.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := loadConfig(getenv)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	switch {
	case len(args) == 0:
		err = serve(ctx, cfg, log)
	case len(args) == 1 && args[0] == "seed":
		err = seed(ctx, cfg, log)
	default:
		log.Error("usage: minimal-go [seed]", "args", args)
		return 2
	}
	if err != nil {
		log.Error("failed", "err", err)
		return 1
	}
	return 0
}

func seed(ctx context.Context, cfg config, log *slog.Logger) error {
	store, err := flags.NewStore(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Seed(ctx, cfg.SeedEnvironments, cfg.SeedFlags); err != nil {
		return err
	}
	log.Info("seeded", "flags", cfg.SeedFlags, "environments", cfg.SeedEnvironments)
	return nil
}

func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	log.Info("starting", "listen_addr", cfg.ListenAddr, "redis_addr", cfg.Redis.Addr, "defect", cfg.Defect.String())
	if cfg.Defect != correct {
		log.Warn("DELIBERATELY BROKEN BUILD: do not use outside tests", "defect", cfg.Defect.String())
	}
	if cfg.AdminToken == "" {
		log.Warn("ADMIN_TOKEN is not set: every write is refused with 401")
	}
	store, err := flags.NewStore(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	cache := flags.NewCache(flags.CacheConfig{
		Redis:                     cfg.Redis,
		Breaker:                   cfg.Defect != slowFallback,
		ForgetFailedInvalidations: cfg.Defect == staleAfterOutage,
		Log:                       log,
	})
	defer cache.Close()
	svc := &flags.Service{Store: store, Cache: cache, NoFallback: cfg.Defect == errorOnRedis}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           httpapi.New(svc, store, cfg.AdminToken, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "listen_addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
