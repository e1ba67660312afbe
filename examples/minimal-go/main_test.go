package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/examples/minimal-go/internal/flags"
	"github.com/flagstorm/flagstorm/internal/testenv"
)

// The service itself imports nothing of this repository; its tests use
// testenv for real backends (a redis-server, a fresh PostgreSQL database,
// Toxiproxy).
func TestMain(m *testing.M) { testenv.Main(m) }

const token = "test-token"

// syncBuffer is a log the service writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// seededDatabase returns a fresh database seeded by `minimal-go seed`.
func seededDatabase(t *testing.T) string {
	t.Helper()
	url := testenv.PostgresURL(t)
	var log syncBuffer
	if code := run(t.Context(), []string{"seed"}, getenv(map[string]string{"DATABASE_URL": url}), &log); code != 0 {
		t.Fatalf("seed exited %d:\n%s", code, log.String())
	}
	return url
}

// start runs the service in process with env (plus LISTEN_ADDR and
// ADMIN_TOKEN) until the test ends, then checks it shut down cleanly.
// It returns the base URL once /readyz answers 200.
func start(t *testing.T, env map[string]string) string {
	t.Helper()
	env["LISTEN_ADDR"] = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	env["ADMIN_TOKEN"] = token
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, getenv(env), &log) }()
	t.Cleanup(func() {
		cancel() // what SIGTERM does
		if code := <-done; code != 0 {
			t.Errorf("service exited %d, want 0 after shutdown:\n%s", code, log.String())
		}
	})
	base := "http://" + env["LISTEN_ADDR"]
	testenv.Poll(t, 10*time.Second, "the service is ready", func() error {
		select {
		case code := <-done:
			done <- code
			return fmt.Errorf("exited %d: %s", code, log.String())
		default:
		}
		if code, _ := call(base+"/readyz", http.MethodGet, "", ""); code != http.StatusOK {
			return fmt.Errorf("/readyz answered %d", code)
		}
		return nil
	})
	return base
}

// call sends a request and returns the status and the body; a transport
// error is status 0.
func call(url, method, auth, body string) (int, []byte) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// getFlag GETs one flag of production and fails the test unless it is 200.
func getFlag(t *testing.T, base, key string) flags.Flag {
	t.Helper()
	code, body := call(base+"/api/config/flags/"+key+"?environment=production", http.MethodGet, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", key, code, body)
	}
	var f flags.Flag
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatalf("GET %s: %v in %s", key, err, body)
	}
	return f
}

func patch(t *testing.T, base, key, body string) {
	t.Helper()
	code, b := call(base+"/api/config/flags/"+key+"?environment=production", http.MethodPatch, "Bearer "+token, body)
	if code != http.StatusOK {
		t.Fatalf("PATCH %s %s: %d %s", key, body, code, b)
	}
}

func rows(t *testing.T, url string) []flags.Flag {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	r, err := conn.Query(t.Context(), `SELECT flag_key, env, enabled, rollout, description FROM flags ORDER BY env, flag_key`)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := pgx.CollectRows(r, func(r pgx.CollectableRow) (flags.Flag, error) {
		var f flags.Flag
		err := r.Scan(&f.Key, &f.Environment, &f.Enabled, &f.RolloutPercentage, &f.Description)
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestSeed(t *testing.T) {
	url := seededDatabase(t)
	// Again: idempotent.
	var log syncBuffer
	if code := run(t.Context(), []string{"seed"}, getenv(map[string]string{"DATABASE_URL": url}), &log); code != 0 {
		t.Fatalf("second seed exited %d:\n%s", code, log.String())
	}
	got := rows(t, url)
	perEnv := map[string]int{}
	for _, f := range got {
		perEnv[f.Environment]++
	}
	if diff := cmp.Diff(map[string]int{"production": 100, "staging": 100, "development": 100}, perEnv); diff != "" {
		t.Errorf("flags per environment (-want +got):\n%s", diff)
	}
	if first, last := got[0].Key, got[99].Key; first != "flag-000" || last != "flag-099" {
		t.Errorf("keys run %s .. %s, want flag-000 .. flag-099", first, last)
	}

	// seed.sql makes the same rows.
	sqlURL := testenv.PostgresURL(t)
	script, err := os.ReadFile("seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), sqlURL)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := conn.Exec(t.Context(), string(script)); err != nil {
			t.Fatalf("seed.sql: %v", err)
		}
	}
	conn.Close(t.Context())
	if diff := cmp.Diff(got, rows(t, sqlURL)); diff != "" {
		t.Errorf("seed.sql differs from `minimal-go seed` (-seed +seed.sql):\n%s", diff)
	}
}

func TestBadConfigurationExits2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown defect", nil, map[string]string{"DATABASE_URL": "postgres://x/y", "DEFECT": "bogus"}, `unknown DEFECT \"bogus\": want empty (a correct build) or one of stale-after-outage, error-on-redis, slow-fallback, bypass`},
		{"no database", nil, map[string]string{}, "DATABASE_URL is required"},
		{"bad REDIS_URL", nil, map[string]string{"DATABASE_URL": "postgres://x/y", "REDIS_URL": "http://x"}, "REDIS_URL"},
		{"unknown command", []string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://x/y"}, "usage: minimal-go [seed]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			if code := run(t.Context(), tt.args, getenv(tt.env), &log); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(log.String(), tt.want) {
				t.Errorf("log does not say %q:\n%s", tt.want, log.String())
			}
		})
	}
}

