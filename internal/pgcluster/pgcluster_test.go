package pgcluster

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("initdb takes about a second")
	}
	if err := Available(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func TestCluster(t *testing.T) {
	ctx := t.Context()
	c := start(t, Options{})
	if os.Geteuid() == 0 && c.RunAs() == "" {
		t.Fatal("running as root but the cluster has no user to run as")
	}
	pid := c.PID()
	if pid == 0 {
		t.Fatal("PID() = 0 for a running cluster")
	}

	u, err := c.CreateDatabase(ctx, "flagstorm")
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if want := c.URL("flagstorm"); u != want {
		t.Errorf("CreateDatabase returned %q, want %q", u, want)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to %s: %v", u, err)
	}
	var db, fsync string
	err = conn.QueryRow(ctx, "SELECT current_database(), current_setting('fsync')").Scan(&db, &fsync)
	_ = conn.Close(context.Background())
	if err != nil || db != "flagstorm" || fsync != "off" {
		t.Fatalf("database, fsync = %q, %q, %v; want flagstorm, off", db, fsync, err)
	}
	if _, err := c.CreateDatabase(ctx, "flagstorm"); err == nil {
		t.Error("creating the database twice succeeded")
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after Stop = %v, want ESRCH (reaped)", pid, err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s remains after Stop (stat: %v)", c.Dir(), err)
	}
	ln, err := net.Listen("tcp", c.Addr())
	if err != nil {
		t.Errorf("port %d is still bound after Stop: %v", c.Port(), err)
	} else {
		_ = ln.Close()
	}
}

func TestStartPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes about a second")
	}
	if err := Available(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := filepath.Join(t.TempDir(), "c")
	if os.Geteuid() == 0 {
		dir = "" // t.TempDir is not traversable by the postgres user
	}
	c, err := Start(t.Context(), Options{Port: port, Dir: dir})
	if err == nil {
		_ = c.Stop(context.Background())
		t.Fatal("Start on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "port "+strconv.Itoa(port)) || !strings.Contains(err.Error(), "postgres log tail") {
		t.Errorf("error does not name the port and show the log: %v", err)
	}
}

func TestRemoveStale(t *testing.T) {
	c := start(t, Options{Dir: filepath.Join(os.TempDir(), "flagstorm-pgcluster-test-"+strconv.Itoa(deadPID(t))+"-x")})
	pid := c.PID()
	if n := RemoveStale(t.Context(), "flagstorm-pgcluster-test-"); n != 1 {
		t.Fatalf("RemoveStale removed %d clusters, want 1", n)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("stale cluster %s remains (stat: %v)", c.Dir(), err)
	}
	// The server got SIGQUIT; being our child, Stop reaps it.
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v, want ESRCH", pid, err)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}

func TestAvailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	// /usr/lib/postgresql may still have them; only check the message when
	// it does not.
	if err := Available(); err != nil && !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("Available() = %v; want a message saying how to install PostgreSQL", err)
	}
}

func TestZombie(t *testing.T) {
	if zombie(os.Getpid()) {
		t.Error("this process is reported as a zombie")
	}
	if zombie(1 << 30) {
		t.Error("a pid that does not exist is reported as a zombie")
	}
}
