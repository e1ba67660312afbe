package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	_ = ln.Close()
}

func TestRedisKillRestart(t *testing.T) {
	ctx := t.Context()
	r := Redis(t)
	if want := "redis://" + r.Addr() + "/0"; r.URL() != want {
		t.Errorf("URL() = %q, want %q", r.URL(), want)
	}
	c := r.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want \"v\"", got, err)
	}

	addr := r.Addr()
	r.Kill(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Kill succeeded")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s accepts connections after Kill", addr)
	}

	r.Restart(t)
	if r.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, r.Addr())
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart: err = %v, want redis.Nil (a cold server)", err)
	}

	r.Stop(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Stop succeeded")
	}
	r.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Stop and Restart: %v", err)
	}
}

func TestRedisArgs(t *testing.T) {
	r := Redis(t, RedisArgs("--maxmemory", "7mb"))
	got, err := r.Client(t).ConfigGet(t.Context(), "maxmemory").Result()
	if err != nil {
		t.Fatalf("CONFIG GET maxmemory: %v", err)
	}
	if want := strconv.Itoa(7 << 20); got["maxmemory"] != want {
		t.Fatalf("maxmemory = %q, want %q", got["maxmemory"], want)
	}
}

func TestRedisReplica(t *testing.T) {
	ctx := t.Context()
	primary := Redis(t)
	replica := primary.Replica(t)
	if replica.Addr() == primary.Addr() {
		t.Fatalf("replica shares the primary's address %s", primary.Addr())
	}
	if err := primary.Client(t).Set(ctx, "k", "from-primary", 0).Err(); err != nil {
		t.Fatalf("SET on primary: %v", err)
	}
	rc := replica.Client(t)
	Poll(t, 5*time.Second, "the replica sees the key", func() error {
		got, err := rc.Get(ctx, "k").Result()
		if err == nil && got != "from-primary" {
			err = errors.New("GET k = " + strconv.Quote(got))
		}
		return err
	})
	if err := rc.Set(ctx, "k", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("SET on replica: err = %v, want READONLY", err)
	}
}

func TestPostgresURL(t *testing.T) {
	ctx := t.Context()
	var names []string
	var held *pgx.Conn
	t.Run("fresh databases", func(t *testing.T) {
		u1, u2 := PostgresURL(t), PostgresURL(t)
		if u1 == u2 {
			t.Fatalf("two calls returned the same database %s", u1)
		}
		c1 := connect(t, u1)
		held = c1 // left open: the drop must force it out
		c2 := connect(t, u2)
		t.Cleanup(func() { _ = c2.Close(context.Background()) })
		for _, c := range []*pgx.Conn{c1, c2} {
			var name string
			if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
				t.Fatalf("current_database: %v", err)
			}
			names = append(names, name)
		}
		if _, err := c1.Exec(ctx, "CREATE TABLE flags (key text PRIMARY KEY); INSERT INTO flags VALUES ('a')"); err != nil {
			t.Fatalf("create a table: %v", err)
		}
		var n int
		if err := c2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
			t.Fatalf("count tables: %v", err)
		}
		if n != 0 {
			t.Fatalf("the second database has %d tables, want 0", n)
		}
	})
	if held != nil {
		defer held.Close(context.Background())
	}
	if t.Failed() {
		return
	}
	nameRE := regexp.MustCompile(`^flagstorm_test_[a-z0-9_]+_[0-9a-f]{16}$`)
	for _, name := range names {
		if !nameRE.MatchString(name) {
			t.Errorf("database name %q does not match %s", name, nameRE)
		}
	}

	srv, err := chosenServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL server: %s", srv.what)
	admin := connect(t, srv.admin.String())
	defer admin.Close(context.Background())
	var left int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left); err != nil {
		t.Fatalf("look for the databases: %v", err)
	}
	if left != 0 {
		t.Fatalf("%d of the databases %v still exist after cleanup", left, names)
	}
}

