package app

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/testenv"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestCLIUsageErrorsExit2(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  func(string) string
		want string // in stderr
	}{
		{"unknown command", []string{"frobnicate"}, env(), `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "-nope"}, env(), "flag provided but not defined"},
		{"bad profile", []string{"serve"}, env("CACHE_PROFILE", "turbo"), `CACHE_PROFILE: unknown profile "turbo"`},
		{"bad TTL", []string{"serve"}, env("CACHE_TTL", "soon"), "CACHE_TTL"},
		{"bad memory TTL", []string{"serve"}, env("MEMORY_CACHE_TTL", "-1s"), "MEMORY_CACHE_TTL"},
		{"bad pool size", []string{"serve"}, env("DATABASE_MAX_CONNS", "lots"), "DATABASE_MAX_CONNS: want a number of connections"},
		{"pool beyond PostgreSQL's", []string{"serve"}, env("DATABASE_MAX_CONNS", "500"), "from 1 to 90"},
		{"negative pool flag", []string{"serve", "-database-max-conns", "-1"}, env(), "DATABASE_MAX_CONNS"},
		{"bad environment", []string{"serve"}, env("ENVIRONMENTS", "prod,Staging"), `"Staging" is not a valid environment name`},
		{"several problems at once", []string{"serve"}, env("CACHE_TTL", "x", "LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"stray argument", []string{"serve", "extra"}, env(), "unexpected arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(t.Context(), tt.args, tt.env, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}

func TestCLIFlagOverridesEnvironment(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// The environment's bad profile is fixed by the flag.
	dir := t.TempDir()
	code := Main(t.Context(), []string{"seed", "-profile", "seed", "-seed", "3"},
		env("CACHE_PROFILE", "turbo", "SQLITE_PATH", filepath.Join(dir, "f.db")), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestCLISeedIsIdempotent(t *testing.T) {
	db := filepath.Join(t.TempDir(), "flags.db")
	var got []string
	for range 2 {
		var stdout, stderr bytes.Buffer
		if code := Main(t.Context(), []string{"seed"}, env("SQLITE_PATH", db), &stdout, &stderr); code != 0 {
			t.Fatalf("seed exit %d: %s", code, stderr.String())
		}
		got = append(got, strings.TrimSpace(stdout.String()))
	}
	want := []string{
		"seeded 100 flags per environment in development, staging, production: 300 created, 0 already present",
		"seeded 100 flags per environment in development, staging, production: 0 created, 300 already present",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seed output (-want +got):\n%s", diff)
	}
}

// serve on SQLite with no Redis: the server runs anywhere, and stops
// cleanly with exit 0 when its context ends (SIGINT/SIGTERM in main).
func TestCLIServeRunsAnywhereAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	stderr := &syncWriter{}
	dir := t.TempDir()
	go func() {
		done <- Main(ctx, nil, env("SQLITE_PATH", filepath.Join(dir, "f.db"), "LISTEN_ADDR", "127.0.0.1:0", "SEED_FLAGS", "5"), &bytes.Buffer{}, stderr)
	}()
	testenv.Poll(t, 20*time.Second, "server starts", func() error {
		if logs := stderr.String(); !strings.Contains(logs, "flagserver listening") {
			return errors.New("logs: " + logs)
		}
		return nil
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancellation, want 0: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestCLIVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := Main(t.Context(), []string{"version"}, env(), &stdout, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(stdout.String(), "flagserver ") {
		t.Errorf("version: exit %d, %q", code, stdout.String())
	}
}

// syncWriter is a buffer the server's logger and the test share.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
