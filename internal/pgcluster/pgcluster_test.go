package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// A flagstorm SIGKILLed mid-run: the kernel SIGKILLs its postmaster too,
// which leaves the cluster's directory and its System V segment. The next
// start's RemoveStale removes both.
func TestRemoveStaleAfterSIGKILL(t *testing.T) {
	c := start(t, Options{Dir: filepath.Join(os.TempDir(), "flagstorm-pgcluster-killtest-"+strconv.Itoa(deadPID(t))+"-k")})
	pid := c.PID()
	if len(sysvSegments(t, pid)) == 0 {
		t.Fatalf("no System V segment created by postgres %d: the test would show nothing", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); processExists(pid) && !zombie(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres %d survived SIGKILL", pid)
		}
	}
	if n := RemoveStale(t.Context(), "flagstorm-pgcluster-killtest-"); n != 1 {
		t.Fatalf("RemoveStale removed %d clusters, want 1", n)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("stale cluster %s remains (stat: %v)", c.Dir(), err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(sysvSegments(t, pid)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("System V segments %v of the killed postmaster %d remain after RemoveStale", sysvSegments(t, pid), pid)
		}
	}
	_ = c.Stop(t.Context())
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

// TestPasswordAuth checks that with PasswordAuth a connection needs the
// password (TCP and the Unix socket), that URL carries it, and that the
// password file initdb read is gone.
func TestPasswordAuth(t *testing.T) {
	ctx := t.Context()
	c := start(t, Options{PasswordAuth: true})
	u, err := url.Parse(c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pass, ok := u.User.Password()
	if !ok || len(pass) < 32 {
		t.Fatalf("URL %s carries no random password", c.URL("postgres"))
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect with the password: %v", err)
	}
	_ = conn.Close(context.Background())

	for name, dsn := range map[string]string{
		"tcp without password":    fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", c.Addr()),
		"tcp wrong password":      fmt.Sprintf("postgres://postgres:wrong@%s/postgres?sslmode=disable", c.Addr()),
		"socket without password": fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", c.Dir(), c.Port()),
	} {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_ = conn.Close(context.Background())
			t.Errorf("%s: connected", name)
			continue
		}
		if !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %v; want a password error", name, err)
		}
	}
	hba, err := os.ReadFile(filepath.Join(c.DataDir(), "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(hba), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") && f[len(f)-1] == "trust" {
			t.Errorf("pg_hba.conf trusts: %q", line)
		}
	}
	ents, _ := os.ReadDir(c.Dir())
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(c.Dir(), e.Name())); e.Type().IsRegular() && strings.Contains(string(b), pass) {
			t.Errorf("%s holds the password after the start", e.Name())
		}
	}
}

// TestNoSharedMemoryFiles checks that the server keeps its dynamic shared
// memory in the data directory: with the default (posix) a server killed
// with SIGKILL leaves /dev/shm/PostgreSQL.* behind forever.
func TestNoSharedMemoryFiles(t *testing.T) {
	ctx := t.Context()
	c := start(t, Options{})
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var typ string
	err = conn.QueryRow(ctx, "SHOW dynamic_shared_memory_type").Scan(&typ)
	_ = conn.Close(context.Background())
	if err != nil || typ != "mmap" {
		t.Errorf("dynamic_shared_memory_type = %q, %v; want mmap", typ, err)
	}
	pid := c.PID()
	if files := shmFiles(t, pid); len(files) > 0 {
		t.Errorf("postgres %d maps %v", pid, files)
	}
	segs := sysvSegments(t, pid)
	if len(segs) == 0 {
		t.Fatalf("no System V segment created by postgres %d: the test would show nothing", pid)
	}
	// A SIGKILLed server leaves nothing outside its directory: neither a
	// file in /dev/shm nor its System V segment.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s remains (stat: %v)", c.Dir(), err)
	}
	// The segment goes when the last backend detaches: poll, bounded.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := sysvSegments(t, pid)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("System V segments %v created by the killed postmaster %d remain", left, pid)
		}
	}
}

// sysvSegments returns the ids of the System V shared memory segments
// process pid created (/proc/sysvipc/shm: key shmid perms size cpid ...).
func sysvSegments(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Skipf("no /proc/sysvipc/shm: %v", err)
	}
	var ids []string
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 4 && f[4] == strconv.Itoa(pid) {
			ids = append(ids, f[1])
		}
	}
	return ids
}

// shmFiles returns the /dev/shm files process pid maps.
func shmFiles(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Skipf("no /proc/%d/maps: %v", pid, err)
	}
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, "/dev/shm/"); i >= 0 && !slices.Contains(files, line[i:]) {
			files = append(files, line[i:])
		}
	}
	return files
}
