package testenv

import (
	"context"
	"errors"
	"testing"

	"github.com/flagstorm/flagstorm/internal/logfile"
	"github.com/flagstorm/flagstorm/internal/redisproc"
	"github.com/redis/go-redis/v9"
)

// logTail is how much of a process log goes into an error message.
const logTail = 2048

// RedisOption tunes a [RedisServer] started by [Redis].
type RedisOption func(*redisConfig)

type redisConfig struct {
	args []string
}

// RedisArgs appends command-line arguments to redis-server's own, for
// example RedisArgs("--maxmemory", "1mb", "--maxmemory-policy", "allkeys-lru").
// They are passed again on every Restart.
func RedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// RedisServer is a real redis-server process on a free loopback port, with
// persistence off (a [redisproc.Server]). Its port stays the same across
// Kill, Stop and Restart. Its methods are safe for concurrent use.
type RedisServer struct {
	srv *redisproc.Server
}

// Redis starts a redis-server on a free port on 127.0.0.1 and waits until it
// answers. It is killed in t.Cleanup. If redis-server is not installed, the
// test fails with instructions.
func Redis(t testing.TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	r, err := startRedis(t, redisproc.Config{Args: cfg.args})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return r
}

// startRedis starts a server with its log and data in a temporary
// directory, killed in t.Cleanup.
func startRedis(t testing.TB, cfg redisproc.Config) (*RedisServer, error) {
	t.Helper()
	cfg.Dir = t.TempDir()
	srv, err := redisproc.Start(t.Context(), cfg)
	if errors.Is(err, redisproc.ErrNotFound) {
		t.Fatalf("redis-server not found: install it with `apt-get install -y redis-server` (%v)", err)
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		if err := errors.Join(srv.Kill(ctx), srv.Stop(ctx)); err != nil {
			t.Errorf("testenv: stop redis-server: %v", err)
		}
	})
	return &RedisServer{srv: srv}, nil
}

// Addr returns the server's address, like "127.0.0.1:41234".
func (r *RedisServer) Addr() string { return r.srv.Addr() }

// Port returns the server's TCP port.
func (r *RedisServer) Port() int { return r.srv.Port() }

// URL returns the server's URL for database 0, like "redis://127.0.0.1:41234/0".
func (r *RedisServer) URL() string { return "redis://" + r.srv.Addr() + "/0" }

// Client returns a go-redis client for the server, for assertions. It has
// go-redis's defaults except that it dials once per attempt instead of five
// times, so that a command against a killed server fails in about 0.1 s
// rather than 2 s. It is closed in t.Cleanup.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.srv.Addr(), DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill sends SIGKILL to the server and waits until it has exited and its
// port refuses connections. Killing a server that is not running does
// nothing.
func (r *RedisServer) Kill(t testing.TB) {
	t.Helper()
	if err := r.srv.Kill(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("testenv: kill redis-server: %v", err)
	}
}

// Stop shuts the server down gracefully (SIGTERM) and waits until it has
// exited and its port refuses connections. Stopping a server that is not
// running does nothing; Restart starts it again.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	if err := r.srv.Shutdown(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("testenv: stop redis-server: %v", err)
	}
}

// Restart starts the server again on the same port, empty, and waits until
// it answers. A running server is killed first. A replica comes back as a
// replica of the same primary and Restart waits until it receives the
// primary's writes.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	if err := r.srv.Restart(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("testenv: restart redis-server on its port: %v", err)
	}
}

// Replica starts another redis-server, a replica of r, and waits until it
// receives r's writes: a replication link that reports up may not stream
// yet (see [redisproc]). It is killed in t.Cleanup.
func (r *RedisServer) Replica(t testing.TB) *RedisServer {
	t.Helper()
	rep, err := startRedis(t, redisproc.Config{ReplicaOf: r.srv.Addr()})
	if err != nil {
		t.Fatalf("testenv: wait for replica: %v\n--- primary log tail ---\n%s", err, logfile.Tail(r.srv.LogPath(), logTail))
	}
	return rep
}
