package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startStack starts a stack with the test's flagserver, a fresh database
// unless cfg says otherwise, and a Close in t.Cleanup (a second Close by
// the test is fine).
func startStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	if cfg.FlagserverBin == "" {
		cfg.FlagserverBin = testenv.BuildFlagserver(t)
	}
	if cfg.DatabaseURL == "" && cfg.Database == DatabaseAuto && cfg.External == nil {
		cfg.DatabaseURL = testenv.PostgresURL(t)
	}
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("ready in %v", s.ReadyIn())
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// getFlag GETs flag-001 in production and returns the status and
// X-Flag-Source.
func getFlag(t *testing.T, base string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(base + "/api/config/flags/flag-001?environment=production")
	if err != nil {
		t.Fatalf("GET flag-001: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Logf("GET flag-001: %s: %s", res.Status, body)
	}
	return res.StatusCode, res.Header.Get("X-Flag-Source")
}

// servedFrom is a testenv.Poll condition: a read of flag-001 from the
// flagserver at base answers 200 from one of sources.
func servedFrom(t *testing.T, base string, sources ...string) func() error {
	return func() error {
		if status, source := getFlag(t, base); status != http.StatusOK || !slices.Contains(sources, source) {
			return fmt.Errorf("GET flag-001: %d from %q", status, source)
		}
		return nil
	}
}

// endpointPorts returns every address of the endpoints that a process of
// the stack listens on.
func endpointAddrs(t *testing.T, ep Endpoints) []string {
	t.Helper()
	var addrs []string
	for _, u := range ep.TargetURLs {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, pu.Host)
	}
	for _, a := range ep.Proxies {
		addrs = append(addrs, a)
	}
	if ep.RedisPrimary != "" {
		addrs = append(addrs, ep.RedisPrimary, ep.RedisReplica)
	}
	if ep.ToxiproxyAPI != "" {
		addrs = append(addrs, strings.TrimPrefix(ep.ToxiproxyAPI, "http://"))
	}
	if ep.Database == "throwaway" {
		u, err := url.Parse(ep.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, u.Host)
	}
	return addrs
}

// checkGone fails unless every process has exited and been reaped and
// every address can be listened on again.
func checkGone(t *testing.T, procs []Process, addrs []string) {
	t.Helper()
	for _, p := range procs {
		if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) survived: kill(pid, 0) = %v, want ESRCH", p.Name, p.PID, err)
		}
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s is still bound: %v", a, err)
			continue
		}
		_ = ln.Close()
	}
}

// procsUnder returns the processes whose working directory or command
// line mentions dir.
func procsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var found []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(cwd, dir) || bytes.Contains(cmdline, []byte(dir)) {
			found = append(found, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}
