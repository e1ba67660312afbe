// Package testenv starts the real dependencies that integration tests run
// against: a redis-server on a free loopback port, a fresh PostgreSQL
// database, and in-process Toxiproxy proxies to inject faults between them
// and the code under test. Nothing is mocked.
//
// Everything a helper starts is torn down by t.Cleanup. Readiness is awaited
// by polling with a deadline, never by sleeping; tests wait the same way
// with [Poll]. [BuildFlagserver] and [BuildFlagstorm] build the module's
// commands (once per test binary under Main). A package that uses
// [PostgresURL] must route its tests through [Main]:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// External programs needed: redis-server (apt-get install -y redis-server)
// and, unless FLAGSTORM_TEST_DATABASE_URL names a server or one answers on
// 127.0.0.1:5432, the PostgreSQL server binaries (initdb, pg_ctl).
package testenv

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/flagstorm/flagstorm/internal/freeport"
)

// inMain reports whether Main is running the tests. The throwaway
// PostgreSQL cluster outlives the test binary unless Main stops it, so it is
// only started under Main.
var inMain atomic.Bool

// Main runs the package's tests and then drops every PostgreSQL database,
// stops every throwaway cluster and removes every binary this package
// created. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main returns after cleaning up; the testing package then exits with the
// tests' status.
func Main(m *testing.M) {
	inMain.Store(true)
	code := m.Run()
	if err := removeBinaries(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: remove the built binaries: %v\n", err)
	}
	if err := shutdownPostgres(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: clean up PostgreSQL: %v\n", err)
		if code == 0 {
			// A leaked cluster or database is a failure of the run.
			os.Exit(1)
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; helpers in this package
// that use it retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}
