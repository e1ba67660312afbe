package redisproc

import (
	"context"
	"errors"
	"fmt"
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

func TestCrashAndColdRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := start(t, Config{})
	addr, pid := r.Addr(), r.PID()
	if !strings.HasPrefix(addr, "127.0.0.1:") || pid == 0 || !r.Running() {
		t.Fatalf("after start: Addr %q, PID %d, Running %v", addr, pid, r.Running())
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
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
	if err := r.Restart(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("Restart after Stop: %v, want ErrStopped", err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := r.Kill(ctx); err != nil {
		t.Errorf("Kill after Stop: %v", err)
	}
}

func TestReplication(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	primary := start(t, Config{Dir: dir + "/primary", Args: []string{"--maxmemory", "64mb"}})
	replica := start(t, Config{ReplicaOf: primary.Addr()})
	if got := replica.ReplicaOf(); got != primary.Addr() {
		t.Errorf("ReplicaOf() = %q, want %q", got, primary.Addr())
	}
	// Start of a replica returns once its link is up.
	info, err := Info(ctx, replica.Addr(), "replication")
	if err != nil || InfoField(info, "master_link_status") != "up" {
		t.Fatalf("replica link after Start: %q, %v", InfoField(info, "master_link_status"), err)
	}
	if v, err := Do(ctx, primary.Addr(), "CONFIG", "GET", "maxmemory"); err != nil || !strings.Contains(strings.Join(strs(v), " "), "67108864") {
		t.Errorf("extra Args: CONFIG GET maxmemory = %v, %v", v, err)
	}
	if _, err := Do(ctx, primary.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = waitFor(wctx, func() (bool, error) {
		v, err := Do(wctx, replica.Addr(), "GET", "k")
		if err != nil || v != "v" {
			return false, fmt.Errorf("GET k = %v, %v", v, err)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the replica never had the write: %v", err)
	}

	// Swap roles.
	if err := replica.Promote(ctx); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if role, _ := replicationRole(ctx, replica.Addr(), ""); role != "master" || replica.ReplicaOf() != "" {
		t.Errorf("after Promote: role %q, ReplicaOf %q", role, replica.ReplicaOf())
	}
	if err := primary.ReplicateFrom(ctx, replica.Addr()); err != nil {
		t.Fatalf("ReplicateFrom: %v", err)
	}
	if role, _ := replicationRole(ctx, primary.Addr(), ""); role != "slave" {
		t.Errorf("after ReplicateFrom: role %q", role)
	}
	// A restart keeps the new role: it comes back as a replica, in sync.
	if err := primary.Restart(ctx); err != nil {
		t.Fatalf("Restart of the new replica: %v", err)
	}
	if v, err := Do(ctx, primary.Addr(), "GET", "k"); err != nil || v != "v" {
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

// TestNotFound changes PATH, so it cannot run in parallel.
func TestNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(t.Context(), Config{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Start without redis-server: %v, want ErrNotFound", err)
	}
	const want = "redis-server not found on PATH: install it with apt-get install -y redis-server"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := Start(t.Context(), Config{Binary: "/nonexistent/redis-server"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start with a missing binary: %v, want ErrNotFound", err)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	d, err := timed(func() error {
		_, err := Start(t.Context(), Config{Port: port, Dir: t.TempDir()})
		return err
	})
	if err == nil || !errors.Is(err, errAddrInUse) {
		t.Fatalf("Start on a taken port: %v, want address in use", err)
	}
	if !strings.Contains(err.Error(), "redis.log") {
		t.Errorf("error does not point at the log: %v", err)
	}
	if d > 5*time.Second {
		t.Errorf("Start on a taken port took %v, want a prompt failure", d)
	}
	if _, err := Start(t.Context(), Config{Port: 70000}); err == nil {
		t.Error("Start on port 70000 succeeded")
	}
	if _, err := Start(t.Context(), Config{ReplicaOf: "nowhere"}); err == nil {
		t.Error("Start with a bad ReplicaOf succeeded")
	}
}

func TestShutdownAndRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := start(t, Config{})
	addr := r.Addr()
	if _, err := Do(ctx, addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r.Running() {
		t.Error("Running after Shutdown")
	}
	refuses(t, addr)
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown of a server that is not running: %v", err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatalf("Restart after Shutdown: %v", err)
	}
	if v, err := Do(ctx, r.Addr(), "GET", "k"); err != nil || v != nil {
		t.Errorf("GET after Shutdown and Restart = %v, %v; want nil (a cold server)", v, err)
	}
}

func TestRestartAsReplicaOf(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := start(t, Config{})
	other := start(t, Config{})
	if _, err := Do(ctx, primary.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := other.RestartAsReplicaOf(ctx, primary.Addr()); err != nil {
		t.Fatalf("RestartAsReplicaOf: %v", err)
	}
	if got := other.ReplicaOf(); got != primary.Addr() {
		t.Errorf("ReplicaOf() = %q, want %q", got, primary.Addr())
	}
	// It returns once the replica receives the primary's writes.
	if v, err := Do(ctx, other.Addr(), "GET", "k"); err != nil || v != "v" {
		t.Errorf("GET on the new replica = %v, %v; want the primary's data", v, err)
	}
	if err := other.RestartAsReplicaOf(ctx, "nowhere"); err == nil {
		t.Error("RestartAsReplicaOf with a bad address succeeded")
	}
}

// start starts a redis-server, stopped in t.Cleanup.
func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	r, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 15*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// TestPassword starts a primary and a replica with a password and checks
// that a client without it is refused, that replication, Promote and
// ReplicateFrom work with it, and that it is in no command line and no
// log.
func TestPassword(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const pass = "0123456789abcdef0123456789abcdef"
	primary := start(t, Config{Password: pass})
	replica := start(t, Config{Password: pass, ReplicaOf: primary.Addr()})
	if primary.Password() != pass {
		t.Errorf("Password() = %q", primary.Password())
	}
	if _, err := Do(ctx, primary.Addr(), "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without the password = %v; want NOAUTH", err)
	}
	c := redis.NewClient(&redis.Options{Addr: primary.Addr(), Password: pass, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with the password: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		v, err := replica.Do(ctx, "GET", "k")
		if err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET k on the replica: %v, %v; want v", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := replica.Promote(ctx); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if err := primary.ReplicateFrom(ctx, replica.Addr()); err != nil {
		t.Fatalf("ReplicateFrom: %v", err)
	}
	if info, err := primary.Info(ctx, "replication"); err != nil || InfoField(info, "role") != "slave" {
		t.Errorf("after ReplicateFrom: role %q, %v", InfoField(info, "role"), err)
	}
	for _, r := range []*Server{primary, replica} {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID()))
		if err == nil && strings.Contains(string(cmdline), pass) {
			t.Errorf("the password is in the command line of %s", r.Addr())
		}
		if b, _ := os.ReadFile(r.LogPath()); strings.Contains(string(b), pass) {
			t.Errorf("the password is in %s", r.LogPath())
		}
	}
	if _, err := Start(ctx, Config{Password: "a b"}); err == nil {
		t.Error("a password with a space was accepted")
	}
}
