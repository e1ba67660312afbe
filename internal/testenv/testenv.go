// Package testenv starts the real dependencies that integration tests run
// against: a redis-server on a free loopback port, a fresh PostgreSQL
// database, and in-process Toxiproxy proxies to inject faults between them
// and the code under test. Nothing is mocked.
//
// Everything a helper starts is torn down by t.Cleanup. Readiness is awaited
// by polling with a deadline, never by sleeping. A package that uses
// [PostgresURL] must route its tests through [Main]:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// External programs needed: redis-server (apt-get install -y redis-server)
// and, unless FLAGSTORM_TEST_DATABASE_URL names a server or one answers on
// 127.0.0.1:5432, the PostgreSQL server binaries (initdb, pg_ctl).
package testenv

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstorm/flagstorm/internal/freeport"
)

// inMain reports whether Main is running the tests. The throwaway
// PostgreSQL cluster outlives the test binary unless Main stops it, so it is
// only started under Main.
var inMain atomic.Bool

// Main runs the package's tests and then drops every PostgreSQL database and
// stops every throwaway cluster this package created. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Main returns after cleaning up; the testing package then exits with the
// tests' status.
func Main(m *testing.M) {
	inMain.Store(true)
	code := m.Run()
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

// pollInterval is how often the helpers re-check a condition they wait for.
const pollInterval = 5 * time.Millisecond

// errTimeout is returned by poll when the deadline passes.
var errTimeout = errors.New("testenv: timed out")

// poll calls cond every pollInterval until it returns true, returns an
// error, or timeout passes. The last non-nil "not yet" reason from cond is
// wrapped into the timeout error.
func poll(timeout time.Duration, cond func() (done bool, reason error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, reason := cond()
		if done {
			return reason
		}
		if reason != nil {
			last = reason
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%w after %v: %w", errTimeout, timeout, last)
			}
			return fmt.Errorf("%w after %v", errTimeout, timeout)
		}
		time.Sleep(pollInterval)
	}
}
