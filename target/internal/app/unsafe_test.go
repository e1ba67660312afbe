package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/target/internal/rediscache"
)

func TestUnsafeFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     func(string) string
		want    Unsafe
		wantErr string
	}{
		{"unset: all off", env(), Unsafe{}, ""},
		{"false is off", env("UNSAFE_NO_DB_FALLBACK", "false"), Unsafe{}, ""},
		{"each on", env("UNSAFE_NO_DB_FALLBACK", "true", "UNSAFE_NAIVE_INVALIDATION", "true", "UNSAFE_UNBOUNDED_RETRIES", "true",
			"UNSAFE_BLOCKING_COLD_START", "true", "UNSAFE_NO_REDIS_TIMEOUT", "true"),
			Unsafe{NoDBFallback: true, NaiveInvalidation: true, UnboundedRetries: true, BlockingColdStart: true, NoRedisTimeout: true}, ""},
		{"only the exact word true", env("UNSAFE_NAIVE_INVALIDATION", "1"), Unsafe{}, `UNSAFE_NAIVE_INVALIDATION: want true`},
		{"a typo is an error, not off", env("UNSAFE_NO_REDIS_TIMEOUT", "ture"), Unsafe{}, `got "ture"`},
		{"case matters", env("UNSAFE_UNBOUNDED_RETRIES", "TRUE"), Unsafe{}, "UNSAFE_UNBOUNDED_RETRIES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(tt.env)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, cfg.Unsafe); diff != "" {
				t.Errorf("Unsafe (-want +got):\n%s", diff)
			}
		})
	}
}

// No switch changes a profile unless it is on.
func TestUnsafeOffLeavesProfilesUnchanged(t *testing.T) {
	ignoreFuncs := cmpopts.IgnoreFields(rediscache.Config{}, "RetryBackoff")
	for _, name := range ProfileNames {
		p, _ := LookupProfile(name)
		got := Unsafe{}.apply(p)
		if diff := cmp.Diff(p, got, ignoreFuncs); diff != "" {
			t.Errorf("%s: the zero Unsafe changed the profile (-want +got):\n%s", name, diff)
		}
		if (p.Redis.RetryBackoff == nil) != (got.Redis.RetryBackoff == nil) {
			t.Errorf("%s: the zero Unsafe changed the retry backoff", name)
		}
	}
}

func TestUnsafeSwitchesApply(t *testing.T) {
	h := HardenedProfile()
	for _, tt := range []struct {
		name  string
		u     Unsafe
		check func(p Profile) string
	}{
		{"no db fallback", Unsafe{NoDBFallback: true}, func(p Profile) string {
			if !p.Service.NoCacheFallback {
				return "fallback still on"
			}
			return ""
		}},
		{"naive invalidation", Unsafe{NaiveInvalidation: true}, func(p Profile) string {
			if p.Service.DurableInvalidation || p.Service.GuardedFill || p.Service.InvalidationRecheck != 0 {
				return "invalidation still durable or guarded"
			}
			return ""
		}},
		{"unbounded retries", Unsafe{UnboundedRetries: true}, func(p Profile) string {
			if p.Redis.MaxRetries != UnsafeRetries || p.Redis.RetryBackoff != nil {
				return "retries bounded or backed off"
			}
			return ""
		}},
		{"no redis timeout", Unsafe{NoRedisTimeout: true}, func(p Profile) string {
			if p.Redis.ReadTimeout >= 0 || p.Redis.WriteTimeout >= 0 || p.Redis.DialTimeout < time.Hour || p.Redis.PoolTimeout < time.Hour {
				return "a timeout is left"
			}
			return ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if msg := tt.check(tt.u.apply(h)); msg != "" {
				t.Error(msg)
			}
			if msg := tt.check(h); msg == "" {
				t.Error("the hardened profile itself already has this setting: the test proves nothing")
			}
		})
	}
}

