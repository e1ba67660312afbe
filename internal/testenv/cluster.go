package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// clusterPrefix starts the name of every throwaway cluster's directory
	// in os.TempDir; the creating process's pid follows, so that a later run
	// can remove clusters whose test binary died without running Main.
	clusterPrefix = "flagstorm-testenv-pg-"
	// clusterCmdTimeout bounds each initdb and pg_ctl invocation.
	clusterCmdTimeout = time.Minute
	// clusterStartAttempts is how many free ports are tried.
	clusterStartAttempts = 3
)

// cluster is a throwaway PostgreSQL cluster: data, socket and log live
// under dir; it listens on 127.0.0.1:port.
type cluster struct {
	dir   string
	port  int
	bin   string // directory holding initdb, pg_ctl and postgres
	runAs string // OS user to run the server as; "" for the current user
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// tw is the throwaway cluster of this test binary, started at most once.
var tw struct {
	mu      sync.Mutex
	tried   bool
	cluster *cluster
	server  *pgServer
	err     error
}

// throwawayServer starts the throwaway cluster on first use and returns it
// as a server; later calls return the same server or the same error.
func throwawayServer() (*pgServer, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.tried {
		return tw.server, tw.err
	}
	tw.tried = true
	if !inMain.Load() {
		tw.err = errors.New("it is started only when the tests run under testenv.Main, which removes it afterwards: " +
			"add `func TestMain(m *testing.M) { testenv.Main(m) }` to the package's tests")
		return nil, tw.err
	}
	c, err := startCluster()
	if err != nil {
		tw.err = err
		return nil, err
	}
	srv, err := newPGServer(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port),
		"throwaway cluster in "+c.dir)
	if err == nil {
		err = probe(srv, pgOpTimeout)
	}
	if err != nil {
		tw.err = errors.Join(fmt.Errorf("throwaway cluster in %s: %w", c.dir, err), c.stop())
		return nil, tw.err
	}
	tw.cluster, tw.server = c, srv
	return srv, nil
}

// stopThrowaway stops and removes the throwaway cluster, if one runs.
func stopThrowaway() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	c := tw.cluster
	if c == nil {
		return nil
	}
	tw.cluster, tw.server = nil, nil
	tw.err = errors.New("the throwaway cluster was stopped")
	return c.stop()
}

// startCluster initializes a cluster in a new directory and starts it on a
// free port.
func startCluster() (*cluster, error) {
	bin, err := findPGBin()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("running as root, and runuser is needed to run PostgreSQL as another user: %w", err)
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return nil, fmt.Errorf("running as root, and neither user postgres nor nobody exists to run PostgreSQL as: %w", err)
		}
		c.runAs = u.Username
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}

	removeStaleClusters(bin, c.runAs)

	c.dir, err = os.MkdirTemp("", clusterPrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	if c.runAs != "" {
		if err := os.Chown(c.dir, uid, gid); err != nil {
			_ = os.RemoveAll(c.dir)
			return nil, fmt.Errorf("hand %s to user %s: %w", c.dir, c.runAs, err)
		}
	}

	out, err := c.run("initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	if err != nil {
		_ = os.RemoveAll(c.dir)
		hint := ""
		if c.runAs != "" {
			hint = fmt.Sprintf(" (every directory above %s must be traversable by user %s: point TMPDIR at e.g. /tmp)", c.dir, c.runAs)
		}
		return nil, fmt.Errorf("initdb%s: %w\n%s", hint, err, out)
	}

	if strings.ContainsAny(c.dir, `'"\`) {
		_ = os.RemoveAll(c.dir)
		return nil, fmt.Errorf("cluster directory %q has quotes in its name, which pg_ctl -o cannot pass on", c.dir)
	}
	for attempt := 1; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			_ = os.RemoveAll(c.dir)
			return nil, fmt.Errorf("find a free port for PostgreSQL: %w", err)
		}
		logStart := fileSize(c.logPath())
		out, err = c.run("pg_ctl", "-D", c.dataDir(), "-l", c.logPath(), "-w", "-t", "60",
			"-o", fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
				c.port, c.dir),
			"start")
		if err == nil {
			return c, nil
		}
		runLog := readFrom(c.logPath(), logStart)
		if attempt < clusterStartAttempts && strings.Contains(runLog, "Address already in use") {
			continue
		}
		startErr := fmt.Errorf("pg_ctl start on port %d: %w\n%s\n--- postgres log tail ---\n%s", c.port, err, out, tail(c.logPath(), logTail))
		return nil, errors.Join(startErr, c.stop())
	}
}

// stop stops the server at once (pg_ctl stop -m immediate) and removes the
// cluster's directory.
func (c *cluster) stop() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
		if out, err := c.run("pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "-t", "60", "stop"); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
			killPostmaster(c.dataDir())
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove throwaway cluster: %w", err))
	}
	return errors.Join(errs...)
}

// run runs one of the cluster's programs, as c.runAs when set, and returns
// its combined output.
func (c *cluster) run(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCmdTimeout)
	defer cancel()
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	if c.dir != "" {
		cmd.Dir = c.dir // the current directory must be readable by runAs
	}
	cmd.Env = pgEnv()
	// Its own process group: a Ctrl-C at the terminal must not reach the
	// postmaster that pg_ctl leaves behind; Main stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl start leaves the postmaster holding the output pipe; do not
	// wait for it to close.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	return strings.TrimSpace(out.String()), err
}

// pgEnv is the environment for PostgreSQL programs: ours without the PG*
// variables that would redirect them, in the C locale so that messages can
// be matched.
func pgEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}

// findPGBin returns a directory holding initdb and pg_ctl: where PATH finds
// initdb, else the newest /usr/lib/postgresql/<version>/bin.
func findPGBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", errors.New("initdb and pg_ctl are neither in PATH nor in /usr/lib/postgresql/*/bin")
}

// pgVersion returns the major version in /usr/lib/postgresql/<v>/bin, or 0.
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// removeStaleClusters stops and removes throwaway clusters left behind by
// test binaries that died before Main could remove them. Best effort.
func removeStaleClusters(bin, runAs string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterPrefix+"*"))
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), clusterPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		_ = (&cluster{dir: dir, bin: bin, runAs: runAs}).stop()
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killPostmaster SIGKILLs the postmaster named in dataDir/postmaster.pid,
// when pg_ctl could not stop it.
func killPostmaster(dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return
	}
	// The file may be stale and the pid reused: only kill a postgres.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("postgres")) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