// TestThrowawayCluster forces the path taken when no server answers: a
// cluster of our own, run as an unprivileged user when we are root.
func TestThrowawayCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second")
	}
	c, err := startCluster()
	if err != nil {
		t.Fatalf("start a throwaway cluster: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.stop()
		}
	})
	if os.Geteuid() == 0 && c.runAs == "" {
		t.Fatal("running as root but the cluster has no user to run as")
	}
	srv, err := newPGServer("postgres://postgres@127.0.0.1:"+strconv.Itoa(c.port)+"/postgres?sslmode=disable", "test cluster")
	if err != nil {
		t.Fatal(err)
	}
	if err := probe(srv, 10*time.Second); err != nil {
		t.Fatalf("probe the cluster: %v", err)
	}
	var dbURL string
	t.Run("database", func(t *testing.T) {
		dbURL = createDatabase(t, srv)
		conn := connect(t, dbURL)
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), "CREATE TABLE t (id int)"); err != nil {
			t.Fatalf("create a table: %v", err)
		}
		var fsync string
		if err := conn.QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
			t.Errorf("fsync = %q, %v; want off", fsync, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, srv.admin.String())
	var left int
	err = admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", strings.TrimPrefix(u.Path, "/")).Scan(&left)
	_ = admin.Close(context.Background())
	if err != nil || left != 0 {
		t.Fatalf("database %s after cleanup: count = %d, err = %v; want dropped", u.Path, left, err)
	}

	stopped = true
	if err := c.stop(); err != nil {
		t.Fatalf("stop the cluster: %v", err)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s remains after stop (stat: %v)", c.dir, err)
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.port), time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("port %d still accepts connections after stop", c.port)
	}
}

func TestProxy(t *testing.T) {
	// proxied starts a Redis with key k set, a proxy in front of it, and a
	// client through the proxy that fails fast.
	proxied := func(t *testing.T) (*RedisServer, *Proxy, *redis.Client) {
		r := Redis(t)
		if err := r.Client(t).Set(t.Context(), "k", "one", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		p := NewProxy(t, "redis", r.Addr())
		c := redis.NewClient(&redis.Options{
			Addr:         p.Addr(),
			DialTimeout:  200 * time.Millisecond,
			ReadTimeout:  200 * time.Millisecond,
			WriteTimeout: 200 * time.Millisecond,
			MaxRetries:   -1,
		})
		t.Cleanup(func() { _ = c.Close() })
		if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != "one" {
			t.Fatalf("GET through the proxy = %q, %v; want \"one\"", got, err)
		}
		return r, p, c
	}
	// recovers waits until PING through the proxy succeeds again.
	recovers := func(t *testing.T, c *redis.Client) {
		t.Helper()
		Poll(t, 5*time.Second, "PING recovers", func() error { return c.Ping(t.Context()).Err() })
	}
	timedPing := func(t *testing.T, c *redis.Client) time.Duration {
		t.Helper()
		start := time.Now()
		if err := c.Ping(t.Context()).Err(); err != nil {
			t.Fatalf("PING: %v", err)
		}
		return time.Since(start)
	}

	t.Run("latency", func(t *testing.T) {
		_, p, c := proxied(t)
		remove := p.Latency(t, 100*time.Millisecond, 0)
		if d := timedPing(t, c); d < 90*time.Millisecond {
			t.Errorf("PING with 100 ms latency took %v, want >= 90ms", d)
		}
		remove()
		remove() // a second call does nothing
		if d := timedPing(t, c); d >= 90*time.Millisecond {
			t.Errorf("PING after removing the latency took %v, want < 90ms", d)
		}
	})

	t.Run("AddToxic with a duration", func(t *testing.T) {
		_, p, c := proxied(t)
		p.AddToxic(t, "slow", "latency", "upstream", 1, map[string]any{"latency": 60 * time.Millisecond})
		if d := timedPing(t, c); d < 50*time.Millisecond {
			t.Errorf("PING with 60 ms upstream latency took %v, want >= 50ms", d)
		}
		p.RemoveToxic(t, "slow")
		if d := timedPing(t, c); d >= 50*time.Millisecond {
			t.Errorf("PING after RemoveToxic took %v, want < 50ms", d)
		}
	})

	t.Run("blackhole", func(t *testing.T) {
		_, p, c := proxied(t)
		remove := p.Blackhole(t)
		err := c.Ping(t.Context()).Err()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("PING through a blackhole: err = %v, want a timeout", err)
		}
		remove()
		recovers(t, c)
	})

	t.Run("reset peer", func(t *testing.T) {
		_, p, c := proxied(t)
		remove := p.ResetPeer(t)
		if err := c.Ping(t.Context()).Err(); err == nil {
			t.Fatal("PING through reset_peer succeeded")
		}
		remove()
		recovers(t, c)
	})

	t.Run("disable", func(t *testing.T) {
		_, p, c := proxied(t)
		p.Disable(t)
		if conn, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
			_ = conn.Close()
			t.Fatal("dial to a disabled proxy succeeded")
		}
		if err := c.Ping(t.Context()).Err(); err == nil {
			t.Fatal("PING through a disabled proxy succeeded")
		}
		p.Enable(t)
		recovers(t, c)
	})

	t.Run("set upstream", func(t *testing.T) {
		_, p, c := proxied(t)
		other := Redis(t)
		if err := other.Client(t).Set(t.Context(), "k", "two", 0).Err(); err != nil {
			t.Fatalf("SET on the other server: %v", err)
		}
		p.SetUpstream(t, other.Addr())
		if p.Upstream() != other.Addr() {
			t.Fatalf("Upstream() = %s, want %s", p.Upstream(), other.Addr())
		}
		Poll(t, 5*time.Second, "GET through the moved proxy returns \"two\"", func() error {
			got, err := c.Get(t.Context(), "k").Result()
			if err == nil && got != "two" {
				err = errors.New("GET k = " + strconv.Quote(got))
			}
			return err
		})
	})
}