func TestAPI(t *testing.T) {
	redis := testenv.Redis(t)
	rdb := redis.Client(t)
	base := start(t, map[string]string{"DATABASE_URL": seededDatabase(t), "REDIS_URL": redis.URL()})
	flagURL := base + "/api/config/flags/flag-007?environment=production"

	t.Run("list", func(t *testing.T) {
		code, body := call(base+"/api/config/flags?environment=staging", http.MethodGet, "", "")
		var got struct{ Flags []flags.Flag }
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil {
			t.Fatalf("%d %v %s", code, err, body)
		}
		if len(got.Flags) != 100 || got.Flags[0].Key != "flag-000" || got.Flags[99].Key != "flag-099" || got.Flags[5].Environment != "staging" {
			t.Errorf("got %d flags, first %+v, last %+v", len(got.Flags), got.Flags[0], got.Flags[len(got.Flags)-1])
		}
	})
	t.Run("get", func(t *testing.T) {
		want := flags.Flag{Key: "flag-008", Environment: "production", Enabled: true}
		if diff := cmp.Diff(want, getFlag(t, base, "flag-008")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name, method, url, auth, body string
			want                          int
		}{
			{"unknown flag", "GET", base + "/api/config/flags/nope?environment=production", "", "", 404},
			{"no environment", "GET", base + "/api/config/flags", "", "", 400},
			{"no token", "PATCH", flagURL, "", `{"enabled": true}`, 401},
			{"wrong token", "PATCH", flagURL, "Bearer test-tokeN", `{"enabled": true}`, 401},
			{"not bearer", "PATCH", flagURL, token, `{"enabled": true}`, 401},
			{"not JSON", "PATCH", flagURL, "Bearer " + token, `enabled`, 400},
			{"unknown field", "PATCH", flagURL, "Bearer " + token, `{"version": 3}`, 400},
			{"empty patch", "PATCH", flagURL, "Bearer " + token, `{}`, 400},
			{"rollout 101", "PATCH", flagURL, "Bearer " + token, `{"rolloutPercentage": 101}`, 400},
			{"two objects", "PATCH", flagURL, "Bearer " + token, `{"enabled": true}{}`, 400},
			{"patch unknown flag", "PATCH", base + "/api/config/flags/nope?environment=production", "Bearer " + token, `{"enabled": true}`, 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := call(tt.url, tt.method, tt.auth, tt.body)
				var e struct{ Error string }
				if code != tt.want || json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("%d %s, want %d with an error message", code, body, tt.want)
				}
			})
		}
	})
	t.Run("cache keys and TTL", func(t *testing.T) {
		for key, url := range map[string]string{
			"minimal:production:flag-007": flagURL,
			"minimal:production:all":      base + "/api/config/flags?environment=production",
		} {
			testenv.Poll(t, 5*time.Second, key+" is cached", func() error {
				if code, body := call(url, http.MethodGet, "", ""); code != http.StatusOK {
					return fmt.Errorf("GET %d %s", code, body)
				}
				ttl, err := rdb.TTL(t.Context(), key).Result()
				if err != nil || ttl < 290*time.Second || ttl > 300*time.Second {
					return fmt.Errorf("TTL %v (%v), want 290..300 s", ttl, err)
				}
				return nil
			})
		}
	})
	t.Run("patch then get", func(t *testing.T) {
		code, body := call(flagURL, http.MethodPatch, "Bearer "+token, `{"enabled": true, "rolloutPercentage": 42, "description": "w1"}`)
		want := flags.Flag{Key: "flag-007", Environment: "production", Enabled: true, RolloutPercentage: 42, Description: "w1"}
		var got flags.Flag
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil {
			t.Fatalf("%d %v %s", code, err, body)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PATCH answered (-want +got):\n%s", diff)
		}
		if n := rdb.Exists(t.Context(), "minimal:production:flag-007", "minimal:production:all").Val(); n != 0 {
			t.Errorf("%d cache keys left after the PATCH, want 0", n)
		}
		if diff := cmp.Diff(want, getFlag(t, base, "flag-007")); diff != "" {
			t.Errorf("GET after PATCH (-want +got):\n%s", diff)
		}
		patch(t, base, "flag-007", `{"description": "w2"}`)
		if got := getFlag(t, base, "flag-007"); got.Description != "w2" || got.RolloutPercentage != 42 {
			t.Errorf("GET after a partial PATCH: %+v", got)
		}
	})
}

