package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flagstorm/flagstorm/internal/benchkit"
)

// servers are the processes a run starts: one redis-server, the two
// reference handlers (this program re-executed in -serve mode) and two
// flagservers, one with its in-process cache and one without.
type servers struct {
	redis                             string // host:port
	hello, redisGet, memory, noMemory *server
}

func startServers(ctx context.Context, g *benchkit.Procs, pr *benchkit.Prober, redisPath, self, flagserver, dir string) (*servers, error) {
	var s servers
	data := filepath.Join(dir, "redis")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, fmt.Errorf("redis-server data dir: %w", err)
	}
	_, addr, err := g.StartServer(ctx, "redis-server", redisPath, func(addr string) ([]string, []string) {
		_, port, _ := strings.Cut(addr, ":")
		return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", data, "--daemonize", "no"}, benchkit.ChildEnv()
	}, redisReady)
	if err != nil {
		return nil, err
	}
	s.redis = addr
	redisURL := "redis://" + addr + "/0"

	httpReady := func(addr string) func(context.Context) error { return pr.Ready("http://" + addr + "/readyz") }
	start := func(name, path string, command func(addr string) ([]string, []string)) (*server, error) {
		p, addr, err := g.StartServer(ctx, name, path, command, httpReady)
		if err != nil {
			return nil, err
		}
		return &server{name: name, proc: p, base: "http://" + addr}, nil
	}
	reference := func(mode string) func(addr string) ([]string, []string) {
		return func(addr string) ([]string, []string) {
			return []string{"-serve", mode, "-addr", addr, "-redis", s.redis}, benchkit.ChildEnv()
		}
	}
	flagserverCmd := func(name string, extra ...string) func(addr string) ([]string, []string) {
		return func(addr string) ([]string, []string) {
			env := append([]string{
				"LISTEN_ADDR=" + addr,
				"REDIS_URL=" + redisURL,
				"SQLITE_PATH=" + filepath.Join(dir, name+".db"),
				"CACHE_PROFILE=hardened",
				"SEED_FLAGS=100",
				"LOG_LEVEL=warn",
				"LOG_FORMAT=json",
			}, extra...)
			return []string{"serve"}, benchkit.ChildEnv(env...)
		}
	}
	if s.hello, err = start("hello", self, reference(modeHello)); err != nil {
		return nil, err
	}
	if s.redisGet, err = start("redis-get", self, reference(modeRedisGet)); err != nil {
		return nil, err
	}
	if s.memory, err = start("flagserver-memory", flagserver, flagserverCmd("flagserver-memory")); err != nil {
		return nil, err
	}
	if s.noMemory, err = start("flagserver-redis", flagserver, flagserverCmd("flagserver-redis", "MEMORY_CACHE_TTL=0")); err != nil {
		return nil, err
	}
	s.memory.flagserver, s.noMemory.flagserver = true, true
	return &s, nil
}
