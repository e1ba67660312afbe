package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/toxics"
)

// A running service behind a toxiproxy-server process (the compose
// shape): flagstorm finds the proxies by name, checks the wiring, applies
// the timeline's fault through the server's API with the oracle on, and
// when interrupted (SIGINT) leaves no toxic behind and exits 130.
func TestRunningServiceBehindToxiproxyServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts toxiproxy-server, Redis, PostgreSQL and flagserver")
	}
	// flagserver, as a user runs it: through the proxies.
	fs := flagserverBehindToxiproxy(t, "ADMIN_TOKEN=remote-token", "SEED_FLAGS=100", "CACHE_PROFILE=hardened", "LOG_LEVEL=warn")
	tp, ctl, target, dbURL, redisAddr := fs.toxiproxy, fs.ctl, fs.url, fs.dbURL, fs.redisAddr

	file := filepath.Join(t.TempDir(), "remote.yaml")
	os.WriteFile(file, []byte(`name: remote
load: {executor: constant-vus, vus: 5, duration: 60s}
requests:
  - {name: get,    weight: 9, method: GET,   path: "/api/config/flags/{{flag}}?environment={{env}}"}
  - {name: update, weight: 1, method: PATCH, path: "/api/config/flags/{{flag}}?environment={{env}}", body: '{"enabled": {{bool}}}', headers: {Content-Type: application/json}}
timeline:
  - {phase: steady, at: 0s}
  - {phase: slow,   at: 2s, fault: {proxy: redis, type: latency, latency: 30ms}}
thresholds:
  stale_reads: ["count==0"]
`), 0o644)
	cmd := exec.Command(testenv.BuildFlagstorm(t), "run", file, "--target-url", target, "--toxiproxy-url", tp,
		"--database-url", dbURL, "--redis-addr", redisAddr, "--quiet")
	cmd.Env = append(os.Environ(), "FLAGSTORM_ADMIN_TOKEN=remote-token")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	// toxicsOn counts the toxics on the redis proxy; the timeline's only
	// unless all (a refused fault's marker, the preflight's, is not).
	toxicsOn := func(all bool) (int, error) {
		resp, err := http.Get(tp + "/proxies/redis/toxics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var list []struct {
			Type string `json:"type"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return 0, err
		}
		n := 0
		for _, tx := range list {
			if all || tx.Type != "noop" {
				n++
			}
		}
		return n, nil
	}
	testenv.Poll(t, 30*time.Second, "the timeline's latency toxic on the redis proxy", func() error {
		select {
		case err := <-done:
			return fmt.Errorf("flagstorm ended early: %v\n%s", err, out.String())
		default:
		}
		if n, err := toxicsOn(false); err != nil || n == 0 {
			return fmt.Errorf("%d toxics (%v); flagstorm so far:\n%s", n, err, out.String())
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
			t.Errorf("exit %d (%v), want 130\n%s", code, err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("flagstorm did not stop after SIGINT\n%s", out.String())
	}
	if n, err := toxicsOn(true); err != nil || n != 0 {
		t.Errorf("%d toxic(s) left on the redis proxy after SIGINT (%v)\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), "preflight: the target meets the contract") {
		t.Errorf("no preflight:\n%s", out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := ctl.Proxies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !p.Enabled {
			t.Errorf("proxy %s left disabled", p.Name)
		}
	}
}

// proxiedFlagserver is a flagserver whose Redis and PostgreSQL are behind
// a toxiproxy-server process (proxies "redis" and "postgres"), as a user
// runs a service: what --toxiproxy-url and --target-url test against.
type proxiedFlagserver struct {
	url       string // the flagserver
	toxiproxy string // the toxiproxy-server's API
	ctl       *toxics.Remote
	dbURL     string // PostgreSQL, direct (the source of truth)
	redisAddr string // Redis, direct
}

// flagserverBehindToxiproxy starts one, its environment plus env.
func flagserverBehindToxiproxy(t *testing.T, env ...string) proxiedFlagserver {
	t.Helper()
	tp := testenv.ExternalToxiproxy(t)
	redis := testenv.Redis(t)
	dbURL := testenv.PostgresURL(t)
	ctl, err := toxics.NewRemote(toxics.RemoteConfig{URL: tp.URL()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := func(name, upstream string) string {
		listen := freeAddr(t)
		if _, err := ctl.EnsureProxy(t.Context(), name, listen, upstream); err != nil {
			t.Fatal(err)
		}
		return listen
	}
	redisListen := proxy("redis", redis.Addr())
	proxied := *u
	proxied.Host = proxy("postgres", u.Host)
	target := startFlagserver(t, append([]string{"DATABASE_URL=" + proxied.String(), "REDIS_URL=redis://" + redisListen + "/0"}, env...)...)
	return proxiedFlagserver{url: target, toxiproxy: tp.URL(), ctl: ctl, dbURL: dbURL, redisAddr: redis.Addr()}
}