// With Redis killed, reads come from the database (correct build) or fail
// (DEFECT=error-on-redis).
func TestRedisKilled(t *testing.T) {
	db := seededDatabase(t)
	for _, tt := range []struct {
		defect string
		want   int
	}{{"", http.StatusOK}, {"error-on-redis", http.StatusInternalServerError}} {
		t.Run("defect="+tt.defect, func(t *testing.T) {
			redis := testenv.Redis(t)
			base := start(t, map[string]string{"DATABASE_URL": db, "REDIS_URL": redis.URL(), "DEFECT": tt.defect})
			getFlag(t, base, "flag-001") // cached
			redis.Kill(t)
			for _, path := range []string{"/api/config/flags/flag-001", "/api/config/flags"} {
				for range 5 {
					began := time.Now()
					code, body := call(base+path+"?environment=production", http.MethodGet, "", "")
					if code != tt.want {
						t.Fatalf("GET %s with Redis down: %d %s, want %d", path, code, body, tt.want)
					}
					if took := time.Since(began); took > time.Second {
						t.Errorf("GET %s with Redis down took %v", path, took)
					}
				}
			}
			if tt.want != http.StatusOK {
				return
			}
			patch(t, base, "flag-001", `{"description": "while down"}`)
			if got := getFlag(t, base, "flag-001"); got.Description != "while down" {
				t.Errorf("GET after a PATCH with Redis down: %+v", got)
			}
			redis.Restart(t) // empty
			if got := getFlag(t, base, "flag-001"); got.Description != "while down" {
				t.Errorf("GET after Redis came back empty: %+v", got)
			}
		})
	}
}

// A PATCH whose invalidation fails (Redis unreachable) must not leave the
// old value to be served when Redis comes back with its data. The defect
// stale-after-outage does exactly that.
func TestInvalidationSurvivesOutage(t *testing.T) {
	db := seededDatabase(t)
	for _, defect := range []string{"", "stale-after-outage"} {
		t.Run("defect="+defect, func(t *testing.T) {
			redis := testenv.Redis(t)
			rdb := redis.Client(t)
			proxy := testenv.NewProxy(t, "redis", redis.Addr())
			base := start(t, map[string]string{"DATABASE_URL": db, "REDIS_URL": "redis://" + proxy.Addr() + "/0", "DEFECT": defect})
			key := "flag-0" + strconv.Itoa(10+len(defect)%10) // the subtests share the database
			testenv.Poll(t, 5*time.Second, "the flag is cached", func() error {
				getFlag(t, base, key)
				return rdb.Get(t.Context(), "minimal:production:"+key).Err()
			})
			proxy.Disable(t)
			patch(t, base, key, `{"description": "after the outage"}`)
			proxy.Enable(t)

			if defect != "" {
				testenv.Poll(t, 5*time.Second, "the old value is served again", func() error {
					if got := getFlag(t, base, key); got.Description != "" {
						return fmt.Errorf("description %q", got.Description)
					}
					return nil
				})
				return
			}
			testenv.Poll(t, 5*time.Second, "the new value is cached", func() error {
				if got := getFlag(t, base, key); got.Description != "after the outage" {
					t.Fatalf("stale read after the outage: %+v", got)
				}
				v, err := rdb.Get(t.Context(), "minimal:production:"+key).Result()
				if !strings.Contains(v, "after the outage") {
					return fmt.Errorf("cached %q (%v)", v, err)
				}
				return nil
			})
		})
	}
}

