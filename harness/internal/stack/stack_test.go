package stack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagstorm/flagstorm/internal/redisproc"
	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/toxics"
)

func TestStackPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	off := time.Duration(0)
	// Without the in-process cache every read asks Redis first.
	s := startStack(t, Config{MemoryCacheTTL: &off})
	ep := s.Endpoints()

	if len(ep.TargetURLs) != 1 || ep.Profiles[0] != "hardened" || ep.Database != "url" {
		t.Fatalf("endpoints = %+v; want one hardened flagserver on the given database", ep)
	}
	for _, name := range []string{ProxyRedis, ProxyRedisReplica, ProxyPostgres} {
		if ep.Proxies[name] == "" {
			t.Errorf("no proxy %s in %v", name, ep.Proxies)
		}
	}
	if ep.Upstreams[ProxyRedis] != ep.RedisPrimary || ep.Upstreams[ProxyRedisReplica] != ep.RedisReplica {
		t.Errorf("upstreams %v; want redis -> %s, redis-replica -> %s", ep.Upstreams, ep.RedisPrimary, ep.RedisReplica)
	}
	if s.Primary().Addr() != ep.RedisPrimary || s.Replica().ReplicaOf() != ep.RedisPrimary {
		t.Errorf("Primary/Replica do not match the endpoints")
	}
	names := make([]string, 0, len(ep.Processes))
	for _, p := range ep.Processes {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if want := []string{"flagserver[0]", "redis-primary", "redis-replica"}; !slices.Equal(names, want) {
		t.Errorf("processes %v, want %v", names, want)
	}

	// The flagserver reaches the database and Redis through the proxies.
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(ep.Processes[slices.IndexFunc(ep.Processes, func(p Process) bool { return p.Name == "flagserver[0]" })].PID) + "/environ")
	if err == nil {
		env := string(environ)
		for _, want := range []string{"@" + ep.Proxies[ProxyPostgres] + "/", "REDIS_URL=redis://:" + ep.RedisPassword + "@" + ep.Proxies[ProxyRedis] + "/0", "ADMIN_TOKEN=" + ep.AdminToken} {
			if !strings.Contains(env, want) {
				t.Errorf("flagserver environment lacks %q", want)
			}
		}
	}

	checkRedisPassword(t, s)

	status, source := getFlag(t, ep.TargetURLs[0])
	if status != http.StatusOK || (source != "db" && source != "redis") {
		t.Fatalf("GET = %d, source %q; want 200 from db or redis", status, source)
	}
	testenv.Poll(t, 5*time.Second, "a read from Redis", servedFrom(t, ep.TargetURLs[0], "redis"))

	sess := toxics.NewSession(s.Controller(), nil)
	t.Cleanup(func() { _ = sess.Cleanup(context.Background()) })
	if _, err := sess.Apply(ctx, toxics.Fault{Proxy: ProxyRedis, Kind: toxics.Blackhole}); err != nil {
		t.Fatalf("blackhole redis: %v", err)
	}
	testenv.Poll(t, 10*time.Second, "reads from the database while Redis is blackholed", servedFrom(t, ep.TargetURLs[0], "db-fallback"))
	for range 5 {
		if status, source := getFlag(t, ep.TargetURLs[0]); status != http.StatusOK || source != "db-fallback" {
			t.Fatalf("GET during the blackhole = %d, source %q; want 200 from db-fallback", status, source)
		}
	}
	if err := sess.Cleanup(ctx); err != nil {
		t.Fatalf("remove the blackhole: %v", err)
	}

	procs, addrs := ep.Processes, endpointAddrs(t, ep)
	dir := ep.Dir
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkGone(t, procs, addrs)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("run directory %s remains after Close (stat: %v)", dir, err)
	}
}

