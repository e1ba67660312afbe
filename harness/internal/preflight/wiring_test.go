package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/toxics"
)

// stack is a real Redis, a fresh seeded PostgreSQL database and an
// in-process Toxiproxy with a "redis" and a "postgres" proxy in front of
// them.
type stack struct {
	ctrl                  *toxics.Embedded
	redisAddr             string // direct
	redisURL, databaseURL string // through the proxies
	directDatabaseURL     string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	r := testenv.Redis(t)
	db := testenv.PostgresURL(t)

	ctrl, err := toxics.NewEmbedded(toxics.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctrl.Close(context.Background()); err != nil {
			t.Errorf("close Toxiproxy: %v", err)
		}
	})
	rp, err := ctrl.AddProxy(t.Context(), "redis", "127.0.0.1:0", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := ctrl.AddProxy(t.Context(), "postgres", "127.0.0.1:0", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = pp.Listen
	return &stack{
		ctrl: ctrl, redisAddr: r.Addr(),
		redisURL: "redis://" + rp.Listen + "/0", databaseURL: u.String(), directDatabaseURL: db,
	}
}

// startMinimalGo seeds the database with `minimal-go seed` and runs
// minimal-go with env (later entries win).
func (s *stack) startMinimalGo(t *testing.T, env ...string) string {
	t.Helper()
	bin := testenv.BuildMinimalGo(t)
	seed := exec.CommandContext(t.Context(), bin, "seed")
	seed.Env = []string{"DATABASE_URL=" + s.directDatabaseURL, "SEED_FLAGS=20", "SEED_ENVIRONMENTS=production"}
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("minimal-go seed: %v\n%s", err, out)
	}
	return s.start(t, exec.Command(bin), env...)
}

// start runs cmd with env added to the stack's (LISTEN_ADDR, ADMIN_TOKEN,
// and REDIS_URL and DATABASE_URL through the proxies) until the test ends,
// and returns its base URL once it is ready.
func (s *stack) start(t *testing.T, cmd *exec.Cmd, env ...string) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd.Env = append([]string{
		"LISTEN_ADDR=" + addr, "ADMIN_TOKEN=" + testToken,
		"REDIS_URL=" + s.redisURL, "DATABASE_URL=" + s.databaseURL,
	}, env...)
	var out strings.Builder
	var outMu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		outMu.Lock()
		defer outMu.Unlock()
		return out.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("minimal-go did not stop within 15 s of SIGTERM")
		}
		if t.Failed() {
			outMu.Lock()
			t.Logf("minimal-go's log:\n%s", out.String())
			outMu.Unlock()
		}
	})
	base := "http://" + addr
	hc := &http.Client{Timeout: time.Second}
	testenv.Poll(t, 15*time.Second, "minimal-go is ready", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return nil
	})
	return base
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *stack) target(base string) Target {
	return Target{
		URL: base, AdminToken: testToken, Ready: "/readyz",
		Environment: "production", Flag: "flag-000", Flags: []string{"flag-001", "flag-002"},
		Field: "description", Nonce: true,
		Uses:   Uses{List: true, Get: true, Patch: true},
		Faults: s.ctrl, RedisProxy: "redis", PostgresProxy: "postgres", RedisAddr: s.redisAddr,
	}
}

// assertClean fails unless every proxy is enabled and has no toxic.
func (s *stack) assertClean(t *testing.T) {
	t.Helper()
	ps, err := s.ctrl.Proxies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Enabled || len(p.Toxics) > 0 {
			t.Errorf("after Check, proxy %q: enabled %v, toxics %v; want enabled and none", p.Name, p.Enabled, p.Toxics)
		}
	}
}

// runCheck runs Check on tg, fails the test if Check cannot run, logs the
// report and returns it with how long Check took.
func runCheck(t *testing.T, tg Target) (Report, time.Duration) {
	t.Helper()
	start := time.Now()
	rep, err := Check(t.Context(), tg)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("report (%v):\n%v", elapsed, rep)
	return rep, elapsed
}

