package toxics

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// refuses fails the test unless addr refuses connections.
func refuses(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = c.Close()
		t.Fatalf("%s accepts connections", addr)
	}
}

func TestRedisCrashAndColdRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := startRedis(t, RedisConfig{})
	addr, pid := r.Addr(), r.PID()
	if !strings.HasPrefix(addr, "127.0.0.1:") || pid == 0 || !r.Running() {
		t.Fatalf("after start: Addr %q, PID %d, Running %v", addr, pid, r.Running())
	}
	c := newClient(t, redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if err := r.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if r.Running() || r.PID() != 0 {
		t.Errorf("after Kill: Running %v, PID %d", r.Running(), r.PID())
	}
	refuses(t, addr)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("PING after Kill succeeded")
	}

	if err := r.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if r.Addr() != addr || r.PID() == 0 || r.PID() == pid {
		t.Errorf("after Restart: Addr %q (was %q), PID %d (was %d)", r.Addr(), addr, r.PID(), pid)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("PING after Restart: %v", err)
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after a cold restart: %v, want redis.Nil (the data is gone)", err)
	}
	if err := r.Restart(ctx); err != nil { // restarting a running server works too
		t.Fatalf("Restart of a running server: %v", err)
	}

	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	refuses(t, addr)
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("Stop left the temporary dir %s: %v", r.dir, err)
	}
	if err := r.Restart(ctx); !errors.Is(err, ErrRedisStopped) {
		t.Errorf("Restart after Stop: %v, want ErrRedisStopped", err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := r.Kill(ctx); err != nil {
		t.Errorf("Kill after Stop: %v", err)
	}
}

func TestRedisReplication(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	primary := startRedis(t, RedisConfig{Dir: dir + "/primary", Args: []string{"--maxmemory", "64mb"}})
	replica := startRedis(t, RedisConfig{ReplicaOf: primary.Addr()})
	if got := replica.ReplicaOf(); got != primary.Addr() {
		t.Errorf("ReplicaOf() = %q, want %q", got, primary.Addr())
	}
	// StartRedis of a replica returns once its link is up.
	info, err := redisInfo(ctx, replica.Addr(), "replication")
	if err != nil || infoField(info, "master_link_status") != "up" {
		t.Fatalf("replica link after StartRedis: %q, %v", infoField(info, "master_link_status"), err)
	}
	if v, err := redisDo(ctx, primary.Addr(), "CONFIG", "GET", "maxmemory"); err != nil || !strings.Contains(strings.Join(strs(v), " "), "67108864") {
		t.Errorf("extra Args: CONFIG GET maxmemory = %v, %v", v, err)
	}
	if _, err := redisDo(ctx, primary.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the replica has the write", func() error {
		v, err := redisDo(ctx, replica.Addr(), "GET", "k")
		if err != nil || v != "v" {
			return errors.New("not yet")
		}
		return nil
	})

	// Swap roles.
	if err := replica.Promote(ctx); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if role, _ := redisRole(ctx, replica.Addr()); role != "master" || replica.ReplicaOf() != "" {
		t.Errorf("after Promote: role %q, ReplicaOf %q", role, replica.ReplicaOf())
	}
	if err := primary.ReplicateFrom(ctx, replica.Addr()); err != nil {
		t.Fatalf("ReplicateFrom: %v", err)
	}
	if role, _ := redisRole(ctx, primary.Addr()); role != "slave" {
		t.Errorf("after ReplicateFrom: role %q", role)
	}
	// A restart keeps the new role: it comes back as a replica, in sync.
	if err := primary.Restart(ctx); err != nil {
		t.Fatalf("Restart of the new replica: %v", err)
	}
	if v, err := redisDo(ctx, primary.Addr(), "GET", "k"); err != nil || v != "v" {
		t.Errorf("GET on the restarted replica: %v, %v; want the primary's data", v, err)
	}
	if _, err := os.Stat(dir + "/primary/redis.log"); err != nil {
		t.Errorf("log in the configured dir: %v", err)
	}
}

func strs(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

// TestRedisNotFound changes PATH, so it cannot run in parallel.
func TestRedisNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis(t.Context(), RedisConfig{})
	if !errors.Is(err, ErrRedisNotFound) {
		t.Fatalf("StartRedis without redis-server: %v, want ErrRedisNotFound", err)
	}
	const want = "redis-server not found on PATH: install it with apt-get install -y redis-server"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := StartRedis(t.Context(), RedisConfig{Binary: "/nonexistent/redis-server"}); !errors.Is(err, ErrRedisNotFound) {
		t.Errorf("StartRedis with a missing binary: %v, want ErrRedisNotFound", err)
	}
}

func TestRedisPortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	d, err := timed(func() error {
		_, err := StartRedis(t.Context(), RedisConfig{Port: port, Dir: t.TempDir()})
		return err
	})
	if err == nil || !errors.Is(err, errAddrInUse) {
		t.Fatalf("StartRedis on a taken port: %v, want address in use", err)
	}
	if !strings.Contains(err.Error(), "redis.log") {
		t.Errorf("error does not point at the log: %v", err)
	}
	if d > 5*time.Second {
		t.Errorf("StartRedis on a taken port took %v, want a prompt failure", d)
	}
	if _, err := StartRedis(t.Context(), RedisConfig{Port: 70000}); err == nil {
		t.Error("StartRedis on port 70000 succeeded")
	}
	if _, err := StartRedis(t.Context(), RedisConfig{ReplicaOf: "nowhere"}); err == nil {
		t.Error("StartRedis with a bad ReplicaOf succeeded")
	}
}