// listFlags GETs the list of production and returns its status, its
// flags (if 200) and how long it took.
func listFlags(t *testing.T, base string) (int, []flags.Flag, time.Duration) {
	t.Helper()
	began := time.Now()
	code, body := call(base+"/api/config/flags?environment=production", http.MethodGet, "", "")
	took := time.Since(began)
	var got struct{ Flags []flags.Flag }
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("list: %v in %s", err, body)
		}
	}
	return code, got.Flags, took
}

// flagIn returns key's flag in fs (the zero Flag if absent).
func flagIn(fs []flags.Flag, key string) flags.Flag {
	if i := slices.IndexFunc(fs, func(f flags.Flag) bool { return f.Key == key }); i >= 0 {
		return fs[i]
	}
	return flags.Flag{}
}

// With Redis and PostgreSQL both down (scenarios/both-down.yaml), a list
// is answered from the process's last copy, which includes the writes it
// acknowledged; a single flag and a write fail fast. Once the database
// answers again, the copy is no longer used.
func TestBothDown(t *testing.T) {
	db := seededDatabase(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.NewProxy(t, "postgres", u.Host)
	u.Host = pg.Addr()
	redis := testenv.Redis(t)
	base := start(t, map[string]string{"DATABASE_URL": u.String(), "REDIS_URL": redis.URL()})
	const key = "flag-050"

	if code, fs, _ := listFlags(t, base); code != http.StatusOK || len(fs) != 100 {
		t.Fatalf("list: %d, %d flags", code, len(fs)) // fills the copy
	}
	patch(t, base, key, `{"enabled": false, "rolloutPercentage": 30, "description": "before the outage"}`)
	want := flags.Flag{Key: key, Environment: "production", RolloutPercentage: 30, Description: "before the outage"}

	redis.Kill(t)
	pg.Disable(t)

	// Redis failing (the breaker opens), then Redis back empty (every
	// read misses): either way the database is refused and the copy answers.
	var slowest time.Duration
	checkLists := func(what string) {
		t.Helper()
		for range 20 {
			code, fs, took := listFlags(t, base)
			slowest = max(slowest, took)
			if code != http.StatusOK {
				t.Fatalf("list with %s: %d, want 200 from the copy", what, code)
			}
			if got := flagIn(fs, key); got != want || len(fs) != 100 {
				t.Fatalf("list with %s: %d flags, %s is %+v, want %+v", what, len(fs), key, got, want)
			}
		}
	}
	checkLists("Redis killed and the database refused")
	redis.Restart(t)
	checkLists("Redis empty and the database refused")
	t.Logf("slowest list answered from the copy: %v", slowest)

	for _, req := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPatch, `{"description": "during the outage"}`}} {
		began := time.Now()
		code, body := call(base+"/api/config/flags/"+key+"?environment=production", req.method, "Bearer "+token, req.body)
		took := time.Since(began)
		t.Logf("%s of one flag with both down: %d in %v", req.method, code, took)
		if code < 500 || took > time.Second {
			t.Errorf("%s of one flag with both down: %d %s in %v, want a 5xx in under 1 s", req.method, code, body, took)
		}
	}
	checkLists("a failed write") // a write that was not acknowledged changes nothing

	// The database answers again: a change made behind the service's back
	// shows at once (the copy is only a last resort).
	pg.Enable(t)
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), `UPDATE flags SET description = 'by SQL' WHERE env = 'production' AND flag_key = $1`, key); err != nil {
		t.Fatal(err)
	}
	testenv.Poll(t, 5*time.Second, "the list comes from the database again", func() error {
		code, fs, _ := listFlags(t, base)
		if got := flagIn(fs, key).Description; code != http.StatusOK || got != "by SQL" {
			return fmt.Errorf("%d, description %q", code, got)
		}
		return nil
	})
}

