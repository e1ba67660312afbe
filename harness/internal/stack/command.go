package stack

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/internal/logfile"
)

// Command runs a service that is not flagserver as the stack's targets:
// the argv and environment templates of a target description
// (package service), filled with the stack's addresses. The database must
// be PostgreSQL (a throwaway cluster or DatabaseURL).
type Command struct {
	// Name names the instances in logs and errors: "NAME[i]".
	Name string
	// Argv and Env are templates (service.Placeholders).
	Argv []string
	Env  map[string]string
	// Dir is the working directory; "" the run directory.
	Dir string
	// Ready is the readiness path (200 once ready).
	Ready string
	// SeedArgv runs once before the instances start, with the first
	// instance's environment plus SEED_FLAGS and SEED_ENVIRONMENTS, and
	// must exit 0; SeedSQL is a file of SQL the stack runs against the
	// database directly. Either, or neither (the service seeds itself).
	SeedArgv []string
	SeedSQL  string
}

// commandValues are the placeholders' values for instance i listening on
// addr.
func (s *Stack) commandValues(i int, addr string) map[string]string {
	_, port, _ := net.SplitHostPort(addr)
	redis := s.proxyListen(ProxyRedis)
	rh, rp, _ := net.SplitHostPort(redis)
	v := map[string]string{
		"listen": addr, "port": port, "admin_token": s.cfg.AdminToken,
		"instance": strconv.Itoa(i), "dir": s.dir,
		"redis_url": s.redisURL(redis), "redis_addr": redis, "redis_host": rh, "redis_port": rp,
		"redis_password": s.redisPass,
	}
	if replica := s.proxyListen(ProxyRedisReplica); replica != "" {
		v["replica_url"], v["replica_addr"] = s.redisURL(replica), replica
	}
	if _, proxied, err := proxiedURL(s.dbURL, s.proxyListen(ProxyPostgres)); err == nil {
		v["database_url"] = proxied
		if u, err := url.Parse(proxied); err == nil {
			v["pg_host"], v["pg_port"] = u.Hostname(), u.Port()
			v["pg_database"] = strings.TrimPrefix(u.Path, "/")
			v["pg_user"] = u.User.Username()
			v["pg_password"], _ = u.User.Password()
		}
	}
	return v
}

// commandEnv is the environment of a command instance: this process's,
// less the variables that would lead around the proxies
// (service.Scrubbed), plus the description's (filled in) and Config.Env.
func (s *Stack) commandEnv(values map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isScrubbed(k) {
			env = append(env, kv)
		}
	}
	for k, v := range s.cfg.Command.Env {
		env = append(env, k+"="+service.Expand(v, values))
	}
	for k, v := range s.cfg.Env {
		env = append(env, k+"="+service.Expand(v, values))
	}
	return env
}

func isScrubbed(k string) bool {
	for _, v := range service.Scrubbed {
		if k == v {
			return true
		}
	}
	return isFlagserverVar(k)
}

// commandArgv fills the argv templates.
func commandArgv(argv []string, values map[string]string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = service.Expand(a, values)
	}
	return out
}

// seedCommand seeds the database for a command service: its seed command,
// or its SQL file, once.
func (s *Stack) seedCommand(ctx context.Context) error {
	c := s.cfg.Command
	switch {
	case c.SeedSQL != "":
		sql, err := os.ReadFile(c.SeedSQL)
		if err != nil {
			return componentErr("seed", err)
		}
		conn, err := pgx.Connect(ctx, s.dbURL)
		if err != nil {
			return componentErr("seed", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			return componentErr("seed", fmt.Errorf("%s: %w", c.SeedSQL, err))
		}
		return nil
	case len(c.SeedArgv) > 0:
		values := s.commandValues(0, s.instances[0].addr)
		argv := commandArgv(c.SeedArgv, values)
		logPath := filepath.Join(s.dir, c.Name+"-seed.log")
		logf, err := os.Create(logPath)
		if err != nil {
			return componentErr("seed", err)
		}
		defer logf.Close()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(s.commandEnv(values), "SEED_FLAGS="+strconv.Itoa(max(s.cfg.SeedFlags, 0)))
		cmd.Dir = cmp.Or(c.Dir, s.dir)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = childAttr()
		if err := cmd.Run(); err != nil {
			return componentErr("seed", fmt.Errorf("%s: %w\n--- %s (tail) ---\n%s", s.hide(strings.Join(argv, " ")), err, logPath, s.hide(logfile.Tail(logPath, logTail))))
		}
	}
	return nil
}