func TestStackTwoInstances(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := startStack(t, Config{Instances: 2, Profiles: []string{"hardened", "seed"}, SeedFlags: 5, AdminToken: "tok"})
	ep := s.Endpoints()
	if want := []string{"hardened", "seed"}; !slices.Equal(ep.Profiles, want) || len(ep.TargetURLs) != 2 || ep.AdminToken != "tok" {
		t.Fatalf("endpoints %+v; want two instances, hardened and seed, token tok", ep)
	}
	for i, u := range ep.TargetURLs {
		if status, _ := getFlag(t, u); status != http.StatusOK {
			t.Errorf("flagserver[%d]: GET = %d, want 200", i, status)
		}
		res, err := http.Get(u + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if want := `profile="` + ep.Profiles[i] + `"`; !strings.Contains(string(body), want) {
			t.Errorf("flagserver[%d] /metrics lacks %s", i, want)
		}
	}

	old := pidOf(ep, "flagserver[1]")
	if err := s.Restart(ctx, 1); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	ep2 := s.Endpoints()
	if ep2.TargetURLs[1] != ep.TargetURLs[1] {
		t.Errorf("Restart moved flagserver[1] from %s to %s", ep.TargetURLs[1], ep2.TargetURLs[1])
	}
	if pid := pidOf(ep2, "flagserver[1]"); pid == old || pid == 0 {
		t.Errorf("pid after Restart = %d, before %d", pid, old)
	}
	checkGone(t, []Process{{Name: "old flagserver[1]", PID: old}}, nil)
	if status, _ := getFlag(t, ep2.TargetURLs[1]); status != http.StatusOK {
		t.Errorf("GET after Restart = %d, want 200", status)
	}
	if err := s.Restart(ctx, 2); err == nil {
		t.Error("Restart(2) of two instances succeeded")
	}

	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkGone(t, ep2.Processes, endpointAddrs(t, ep2))
	if err := s.Restart(ctx, 0); err == nil {
		t.Error("Restart after Close succeeded")
	}
}

func pidOf(ep Endpoints, name string) int {
	for _, p := range ep.Processes {
		if p.Name == name {
			return p.PID
		}
	}
	return 0
}

func TestStackSQLite(t *testing.T) {
	t.Parallel()
	s := startStack(t, Config{Database: DatabaseSQLite, Instances: 2, SeedFlags: 3})
	ep := s.Endpoints()
	if ep.Database != "sqlite" || ep.SQLitePath == "" || ep.DatabaseURL != "" {
		t.Fatalf("endpoints %+v; want SQLite", ep)
	}
	if _, ok := ep.Proxies[ProxyPostgres]; ok {
		t.Errorf("a postgres proxy runs without PostgreSQL: %v", ep.Proxies)
	}
	for i, u := range ep.TargetURLs {
		if status, _ := getFlag(t, u); status != http.StatusOK {
			t.Errorf("flagserver[%d]: GET = %d, want 200", i, status)
		}
	}
	_, err := s.Controller().Apply(t.Context(), toxics.Fault{Proxy: ProxyPostgres, Kind: toxics.Latency, Latency: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `unknown proxy "postgres"`) {
		t.Errorf("a database fault in SQLite mode: err = %v, want unknown proxy", err)
	}
}

func TestStackThrowaway(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second")
	}
	t.Parallel()
	s := startStack(t, Config{Database: DatabaseThrowaway, SeedFlags: 3})
	ep := s.Endpoints()
	if ep.Database != "throwaway" || !strings.Contains(ep.DatabaseURL, "/flagstorm?") {
		t.Fatalf("endpoints %+v; want a throwaway cluster's database", ep)
	}
	if s.PostgresSetup() <= 0 || s.PostgresSetup() > s.ReadyIn() {
		t.Errorf("PostgresSetup = %v, ReadyIn = %v", s.PostgresSetup(), s.ReadyIn())
	}
	t.Logf("ready in %v, %v of it creating the cluster", s.ReadyIn(), s.PostgresSetup())
	pgPID := pidOf(ep, "postgres")
	if pgPID == 0 {
		t.Fatalf("no postgres process in %+v", ep.Processes)
	}
	if status, _ := getFlag(t, ep.TargetURLs[0]); status != http.StatusOK {
		t.Fatalf("GET = %d, want 200", status)
	}
	checkPassword(t, s)
	shm := shmFiles(t, pgPID)
	if len(shm) > 0 {
		t.Errorf("postgres %d maps %v: a SIGKILL would leave them behind", pgPID, shm)
	}
	clusterDir := s.cluster.Dir()
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkGone(t, ep.Processes, endpointAddrs(t, ep))
	if _, err := os.Stat(clusterDir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s remains (stat: %v)", clusterDir, err)
	}
	for _, f := range shm {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s remains after Close (stat: %v)", f, err)
		}
	}
}

