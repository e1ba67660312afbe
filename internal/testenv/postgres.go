package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// EnvDatabaseURL names the environment variable that points the tests at
	// a PostgreSQL server, e.g. postgres://postgres@db:5432/postgres. Its
	// user must be allowed to create databases; each test gets its own.
	EnvDatabaseURL = "FLAGSTORM_TEST_DATABASE_URL"

	// EnvPostgres, set to "throwaway", skips EnvDatabaseURL and the local
	// server and makes PostgresURL use a throwaway cluster, to try that path
	// on a machine that has a server. Any other non-empty value is an error.
	EnvPostgres = "FLAGSTORM_TEST_PG"

	// localAdminURL is the server tried when EnvDatabaseURL is unset.
	localAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// localProbeTimeout bounds the wait for the local server to answer.
	localProbeTimeout = time.Second
	// pgOpTimeout bounds creating or dropping one database.
	pgOpTimeout = 30 * time.Second
)

// pgServer is a PostgreSQL server the tests create databases on.
type pgServer struct {
	admin *url.URL // connects as a user who may create databases
	what  string   // where it came from, for messages
}

// databaseURL returns the URL of database name on the server.
func (s *pgServer) databaseURL(name string) string {
	u := *s.admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// pg is the per-binary PostgreSQL state.
var pg struct {
	mu     sync.Mutex
	chosen bool
	server *pgServer
	err    error
	dbs    map[string]*pgServer // created and not dropped yet
}

// PostgresURL returns the URL of a fresh, empty PostgreSQL database created
// for this test, named like flagstorm_test_<package>_<random>. It is dropped
// WITH (FORCE) in t.Cleanup, and by Main if that cleanup failed.
//
// The server is chosen once per test binary, in order:
//  1. $FLAGSTORM_TEST_DATABASE_URL, if set (no fallback if it fails);
//  2. the server on 127.0.0.1:5432 as user postgres, if it answers within a
//     second and lets postgres create databases;
//  3. a throwaway cluster that this package initializes with initdb in
//     os.TempDir and starts with pg_ctl on a free port, once per binary;
//     Main stops and removes it. As root, it runs as user postgres (or
//     nobody). This needs TestMain to call [Main].
//
// $FLAGSTORM_TEST_PG=throwaway skips to the third. If none works the test
// fails, saying what was tried and how to fix it.
// PostgreSQL 13 or newer is required.
func PostgresURL(t testing.TB) string {
	t.Helper()
	srv, err := chosenServer()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return createDatabase(t, srv)
}

// chosenServer picks the server on first use and remembers the outcome.
func chosenServer() (*pgServer, error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if !pg.chosen {
		pg.server, pg.err = chooseServer()
		pg.chosen = true
	}
	return pg.server, pg.err
}

func chooseServer() (*pgServer, error) {
	switch mode := os.Getenv(EnvPostgres); mode {
	case "":
	case "throwaway":
		return throwawayServer()
	default:
		return nil, fmt.Errorf("%s=%q: the only value is \"throwaway\"", EnvPostgres, mode)
	}
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		srv, err := newPGServer(raw, "$"+EnvDatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
		if err := probe(srv, pgOpTimeout); err != nil {
			return nil, fmt.Errorf("%s=%s: %w; fix the URL or unset it", EnvDatabaseURL, srv.admin.Redacted(), err)
		}
		return srv, nil
	}

	local, err := newPGServer(localAdminURL, "local server on 127.0.0.1:5432")
	if err != nil {
		return nil, err
	}
	localErr := probe(local, localProbeTimeout)
	if localErr == nil {
		return local, nil
	}

	srv, twErr := throwawayServer()
	if twErr == nil {
		return srv, nil
	}
	return nil, fmt.Errorf("no PostgreSQL server for tests. Tried:\n"+
		"  1. $%s: not set\n"+
		"  2. %s: %v\n"+
		"  3. a throwaway cluster (initdb + pg_ctl): %v\n"+
		"Fix: install PostgreSQL >= 13 (apt-get install -y postgresql) so that initdb and pg_ctl are in PATH or /usr/lib/postgresql/*/bin, "+
		"or set %s to the URL of a server whose user may create databases, e.g. %s",
		EnvDatabaseURL, localAdminURL, localErr, twErr, EnvDatabaseURL, localAdminURL)
}

func newPGServer(raw, what string) (*pgServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("server URL %s: want a postgres:// URL", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/postgres"
	}
	return &pgServer{admin: u, what: what}, nil
}

// probe checks that the server answers within timeout and that its user
// may create databases on a version that can drop them WITH (FORCE).
func probe(srv *pgServer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		version   int
		createdb  bool
		adminUser string
	)
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int,
		(SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user),
		current_user`).Scan(&version, &createdb, &adminUser)
	if err != nil {
		return fmt.Errorf("check server: %w", err)
	}
	if version < 130000 {
		return fmt.Errorf("PostgreSQL %d is too old: DROP DATABASE ... WITH (FORCE) needs 13 or newer", version)
	}
	if !createdb {
		return fmt.Errorf("user %q may not create databases", adminUser)
	}
	return nil
}

// createDatabase creates a fresh database on srv, registers it to be
// dropped in t.Cleanup and returns its URL.
func createDatabase(t testing.TB, srv *pgServer) string {
	t.Helper()
	name := databaseName()
	ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
	defer cancel()
	// template0: empty whatever the admin installed in template1, and
	// nobody is ever connected to it to block the copy.
	if err := adminExec(ctx, srv, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("testenv: create database %s on %s (%s): %v", name, srv.admin.Redacted(), srv.what, err)
	}
	pg.mu.Lock()
	if pg.dbs == nil {
		pg.dbs = make(map[string]*pgServer)
	}
	pg.dbs[name] = srv
	pg.mu.Unlock()
	t.Cleanup(func() {
		if err := dropDatabase(name, srv); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return srv.databaseURL(name)
}

// dropDatabase drops the database, closing its connections, and forgets it.
func dropDatabase(name string, srv *pgServer) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
	defer cancel()
	if err := adminExec(ctx, srv, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s on %s: %w", name, srv.admin.Redacted(), err)
	}
	pg.mu.Lock()
	delete(pg.dbs, name)
	pg.mu.Unlock()
	return nil
}

// adminExec runs one statement over a new admin connection. A connection
// per statement keeps parallel tests from sharing one.
func adminExec(ctx context.Context, srv *pgServer, sql string) error {
	conn, err := pgx.Connect(ctx, srv.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName returns flagstorm_test_<package>_<random>, the package taken
// from the test binary's name ("testenv.test" -> "testenv").
func databaseName() string {
	pkg := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe"), ".test")
	var b strings.Builder
	for _, r := range strings.ToLower(pkg) {
		if b.Len() == 20 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("pkg")
	}
	return "flagstorm_test_" + b.String() + "_" + randomHex(8)
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails
	return hex.EncodeToString(buf)
}

// shutdownPostgres drops the databases whose cleanup failed and stops the
// throwaway cluster, if one was started.
func shutdownPostgres() error {
	pg.mu.Lock()
	left := make(map[string]*pgServer, len(pg.dbs))
	for name, srv := range pg.dbs {
		left[name] = srv
	}
	pg.mu.Unlock()

	var errs []error
	for name, srv := range left {
		errs = append(errs, dropDatabase(name, srv))
	}
	errs = append(errs, stopThrowaway())
	return errors.Join(errs...)
}