func TestCheckMinimalGo(t *testing.T) {
	s := newStack(t)
	base := s.startMinimalGo(t)
	rep, elapsed := runCheck(t, s.target(base))
	if !rep.OK() {
		t.Errorf("a correct service has problems:\n%v", rep)
	}
	want := []string{"readiness", "list", "get", "field", "unknown key", "patch auth", "patch", "write read back",
		"wiring: redis", "wiring: postgres", "recovery"}
	if diff := cmp.Diff(want, rep.Checked); diff != "" {
		t.Errorf("checked (-want +got):\n%s", diff)
	}
	if len(rep.Skipped) > 0 {
		t.Errorf("skipped %v, want nothing", rep.Skipped)
	}
	if elapsed > 20*time.Second {
		t.Errorf("Check took %v on a healthy service, want <= 20 s", elapsed)
	}
	s.assertClean(t)
}

func TestCheckRedisBypass(t *testing.T) {
	s := newStack(t)
	host, port, err := net.SplitHostPort(s.redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	// REDIS_URL names the proxy; the defect reads REDIS_HOST/REDIS_PORT,
	// the real server.
	base := s.startMinimalGo(t, "DEFECT=bypass", "REDIS_HOST="+host, "REDIS_PORT="+port)
	rep, elapsed := runCheck(t, s.target(base))
	if diff := cmp.Diff([]string{"wiring: redis"}, items(rep.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, rep)
	}
	if !strings.Contains(fmt.Sprint(rep.Problems), "bypasses the proxy") {
		t.Errorf("the problem does not say the service bypasses the proxy:\n%v", rep)
	}
	if elapsed >= 15*time.Second {
		t.Errorf("Check took %v to refuse a bypassing service, want < 15 s", elapsed)
	}
	s.assertClean(t)
}

func TestCheckPostgresBypass(t *testing.T) {
	s := newStack(t)
	base := s.startMinimalGo(t, "DATABASE_URL="+s.directDatabaseURL) // later entries win
	rep, _ := runCheck(t, s.target(base))
	if diff := cmp.Diff([]string{"wiring: postgres"}, items(rep.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, rep)
	}
	s.assertClean(t)
}

// TestCheckFlagserver: the reference service, with its version field and
// its in-process cache, passes every check.
func TestCheckFlagserver(t *testing.T) {
	s := newStack(t)
	cmd := exec.Command(testenv.BuildFlagserver(t), "serve")
	cmd.Dir = t.TempDir()
	base := s.start(t, cmd, "SEED_FLAGS=20", "LOG_LEVEL=warn")
	tg := s.target(base)
	tg.Field, tg.Nonce = "version", false
	rep, _ := runCheck(t, tg)
	if !rep.OK() {
		t.Errorf("flagserver has problems:\n%v", rep)
	}
	s.assertClean(t)
}

// TestCheckRedisUnused: a service that answers without ever touching the
// Redis behind the proxy (here the in-memory fake) fails phase (a).
func TestCheckRedisUnused(t *testing.T) {
	s := newStack(t)
	srv := newFake(t, defects{nonce: "description"})
	tg := s.target(srv.URL)
	tg.PostgresProxy = ""
	rep, _ := runCheck(t, tg)
	if diff := cmp.Diff([]string{"wiring: redis"}, items(rep.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, rep)
	}
	if !strings.Contains(fmt.Sprint(rep.Problems), "no command reached Redis") {
		t.Errorf("the problem does not say no command reached Redis:\n%v", rep)
	}
	if !slices.Contains(rep.Skipped, "wiring: postgres (no postgres proxy)") {
		t.Errorf("skipped %v, want the postgres wiring", rep.Skipped)
	}
	s.assertClean(t)
}

// TestCheckCancelledWhileFaulted: Ctrl-C while the redis proxy refuses
// connections still leaves the proxies clean.
func TestCheckCancelledWhileFaulted(t *testing.T) {
	s := newStack(t)
	base := s.startMinimalGo(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A front that cancels the check on the first request sent while the
	// redis proxy is disabled.
	proxyURL, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	front := newFront(t, proxyURL, func() {
		ps, err := s.ctrl.Proxies(context.Background())
		if err == nil && slices.ContainsFunc(ps, func(p toxics.ProxyInfo) bool { return p.Name == "redis" && !p.Enabled }) {
			cancel()
		}
	})
	_, err = Check(ctx, s.target(front))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Check: err = %v, want context.Canceled", err)
	}
	s.assertClean(t)
}

// newFront returns the URL of a reverse proxy to backend that calls hook
// before passing each request on.
func newFront(t *testing.T, backend *url.URL, hook func()) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled requests are expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