// checkPassword checks that the throwaway cluster of s needs the password
// that DatabaseURL and its file carry, and that neither WriteJSON nor
// WriteSummary prints it.
func checkPassword(t *testing.T, s *Stack) {
	t.Helper()
	ep := s.Endpoints()
	u, err := url.Parse(ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	pass, ok := u.User.Password()
	if !ok || len(pass) < 16 {
		t.Fatalf("DatabaseURL %s has no random password", redact(ep.DatabaseURL))
	}
	conn, err := pgx.Connect(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatalf("connect with DatabaseURL: %v", err)
	}
	_ = conn.Close(context.Background())
	u.User = url.User(u.User.Username())
	if conn, err := pgx.Connect(t.Context(), u.String()); err == nil {
		_ = conn.Close(context.Background())
		t.Errorf("connected to %s without the password", u)
	}
	st, err := os.Stat(ep.DatabaseURLFile)
	if err != nil {
		t.Fatalf("DatabaseURLFile: %v", err)
	}
	if b, _ := os.ReadFile(ep.DatabaseURLFile); strings.TrimSpace(string(b)) != ep.DatabaseURL || st.Mode().Perm() != 0o600 {
		t.Errorf("%s (mode %v) does not hold DatabaseURL alone", ep.DatabaseURLFile, st.Mode().Perm())
	}
	var out strings.Builder
	if err := s.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	s.WriteSummary(&out)
	if strings.Contains(out.String(), pass) {
		t.Errorf("WriteJSON or WriteSummary prints the password:\n%s", out.String())
	}
}

// checkRedisPassword checks that both Redis servers of s, and the redis
// proxy, refuse a client without the password (NOAUTH) and answer one
// with it; that the password file holds it (mode 0600) and so does the
// admin token's; and that neither WriteJSON nor WriteSummary prints
// either secret.
func checkRedisPassword(t *testing.T, s *Stack) {
	t.Helper()
	ep := s.Endpoints()
	if len(ep.RedisPassword) < 16 {
		t.Fatalf("Redis password %d bytes long, want a random one", len(ep.RedisPassword))
	}
	for _, addr := range []string{ep.RedisPrimary, ep.RedisReplica, ep.Proxies[ProxyRedis]} {
		if _, err := redisproc.Do(t.Context(), addr, "PING"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("%s: PING without the password = %v, want NOAUTH", addr, err)
		}
		if v, err := redisproc.DoAuth(t.Context(), addr, ep.RedisPassword, "PING"); err != nil || v != "PONG" {
			t.Errorf("%s: PING with the password = %v, %v", addr, v, err)
		}
	}
	for _, f := range []struct{ path, want string }{{ep.RedisPasswordFile, ep.RedisPassword}, {ep.AdminTokenFile, ep.AdminToken}} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("secret file: %v", err)
			continue
		}
		if b, _ := os.ReadFile(f.path); strings.TrimSpace(string(b)) != f.want || st.Mode().Perm() != 0o600 {
			t.Errorf("%s (mode %v) does not hold its secret alone", f.path, st.Mode().Perm())
		}
	}
	var out strings.Builder
	if err := s.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	s.WriteSummary(&out)
	for _, secret := range []string{ep.RedisPassword, ep.AdminToken} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("WriteJSON or WriteSummary prints a secret:\n%s", out.String())
		}
	}
}

// shmFiles returns the /dev/shm files process pid maps.
func shmFiles(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Skipf("no /proc/%d/maps: %v", pid, err)
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "/dev/shm/"); i >= 0 && !slices.Contains(files, line[i:]) {
			files = append(files, line[i:])
		}
	}
	return files
}