func TestUnsafeHelpAndStartupWarning(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(t.Context(), []string{"help"}, env(), &stdout, &stderr); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, v := range UnsafeVars() {
		if !strings.Contains(stdout.String(), v) {
			t.Errorf("flagserver help does not document %s:\n%s", v, stdout.String())
		}
	}

	var logs bytes.Buffer
	cfg, err := ConfigFromEnv(env("UNSAFE_NO_DB_FALLBACK", "true", "UNSAFE_NAIVE_INVALIDATION", "true"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr, cfg.SQLitePath = "127.0.0.1:0", filepath.Join(t.TempDir(), "f.db")
	srv, err := Start(t.Context(), cfg, newLogger(&logs, Config{LogLevel: "warn", LogFormat: "json"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"UNSAFE_NO_DB_FALLBACK", "UNSAFE_NAIVE_INVALIDATION"} {
		if !strings.Contains(logs.String(), `"level":"WARN","msg":"UNSAFE configuration`) || !strings.Contains(logs.String(), `"switch":"`+v+`"`) {
			t.Errorf("no WARN line at start-up for %s:\n%s", v, logs.String())
		}
	}
	if strings.Contains(logs.String(), "UNSAFE_UNBOUNDED_RETRIES") {
		t.Errorf("a switch that is off was logged:\n%s", logs.String())
	}
}

// The switches against a real redis-server behind Toxiproxy, each next to
// what the hardened profile does without it.

func TestUnsafeNoDBFallbackAnswers503(t *testing.T) {
	redis := testenv.Redis(t)
	proxy := testenv.NewProxy(t, "redis", redis.Addr())
	srv := start(t, options{profile: "hardened", redisURL: "redis://" + proxy.Addr() + "/0", memoryTTL: zero(), unsafe: Unsafe{NoDBFallback: true}})
	must(t, getFlag(t, srv, "flag-001"), 200, "db")
	proxy.Disable(t)
	for range 3 {
		if r := getFlag(t, srv, "flag-001"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("with Redis refused: %d from %q, want 503 (no fallback)", r.status, r.source)
		}
	}
	proxy.Enable(t)
	testenv.Poll(t, 10*time.Second, "reads answer again once Redis is back", servedFrom(t, srv, "flag-001", ""))
}

func TestUnsafeNaiveInvalidationLosesTheDEL(t *testing.T) {
	redis := testenv.Redis(t)
	proxy := testenv.NewProxy(t, "redis", redis.Addr())
	srv := start(t, options{profile: "hardened", redisURL: "redis://" + proxy.Addr() + "/0", memoryTTL: zero(), unsafe: Unsafe{NaiveInvalidation: true}})
	must(t, getFlag(t, srv, "flag-007"), 200, "db")
	old := getFlag(t, srv, "flag-007")
	must(t, old, 200, "redis")

	proxy.Disable(t)
	must(t, patch(t, srv, "flag-007", `{"description": "changed during the outage"}`), 200, "")
	proxy.Enable(t)
	testenv.Poll(t, 10*time.Second, "Redis answers again", servedFrom(t, srv, "flag-007", "redis"))
	if got := getFlag(t, srv, "flag-007").flag(t); got.Version != old.flag(t).Version {
		t.Errorf("after the outage: version %d; the naive invalidation should have lost the DEL and left version %d in Redis (hardened without the switch serves the new one: TestPatchDuringRedisOutage)",
			got.Version, old.flag(t).Version)
	}
}

func TestUnsafeUnboundedRetriesRetryEveryCommand(t *testing.T) {
	redis := testenv.Redis(t)
	proxy := testenv.NewProxy(t, "redis", redis.Addr())
	srv := start(t, options{profile: "hardened", redisURL: "redis://" + proxy.Addr() + "/0", memoryTTL: zero(), unsafe: Unsafe{UnboundedRetries: true}})
	must(t, getFlag(t, srv, "flag-002"), 200, "db")
	proxy.Disable(t)
	before := metric(t, srv, "flagserver_cache_retries_total", "op", "get")
	must(t, getFlag(t, srv, "flag-002"), 200, "db-fallback")
	// Generation (a GET too) and the read itself: UnsafeRetries each at least.
	if got := metric(t, srv, "flagserver_cache_retries_total", "op", "get") - before; got < UnsafeRetries {
		t.Errorf("one read retried %v times with Redis refused, want at least %d (hardened alone: 0)", got, UnsafeRetries)
	}
}

func TestUnsafeNoRedisTimeoutHangs(t *testing.T) {
	redis := testenv.Redis(t)
	proxy := testenv.NewProxy(t, "redis", redis.Addr())
	srv := start(t, options{profile: "hardened", redisURL: "redis://" + proxy.Addr() + "/0", memoryTTL: zero(), unsafe: Unsafe{NoRedisTimeout: true}})
	must(t, getFlag(t, srv, "flag-003"), 200, "db")
	remove := proxy.Blackhole(t)
	short := &http.Client{Timeout: time.Second}
	_, err := short.Get(srv.URL() + "/api/config/flags/flag-003?environment=production")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("a read with Redis blackholed answered within 1 s (err %v); without timeouts it should hang (hardened alone answers in tens of ms: TestEveryGETAnswersUnderRedisFaults)", err)
	}
	remove()
	testenv.Poll(t, 10*time.Second, "reads answer once the blackhole ends", servedFrom(t, srv, "flag-003", ""))
}

func TestUnsafeBlockingColdStartWaitsForRedis(t *testing.T) {
	redis := testenv.Redis(t)
	proxy := testenv.NewProxy(t, "redis", redis.Addr())
	remove := proxy.Blackhole(t)
	cfg := Config{
		ListenAddr: "127.0.0.1:0", DatabaseURL: testenv.PostgresURL(t), RedisURL: "redis://" + proxy.Addr() + "/0",
		Profile: "hardened", AdminToken: token, Environments: DefaultEnvironments, LogLevel: "info",
		Unsafe: Unsafe{BlockingColdStart: true},
	}
	type started struct {
		srv *Server
		err error
	}
	done := make(chan started, 1)
	begin := time.Now()
	go func() {
		srv, err := Start(t.Context(), cfg, nil)
		done <- started{srv, err}
	}()
	// Without the switch a start gives up on Redis after 500 ms
	// (TestStartsWithoutRedisAndReconnects): 2 s is well past that.
	select {
	case s := <-done:
		if s.srv != nil {
			s.srv.Close(context.Background())
		}
		t.Fatalf("Start returned after %v with Redis blackholed (err %v); it should block until Redis answers", time.Since(begin), s.err)
	case <-time.After(2 * time.Second):
	}
	remove()
	select {
	case s := <-done:
		if s.err != nil {
			t.Fatalf("Start once Redis is back: %v", s.err)
		}
		t.Cleanup(func() { s.srv.Close(context.Background()) })
		if r := do(t, "GET", s.srv.URL()+"/readyz", ""); r.status != 200 {
			t.Errorf("readyz after the blocking start: %d %s", r.status, r.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return within 15 s of Redis coming back")
	}
}