func TestToxiproxyAPI(t *testing.T) {
	r := Redis(t)
	s := Toxiproxy(t)
	p := s.NewProxy(t, "redis", r.Addr())
	res, err := http.Get(s.URL() + "/proxies")
	if err != nil {
		t.Fatalf("GET /proxies: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /proxies: status %d, %v", res.StatusCode, err)
	}
	if !strings.Contains(string(body), `"listen":"`+p.Addr()+`"`) {
		t.Fatalf("GET /proxies does not list the proxy on %s: %s", p.Addr(), body)
	}
}

func TestToxicAttributes(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		in      map[string]any
		want    map[string]any
		wantErr bool
	}{
		{name: "nil", typ: "latency", in: nil, want: nil},
		{
			name: "milliseconds, rounded up",
			typ:  "latency",
			in:   map[string]any{"latency": 100 * time.Millisecond, "jitter": 1500 * time.Microsecond},
			want: map[string]any{"latency": int64(100), "jitter": int64(2)},
		},
		{name: "plain values pass", typ: "bandwidth", in: map[string]any{"rate": 10}, want: map[string]any{"rate": 10}},
		{
			name: "slicer delay in microseconds",
			typ:  "slicer",
			in:   map[string]any{"delay": 3 * time.Millisecond, "average_size": 10},
			want: map[string]any{"delay": int64(3000), "average_size": 10},
		},
		{name: "negative", typ: "latency", in: map[string]any{"latency": -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toxicAttributes(tt.typ, tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDatabaseName(t *testing.T) {
	a, b := databaseName(), databaseName()
	if a == b {
		t.Fatalf("two names are equal: %s", a)
	}
	re := regexp.MustCompile(`^flagstorm_test_[a-z0-9_]{1,20}_[0-9a-f]{16}$`)
	for _, n := range []string{a, b} {
		if !re.MatchString(n) || len(n) > 63 {
			t.Errorf("name %q does not match %s or is longer than 63", n, re)
		}
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	return c
}