func TestStackExternal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := testenv.Redis(t)
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	dbURL := testenv.PostgresURL(t)
	s := startStack(t, Config{
		DatabaseURL:  dbURL,
		ToxiproxyAPI: "127.0.0.1:0",
		AdminToken:   "theirs",
		External: &External{
			TargetURL:     "http://127.0.0.1:1",
			RedisUpstream: r.Addr(),
			RedisListen:   listen,
		},
	})
	ep := s.Endpoints()
	if !ep.External || !slices.Equal(ep.TargetURLs, []string{"http://127.0.0.1:1"}) || len(ep.Processes) != 0 {
		t.Fatalf("endpoints %+v; want external mode, the given target, no processes", ep)
	}
	if ep.Proxies[ProxyRedis] != listen || ep.Upstreams[ProxyRedis] != r.Addr() {
		t.Errorf("proxy redis = %s -> %s, want %s -> %s", ep.Proxies[ProxyRedis], ep.Upstreams[ProxyRedis], listen, r.Addr())
	}
	if _, ok := ep.Proxies[ProxyRedisReplica]; ok {
		t.Error("a redis-replica proxy without an upstream")
	}
	if pg := ep.Upstreams[ProxyPostgres]; pg == "" || !strings.Contains(dbURL, "@"+pg+"/") {
		t.Errorf("proxy postgres forwards to %q; want the database URL's address", pg)
	}
	if ep.DatabaseURL != dbURL || ep.AdminToken != "theirs" || ep.ToxiproxyAPI == "" {
		t.Errorf("endpoints %+v; want the database URL, the token and the API", ep)
	}
	if s.Primary() != nil || s.Restart(ctx, 0) == nil {
		t.Error("external mode has a primary or restarts an instance")
	}

	// The user's service: a Redis client pointed at the proxy.
	svc := redis.NewClient(&redis.Options{Addr: listen, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer svc.Close()
	if err := svc.Set(ctx, "k", "through the proxy", 0).Err(); err != nil {
		t.Fatalf("SET through the proxy: %v", err)
	}
	if got, err := r.Client(t).Get(ctx, "k").Result(); err != nil || got != "through the proxy" {
		t.Fatalf("GET on the upstream = %q, %v", got, err)
	}
	a, err := s.Controller().Apply(ctx, toxics.Fault{Proxy: ProxyRedis, Kind: toxics.Blackhole})
	if err != nil {
		t.Fatalf("blackhole: %v", err)
	}
	if err := svc.Get(ctx, "k").Err(); err == nil {
		t.Error("GET through a blackholed proxy succeeded")
	}
	if err := s.Controller().Remove(ctx, a); err != nil {
		t.Fatalf("remove the blackhole: %v", err)
	}
	res, err := http.Get(ep.ToxiproxyAPI + "/proxies")
	if err != nil {
		t.Fatalf("Toxiproxy API: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if !strings.Contains(string(body), `"listen":"`+listen+`"`) {
		t.Errorf("the Toxiproxy API does not list the proxy on %s: %s", listen, body)
	}

	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkGone(t, nil, endpointAddrs(t, Endpoints{Proxies: ep.Proxies, ToxiproxyAPI: ep.ToxiproxyAPI}))
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"instances", Config{Instances: -1}, []string{"instances: -1"}},
		{"profiles count", Config{Instances: 3, Profiles: []string{"seed", "seed"}}, []string{"2 given for 3 instances"}},
		{"profile name", Config{Profiles: []string{"fast"}}, []string{`profile "fast"`}},
		{"database conflict", Config{Database: DatabaseSQLite, DatabaseURL: "postgres://h/db"}, []string{"use one or the other"}},
		{"socket URL", Config{DatabaseURL: "postgres:///db?host=/run/postgresql"}, []string{"host parameter"}},
		{"DSN", Config{DatabaseURL: "host=x dbname=y"}, []string{"key=value"}},
		{"env", Config{Env: map[string]string{"LISTEN_ADDR": "x"}}, []string{"LISTEN_ADDR is chosen by the stack"}},
		{"seed", Config{SeedFlags: -2}, []string{"seed flags: -2"}},
		{"external target", Config{External: &External{RedisUpstream: "127.0.0.1:6379"}}, []string{"target URL is required"}},
		{"external nothing", Config{External: &External{TargetURL: "http://127.0.0.1:8080"}}, []string{"at least one upstream"}},
		{"external listen", Config{External: &External{TargetURL: "http://x:1", RedisUpstream: "x:1", PostgresListen: "127.0.0.1:5433"}}, []string{"postgres listen address given without"}},
		{"external address", Config{External: &External{TargetURL: "http://x:1", RedisUpstream: "nope"}}, []string{`redis upstream "nope"`}},
		{"external deferred", Config{DeferTargets: true, External: &External{TargetURL: "http://x:1", RedisUpstream: "x:1"}}, []string{"defer targets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; want it to mention %q", err, w)
				}
			}
			_, err = Start(t.Context(), tt.cfg)
			var ce *ComponentError
			if !errors.As(err, &ce) || ce.Component != "config" {
				t.Errorf("Start: err = %v, want a config ComponentError", err)
			}
		})
	}
}

