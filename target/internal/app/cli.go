package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/term"
)

const usage = `flagserver: the reference feature-flag server of flagstorm.

Usage:
  flagserver [serve] [flags]   serve the flag API (the default command)
  flagserver seed [flags]      create the seeded flags in the database and exit
  flagserver version           print the version

Configuration comes from the environment (see .env.example); flags override it:
`

// Main is the flagserver command. It returns the process exit code: 0 on a
// clean stop, 1 when the server failed, 2 for invalid usage or configuration.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "seed":
	case "version":
		fmt.Fprintln(stdout, "flagserver", version())
		return 0
	case "help":
		fmt.Fprint(stdout, usage+unsafeHelp())
		return 0
	default:
		fmt.Fprintf(stderr, "flagserver: unknown command %q (want serve, seed or version)\n", cmd)
		return 2
	}

	cfg, cfgErr := ConfigFromEnv(getenv)
	fs := flag.NewFlagSet("flagserver "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, unsafeHelp())
	}
	fs.StringVar(&cfg.ListenAddr, "listen", cfg.ListenAddr, "HTTP listen address (LISTEN_ADDR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "PostgreSQL URL; empty: embedded SQLite (DATABASE_URL)")
	fs.IntVar(&cfg.DatabaseMaxConns, "database-max-conns", cfg.DatabaseMaxConns, "most PostgreSQL connections; 0: pool_max_conns in the URL, else max(4, CPUs) (DATABASE_MAX_CONNS)")
	fs.StringVar(&cfg.SQLitePath, "sqlite-path", cfg.SQLitePath, "SQLite file when no DATABASE_URL (SQLITE_PATH)")
	fs.StringVar(&cfg.RedisURL, "redis-url", cfg.RedisURL, "Redis URL; empty: no shared cache (REDIS_URL)")
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "cache profile: hardened or seed (CACHE_PROFILE)")
	fs.IntVar(&cfg.SeedFlags, "seed", cfg.SeedFlags, "seed this many flags per environment (SEED_FLAGS); for the seed command default 100")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "flagserver %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	if err := errors.Join(cfgErr, cfg.Validate()); err != nil {
		fmt.Fprintf(stderr, "flagserver: invalid configuration:\n%v\n", indent(err))
		return 2
	}
	log := newLogger(stderr, cfg)

	if cmd == "seed" {
		return seed(ctx, cfg, log, stdout, stderr, fs)
	}
	srv, err := Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "flagserver: %v\n", err)
		return 1
	}
	var code int
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srv.Done():
		log.Error("server stopped", "err", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	return code
}

func seed(ctx context.Context, cfg Config, log *slog.Logger, stdout, stderr io.Writer, fs *flag.FlagSet) int {
	n := cfg.SeedFlags
	seen := false
	fs.Visit(func(f *flag.Flag) { seen = seen || f.Name == "seed" })
	if !seen && n == 0 {
		n = 100
	}
	st, err := openStore(ctx, cfg, 0, log) // a one-shot: pgx's pool size
	if err != nil {
		fmt.Fprintf(stderr, "flagserver seed: %v\n", err)
		return 1
	}
	defer st.Close()
	created, err := st.Seed(ctx, cfg.Environments, n)
	if err != nil {
		fmt.Fprintf(stderr, "flagserver seed: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "seeded %d flags per environment in %s: %d created, %d already present\n",
		n, strings.Join(cfg.Environments, ", "), created, n*len(cfg.Environments)-created)
	return 0
}

func indent(err error) string {
	return "  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version + " " + bi.GoVersion
	}
	return "(devel)"
}
