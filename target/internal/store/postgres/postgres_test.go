package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/internal/testenv"
	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// conformanceTimeout replaces the default query timeout in the conformance
// suite: its 50 concurrent writers on a loaded, shared CI machine can queue
// for longer than 2s. TestQueryTimeout covers the timeout itself.
const conformanceTimeout = 30 * time.Second

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Seeded {
		return open(t, Config{URL: testenv.PostgresURL(t), QueryTimeout: conformanceTimeout})
	})
}

// TestOpenConcurrently stands in for processes starting at once on an empty
// database: the schema lock keeps their CREATE TABLEs from colliding.
func TestOpenConcurrently(t *testing.T) {
	url := testenv.PostgresURL(t)
	const n = 4
	var (
		wg     sync.WaitGroup
		stores [n]*Store
		errs   [n]error
	)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), Config{URL: url, MaxConns: 2}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(stores[i].Close)
	}
	if t.Failed() {
		return
	}
	if _, err := stores[0].Seed(t.Context(), []string{"dev"}, 2); err != nil {
		t.Fatal(err)
	}
	fs, err := stores[n-1].List(t.Context(), "dev")
	if err != nil || len(fs) != 2 {
		t.Errorf("List through another store = %d flags, %v; want 2", len(fs), err)
	}
}

// TestReopen checks that opening an existing database keeps its data.
func TestReopen(t *testing.T) {
	url := testenv.PostgresURL(t)
	s, err := Open(t.Context(), Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seed(t.Context(), []string{"dev"}, 3); err != nil {
		t.Fatal(err)
	}
	want, err := s.Update(t.Context(), "dev", "flag-001", flags.Patch{Description: new("kept")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, Config{URL: url})
	got, err := s.Get(t.Context(), "dev", "flag-001")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag after reopening (-before +after):\n%s", diff)
	}
}

func TestConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no URL", Config{}},
		{"negative max connections", Config{URL: "postgres://127.0.0.1:1/x", MaxConns: -1}},
		{"negative timeout", Config{URL: "postgres://127.0.0.1:1/x", QueryTimeout: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Open(t.Context(), tc.cfg); err == nil {
				s.Close()
				t.Fatalf("Open(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

// TestOpenErrorHidesPassword opens URLs that cannot work and checks that
// the error names no password.
func TestOpenErrorHidesPassword(t *testing.T) {
	const secret = "s3cr3t-Pw"
	for _, url := range []string{
		"postgres://flagserver:" + secret + "@127.0.0.1:1/flags?sslmode=disable&connect_timeout=2", // nothing listens on port 1
		"postgres://flagserver:" + secret + "@127.0.0.1:port/flags",
		"postgres://flagserver:" + secret + "%zz@127.0.0.1/flags",
		"postgres://flagserver:" + secret + "@[::1/flags",
		"postgres://flagserver@127.0.0.1:1/flags?password=" + secret + "&sslmode=bogus",
		"postgresql://flagserver:" + secret + "@127.0.0.1:1/flags?sslmode=bogus",
		"host=127.0.0.1 port=1 user=flagserver password=" + secret + " sslmode=bogus",
		"host=127.0.0.1 port=1 user=flagserver password='" + secret + " x' sslmode=disable connect_timeout=2",
		"host=127.0.0.1 port=x user=flagserver password=" + secret,
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		s, err := Open(ctx, Config{URL: url})
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "s3cr3t") {
			t.Errorf("Open(%q) error shows the password: %s", url, msg)
		}
	}
}

func TestStat(t *testing.T) {
	s := open(t, Config{URL: testenv.PostgresURL(t), MaxConns: 3})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := s.Stat()
	if st.Acquired != 0 || st.Total < 1 || st.Idle != st.Total || st.Max != 3 {
		t.Errorf("Stat() of an idle store = %+v", st)
	}
}

func TestQueryTimeout(t *testing.T) {
	s := open(t, Config{URL: testenv.PostgresURL(t), MaxConns: 1, QueryTimeout: 100 * time.Millisecond})
	if _, err := s.Seed(t.Context(), []string{"dev"}, 1); err != nil {
		t.Fatal(err)
	}
	// Hold the only connection so that the next call waits past its timeout.
	conn, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	start := time.Now()
	_, err = s.Get(t.Context(), "dev", "flag-000")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get while the pool is exhausted: error = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Get took %v with a 100ms query timeout", d)
	}
}

// TestSetsMaxConns: a pool_max_conns in the connection string, in either
// form, is the operator's and wins over a default; a password or database
// name that merely contains the words is not.
func TestSetsMaxConns(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h:5432/db?sslmode=disable&pool_max_conns=5": true,
		"postgresql://u@h/db?pool_max_conns=5":                    true,
		"host=h user=u pool_max_conns=5":                          true,
		"host=h user=u pool_max_conns = 5":                        true,
		"postgres://u:pool_max_conns@h/db":                        false,
		"postgres://u@h/pool_max_conns":                           false,
		"host=h dbname=pool_max_conns":                            false,
		"postgres://u@h/db":                                       false,
	} {
		if got := setsMaxConns(dsn); got != want {
			t.Errorf("setsMaxConns(%q) = %v, want %v", dsn, got, want)
		}
	}
}