func TestProxiedURL(t *testing.T) {
	up, prox, err := proxiedURL("postgres://u:p%40ss@db.example:6543/app?sslmode=require", "127.0.0.1:9")
	if err != nil || up != "db.example:6543" || prox != "postgres://u:p%40ss@127.0.0.1:9/app?sslmode=require" {
		t.Errorf("proxiedURL = %q, %q, %v", up, prox, err)
	}
	if up, _, err := proxiedURL("postgresql://u@db/app", ""); err != nil || up != "db:5432" {
		t.Errorf("default port: %q, %v", up, err)
	}
	if _, _, err := proxiedURL("postgres://u@a:1,b:2/app", ""); err == nil {
		t.Error("multiple hosts accepted")
	}
}

// TestStartFailures: a component that will not start gives an error
// naming it, and nothing is left running.
func TestStartFailures(t *testing.T) {
	flagserver := testenv.BuildFlagserver(t)
	tmp := t.TempDir()
	broken := filepath.Join(tmp, "broken-flagserver")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'boom: cannot serve' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       Config
		component string
		want      []string
		is        error
	}{
		{
			name:      "no flagserver",
			cfg:       Config{FlagserverBin: filepath.Join(tmp, "nope")},
			component: "flagserver",
			want:      []string{"make build"},
			is:        ErrFlagserverNotFound,
		},
		{
			name:      "no redis-server",
			cfg:       Config{FlagserverBin: flagserver, RedisServerBin: filepath.Join(tmp, "redis-server")},
			component: "redis primary",
			want:      []string{"apt-get install -y redis-server"},
			is:        toxics.ErrRedisNotFound,
		},
		{
			name:      "flagserver exits",
			cfg:       Config{FlagserverBin: broken, Database: DatabaseSQLite},
			component: "flagserver[0]",
			want:      []string{"exited before it was ready", "boom: cannot serve"},
		},
		{
			name:      "database unreachable",
			cfg:       Config{FlagserverBin: flagserver, DatabaseURL: "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/x", ReadyTimeout: 2 * time.Second},
			component: "postgres",
			want:      []string{"connect to the database URL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			tt.cfg.Dir = dir
			s, err := Start(t.Context(), tt.cfg)
			if err == nil {
				_ = s.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			var ce *ComponentError
			if !errors.As(err, &ce) || ce.Component != tt.component {
				t.Fatalf("err = %v; want a ComponentError for %s", err, tt.component)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v; want it to wrap %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v; want it to mention %q", err, w)
				}
			}
			if left := procsUnder(t, dir); len(left) > 0 {
				t.Errorf("processes left running: %v", left)
			}
		})
	}
}

func TestFindFlagserver(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findFlagserver("")
	if exe, _ := os.Executable(); err == nil {
		t.Skipf("a flagserver sits next to %s or in bin/", exe)
	}
	if !errors.Is(err, ErrFlagserverNotFound) || !strings.Contains(err.Error(), "flagserver on PATH") || !strings.Contains(err.Error(), "make build") {
		t.Errorf("err = %v; want ErrFlagserverNotFound saying what was tried and to run make build", err)
	}
}

// BenchmarkStart measures how long one hardened flagserver stack takes to
// be ready on an existing PostgreSQL server (each start on a fresh
// database, created before the clock starts), and reports the median:
//
//	go test -run '^$' -bench Start -benchtime 5x ./harness/internal/stack/
func BenchmarkStart(b *testing.B) {
	flagserver := testenv.BuildFlagserver(b)
	var ready []time.Duration
	for b.Loop() {
		b.StopTimer()
		dbURL := testenv.PostgresURL(b)
		b.StartTimer()
		s, err := Start(b.Context(), Config{FlagserverBin: flagserver, DatabaseURL: dbURL, Logger: logger(b)})
		if err != nil {
			b.Fatalf("Start: %v", err)
		}
		b.StopTimer()
		ready = append(ready, s.ReadyIn())
		if err := s.Close(context.Background()); err != nil {
			b.Fatalf("Close: %v", err)
		}
		b.StartTimer()
	}
	slices.Sort(ready)
	b.ReportMetric(float64(ready[len(ready)/2].Milliseconds()), "ms-ready-median")
	b.Logf("ready times: %v", ready)
}