// Behind 300 ms of Redis latency, a correct build soon stops waiting
// (timeouts, then the breaker); DEFECT=slow-fallback waits every time.
func TestRedisLatency(t *testing.T) {
	db := seededDatabase(t)
	for _, tt := range []struct {
		defect string
		slow   bool
	}{{"", false}, {"slow-fallback", true}} {
		t.Run("defect="+tt.defect, func(t *testing.T) {
			redis := testenv.Redis(t)
			proxy := testenv.NewProxy(t, "redis", redis.Addr())
			base := start(t, map[string]string{"DATABASE_URL": db, "REDIS_URL": "redis://" + proxy.Addr() + "/0", "DEFECT": tt.defect})
			getFlag(t, base, "flag-020")
			proxy.Latency(t, 300*time.Millisecond, 0)
			for i := range 6 {
				began := time.Now()
				getFlag(t, base, "flag-020")
				took := time.Since(began)
				if i < 3 {
					continue // the correct build's breaker trips after 3 timeouts
				}
				if slow := took > 250*time.Millisecond; slow != tt.slow {
					t.Errorf("GET %d took %v, want slow=%v", i, took, tt.slow)
				}
			}
		})
	}
}

// DEFECT=bypass finds Redis at REDIS_HOST:REDIS_PORT instead of REDIS_URL.
func TestBypass(t *testing.T) {
	db := seededDatabase(t)
	viaURL, viaHost := testenv.Redis(t), testenv.Redis(t)
	for _, tt := range []struct {
		defect    string
		want, not *testenv.RedisServer
	}{{"", viaURL, viaHost}, {"bypass", viaHost, viaURL}} {
		t.Run("defect="+tt.defect, func(t *testing.T) {
			base := start(t, map[string]string{
				"DATABASE_URL": db, "DEFECT": tt.defect, "REDIS_URL": viaURL.URL(),
				"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(viaHost.Port()),
			})
			key := "flag-03" + strconv.Itoa(len(tt.defect)%10)
			rdb := tt.want.Client(t)
			testenv.Poll(t, 5*time.Second, "the flag is cached in the expected Redis", func() error {
				getFlag(t, base, key)
				return rdb.Get(t.Context(), "minimal:production:"+key).Err()
			})
			if n := tt.not.Client(t).Exists(t.Context(), "minimal:production:"+key).Val(); n != 0 {
				t.Errorf("the flag is cached in the other Redis too")
			}
		})
	}
}

// The built binary: seed exits 0, an unknown DEFECT exits 2, and the
// service stops with exit 0 on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "minimal-go")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := testenv.PostgresURL(t)
	redis := testenv.Redis(t)
	command := func(env ...string) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append([]string{"DATABASE_URL=" + db, "REDIS_URL=" + redis.URL(), "PATH=" + os.Getenv("PATH")}, env...)
		return cmd
	}

	seed := command()
	seed.Args = append(seed.Args, "seed")
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	out, err := command("DEFECT=bogus").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "unknown DEFECT") {
		t.Errorf("DEFECT=bogus: exit %d, want 2:\n%s", code, out)
	}

	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var log syncBuffer
	serve := command("LISTEN_ADDR="+addr, "DEFECT=stale-after-outage")
	serve.Stderr = &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill() })
	testenv.Poll(t, 10*time.Second, "the service is ready", func() error {
		if code, body := call("http://"+addr+"/api/config/flags/flag-099?environment=development", http.MethodGet, "", ""); code != http.StatusOK {
			return fmt.Errorf("GET answered %d %s", code, body)
		}
		return nil
	})
	if !strings.Contains(log.String(), `"defect":"stale-after-outage"`) {
		t.Errorf("the active defect is not logged at start:\n%s", log.String())
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, log.String())
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