// logger logs debug lines with the test's log when -v is given.
func logger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestStackFailover: the stack's servers and proxies are what
// toxics.Failover needs, and the flagserver follows the proxy.
func TestStackFailover(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := startStack(t, Config{Database: DatabaseSQLite, SeedFlags: 3})
	ep := s.Endpoints()
	sess := toxics.NewSession(s.Controller(), nil)
	t.Cleanup(func() { _ = sess.Cleanup(context.Background()) })
	rep, err := sess.Failover(ctx, toxics.FailoverSpec{
		Proxy: ProxyRedis, Primary: s.Primary(), Replica: s.Replica(),
		Rejoin: true, ReplicaProxy: ProxyRedisReplica,
	})
	if err != nil {
		t.Fatalf("Failover: %v", err)
	}
	t.Logf("failover: outage %v, rejoined after %v", rep.Outage(), rep.Rejoined.Sub(rep.Started))
	infos, err := s.Controller().Proxies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range infos {
		if p.Name == ProxyRedis && p.Upstream != ep.RedisReplica {
			t.Errorf("proxy redis forwards to %s after the failover, want the old replica %s", p.Upstream, ep.RedisReplica)
		}
	}
	testenv.Poll(t, 10*time.Second, "a read from the new primary", servedFrom(t, ep.TargetURLs[0], "redis", "memory"))
}

// A deferred start is a cold start: the flagserver starts once a fault is
// on the redis proxy, finds the seeded data, and its start-to-ready time
// is measured. A hardened flagserver gives up on a blackholed Redis
// within its budget; UNSAFE_BLOCKING_COLD_START waits for Redis.
func TestStackDeferredTargets(t *testing.T) {
	t.Setenv("UNSAFE_NO_DB_FALLBACK", "true") // this process's UNSAFE_ variables never reach a flagserver
	for _, tt := range []struct {
		name     string
		env      map[string]string
		blocking bool
	}{
		{"hardened", nil, false},
		{"blocking cold start", map[string]string{"UNSAFE_BLOCKING_COLD_START": "true"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, Config{DeferTargets: true, Env: tt.env})
			ep := s.Endpoints()
			if len(ep.TargetURLs) != 1 || pidOf(ep, "flagserver[0]") != 0 {
				t.Fatalf("endpoints %+v: want one flagserver URL and no flagserver process yet", ep)
			}
			if _, err := http.Get(ep.TargetURLs[0] + "/readyz"); err == nil {
				t.Fatal("something answers on the deferred flagserver's address before it started")
			}
			a, err := s.Controller().Apply(t.Context(), toxics.Fault{Proxy: ProxyRedis, Kind: toxics.Blackhole})
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				ready []time.Duration
				err   error
			}
			done := make(chan result, 1)
			go func() {
				r, err := s.StartTargets(t.Context())
				done <- result{r, err}
			}()
			if tt.blocking {
				select {
				case r := <-done:
					t.Fatalf("the blocking flagserver was ready after %v with Redis blackholed (err %v)", r.ready, r.err)
				case <-time.After(2 * time.Second):
				}
				if err := s.Controller().Remove(t.Context(), a); err != nil {
					t.Fatal(err)
				}
			}
			r := <-done
			if r.err != nil {
				t.Fatalf("StartTargets: %v", r.err)
			}
			t.Logf("ready in %v", r.ready)
			switch {
			case tt.blocking && r.ready[0] < 2*time.Second:
				t.Errorf("blocking start measured ready in %v, before Redis came back (> 2 s)", r.ready[0])
			case !tt.blocking && r.ready[0] > 3*time.Second:
				t.Errorf("hardened cold start with Redis blackholed took %v; it gives up on Redis after 500 ms", r.ready[0])
			}
			if code, src := getFlag(t, ep.TargetURLs[0]); code != 200 || !tt.blocking && src != "db-fallback" && src != "memory" {
				t.Errorf("GET after the deferred start: %d from %q; want 200 from the database (seeded before the start)", code, src)
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(pidOf(s.Endpoints(), "flagserver[0]")) + "/environ")
			if err == nil && strings.Contains(string(environ), "UNSAFE_NO_DB_FALLBACK") {
				t.Error("the harness's own UNSAFE_NO_DB_FALLBACK reached the flagserver")
			}
			if _, err := s.StartTargets(t.Context()); err == nil {
				t.Error("a second StartTargets succeeded")
			}
		})
	}
}
