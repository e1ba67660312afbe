// Package pgcluster runs a throwaway PostgreSQL cluster: initdb in a
// directory of its own, the server on a free loopback port with fsync off,
// everything removed by Stop. Its dynamic shared memory lives in the data
// directory (dynamic_shared_memory_type=mmap), not in /dev/shm, so that a
// server killed with SIGKILL leaves nothing outside the directory. The tests (internal/testenv) and the local
// stack (flagstorm stack) use it when no server is given.
//
// The server (postgres) is a child of this process, in its own process
// group, and on Linux the kernel SIGKILLs it if this process dies without
// stopping it; Stop waits until it is reaped. As root it runs as an
// unprivileged user (postgres, else nobody), since PostgreSQL refuses to
// run as root; the cluster's directory must then sit under a path that
// user can traverse (/tmp, not /root).
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
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

	"github.com/jackc/pgx/v5"

	"github.com/flagstorm/flagstorm/internal/freeport"
	"github.com/flagstorm/flagstorm/internal/logfile"
)

const (
	// cmdTimeout bounds initdb when ctx has no earlier deadline.
	cmdTimeout = time.Minute
	// readyTimeout bounds the wait for a started server to accept
	// connections when ctx has no earlier deadline.
	readyTimeout = time.Minute
	// stopTimeout is how long Stop waits for an immediate shutdown before
	// SIGKILL.
	stopTimeout = 10 * time.Second
	// reapTimeout bounds the wait for a SIGKILLed server to be reaped.
	reapTimeout = 5 * time.Second
	// startAttempts is how many free ports a start on port 0 tries.
	startAttempts = 3
	// pollInterval is how often a condition being waited for is checked.
	pollInterval = 5 * time.Millisecond
	// logTail is how much of the server's log goes into an error.
	logTail = 2048
	// defaultPrefix names the directory Start makes when Options.Dir is "".
	defaultPrefix = "flagstorm-pg-"
)

// Options configures [Start].
type Options struct {
	// BinDir holds initdb and postgres. "" looks for them where PATH finds
	// initdb, else in the newest /usr/lib/postgresql/<version>/bin.
	BinDir string
	// RunAs is the OS user to run initdb and the server as. "" means the
	// current user, except as root: postgres, else nobody.
	RunAs string
	// Dir is the cluster's directory: data (Dir/data), the Unix socket and
	// the log (Dir/postgres.log). "" makes a new directory flagstorm-pg-*
	// in os.TempDir. It is created if missing, handed to RunAs, and removed
	// by Stop and by a Start that fails.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one, and another
	// if someone takes it first.
	Port int
	// PasswordAuth gives the superuser a random password and makes every
	// connection, TCP and Unix socket, authenticate with it
	// (scram-sha-256); URL carries it. false (the default): trust, so
	// that any user of this host may connect as the superuser.
	PasswordAuth bool
}

// Cluster is a running throwaway PostgreSQL cluster whose superuser is
// postgres, on 127.0.0.1: with a password (Options.PasswordAuth) or
// without (trust).
type Cluster struct {
	dir      string
	port     int
	bin      string
	runAs    string
	cred     *syscall.Credential // nil: run as the current user
	password string              // "": trust

	mu      sync.Mutex
	proc    *exec.Cmd
	done    chan struct{} // closed once proc is reaped
	stopped bool
	stopErr error
}

// Available reports whether initdb and postgres can be found, and if not,
// what was looked for and how to install them.
func Available() error {
	_, err := findBinDir()
	return err
}

// Start initializes a cluster in opts.Dir (initdb, UTF8, no locale) and
// starts the server, waiting until it accepts connections, at most until
// ctx ends (each step also has a deadline of a minute). The caller must
// Stop it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{bin: opts.BinDir, dir: opts.Dir}
	if c.bin == "" {
		bin, err := findBinDir()
		if err != nil {
			return nil, err
		}
		c.bin = bin
	}
	if err := c.resolveUser(opts.RunAs); err != nil {
		return nil, err
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", opts.Port)
	}
	if err := c.makeDir(); err != nil {
		return nil, err
	}

	out, err := c.initdb(ctx, opts.PasswordAuth)
	if err != nil {
		_ = os.RemoveAll(c.dir)
		hint := ""
		if c.runAs != "" {
			hint = fmt.Sprintf(" (every directory above %s must be traversable by user %s: point TMPDIR at e.g. /tmp)", c.dir, c.runAs)
		}
		return nil, fmt.Errorf("initdb%s: %w\n%s", hint, err, out)
	}

	for attempt := 1; ; attempt++ {
		c.port = opts.Port
		if c.port == 0 {
			if c.port, err = freeport.Loopback(); err != nil {
				_ = os.RemoveAll(c.dir)
				return nil, fmt.Errorf("PostgreSQL: %w", err)
			}
		}
		logStart := logfile.Size(c.LogPath())
		err = c.start(ctx)
		if err == nil {
			return c, nil
		}
		runLog := logfile.From(c.LogPath(), logStart)
		if opts.Port == 0 && attempt < startAttempts && strings.Contains(runLog, "Address already in use") {
			continue
		}
		startErr := fmt.Errorf("start postgres on port %d: %w\n--- postgres log tail ---\n%s", c.port, err, logfile.Tail(c.LogPath(), logTail))
		return nil, errors.Join(startErr, c.Stop(context.WithoutCancel(ctx)))
	}
}

// resolveUser decides who runs the server.
func (c *Cluster) resolveUser(runAs string) error {
	if runAs == "" && os.Geteuid() != 0 {
		return nil
	}
	var u *user.User
	var err error
	if runAs != "" {
		if u, err = user.Lookup(runAs); err != nil {
			return fmt.Errorf("user %s to run PostgreSQL as: %w", runAs, err)
		}
	} else {
		// PostgreSQL refuses to run as root.
		u, err = user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return fmt.Errorf("running as root, and neither user postgres nor nobody exists to run PostgreSQL as: %w", err)
		}
	}
	if u.Uid == strconv.Itoa(os.Geteuid()) {
		return nil // already that user
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("user %s: %w", u.Username, err)
	}
	c.runAs = u.Username
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

// initdb initializes the data directory: trust, or with passwordAuth a
// random superuser password, read by initdb from a file only runAs can
// read, removed right after.
func (c *Cluster) initdb(ctx context.Context, passwordAuth bool) (string, error) {
	args := []string{"-D", c.DataDir(), "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"}
	if !passwordAuth {
		return c.run(ctx, "initdb", append(args, "-A", "trust")...)
	}
	c.password = randomHex(16)
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the password file: %w", err)
	}
	defer os.Remove(pwfile)
	if c.cred != nil {
		if err := os.Chown(pwfile, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return "", fmt.Errorf("hand the password file to user %s: %w", c.runAs, err)
		}
	}
	return c.run(ctx, "initdb", append(args, "-A", "scram-sha-256", "--pwfile", pwfile)...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// makeDir creates the cluster's directory and hands it to runAs.
func (c *Cluster) makeDir() error {
	var err error
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", defaultPrefix+"*"); err != nil {
			return fmt.Errorf("create cluster directory: %w", err)
		}
	} else if err = os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	if strings.ContainsAny(c.dir, `'"\`) {
		_ = os.RemoveAll(c.dir)
		return fmt.Errorf("cluster directory %q has quotes in its name, which PostgreSQL cannot take as a socket directory", c.dir)
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			_ = os.RemoveAll(c.dir)
			return fmt.Errorf("hand %s to user %s: %w", c.dir, c.runAs, err)
		}
	}
	return nil
}

// start runs the server on c.port and waits until it accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	logf, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(c.bin, "postgres"),
		"-D", c.DataDir(),
		"-p", strconv.Itoa(c.port),
		"-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off")
	cmd.Dir = c.dir // the current directory must be readable by runAs
	cmd.Env = pgEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr(c.cred)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status says nothing: we decide when it dies
		close(done)
	}()
	c.mu.Lock()
	c.proc, c.done = cmd, done
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		select {
		case <-done:
			return errors.New("postgres exited")
		default:
		}
		// postmaster.pid's 8th line becomes "ready" once the server
		// accepts connections; the first line says it is our process (a
		// server that took the port first would not write this file).
		if ready(filepath.Join(c.DataDir(), "postmaster.pid"), cmd.Process.Pid) {
			return nil
		}
		select {
		case <-done:
			return errors.New("postgres exited")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", context.Cause(ctx))
		case <-time.After(pollInterval):
		}
	}
}

// ready reports whether the pid file says the server pid is ready.
func ready(pidFile string, pid int) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) &&
		strings.TrimSpace(lines[7]) == "ready"
}

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// DataDir is the data directory, Dir/data.
func (c *Cluster) DataDir() string { return filepath.Join(c.dir, "data") }

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "postgres.log") }

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Addr is the server's address, like "127.0.0.1:41234".
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// RunAs is the OS user the server runs as, "" for the current user.
func (c *Cluster) RunAs() string { return c.runAs }

// PID is the server's (the postmaster's) process id, 0 once stopped.
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	select {
	case <-c.done:
		return 0
	default:
		return c.proc.Process.Pid
	}
}

// URL returns the URL of database db as the superuser postgres, like
// postgres://postgres@127.0.0.1:41234/db?sslmode=disable, or with
// Options.PasswordAuth postgres://postgres:PASSWORD@127.0.0.1:41234/...
// (a secret: print it redacted).
func (c *Cluster) URL(db string) string {
	user := "postgres"
	if c.password != "" {
		user += ":" + c.password // hex: nothing to escape
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, c.Addr(), db)
}

// CreateDatabase creates an empty database (from template0) and returns
// its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// Stop stops the server at once (SIGQUIT, what pg_ctl stop -m immediate
// sends; SIGKILL to its process group if it has not exited after 10 s or
// when ctx ends), waits until it is reaped, and removes the cluster's
// directory. Stopping again returns the first call's result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	var errs []error
	// Read before the postmaster goes: a clean shutdown deletes the file
	// (and the segment); after a SIGKILL it is all that names the segment.
	pidFile, _ := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if c.proc != nil {
		if err := stopProc(ctx, c.proc, c.done); err != nil {
			errs = append(errs, err)
		}
	}
	if pidFile != nil {
		removeSysVSegment(pidFile)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove throwaway cluster: %w", err))
	}
	c.stopErr = errors.Join(errs...)
	return c.stopErr
}

// stopProc stops a postmaster that is our child and waits until it is
// reaped.
func stopProc(ctx context.Context, cmd *exec.Cmd, done chan struct{}) error {
	pid := cmd.Process.Pid
	select {
	case <-done:
	default:
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		timer := time.NewTimer(stopTimeout)
		select {
		case <-done:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	// Whatever is left of the group (backends of a killed postmaster).
	// The group outlives its leader only while members remain, so this
	// cannot reach another process group.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill postgres %d: %w", pid, err)
	}
	timer := time.NewTimer(reapTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("postgres %d did not exit %v after SIGKILL", pid, reapTimeout)
	}
}

// Remove stops a cluster left in opts.Dir by a process that is gone (the
// server named in its postmaster.pid is sent SIGQUIT, then SIGKILL; only a
// process whose command line says postgres) and removes the directory.
// Best effort for the server; the error is about the directory.
func Remove(ctx context.Context, opts Options) error {
	if opts.Dir == "" {
		return errors.New("remove a cluster: no directory")
	}
	killPostmaster(ctx, filepath.Join(opts.Dir, "data"))
	if err := os.RemoveAll(opts.Dir); err != nil {
		return fmt.Errorf("remove throwaway cluster: %w", err)
	}
	return nil
}

// RemoveStale removes the clusters in os.TempDir named prefix<pid>-* whose
// process pid is gone: clusters of a process that died before it could
// stop them. It returns how many it removed. Best effort.
func RemoveStale(ctx context.Context, prefix string) int {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	n := 0
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), prefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if Remove(ctx, Options{Dir: dir}) == nil {
			n++
		}
	}
	return n
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killPostmaster stops the postmaster named in dataDir/postmaster.pid and
// removes the System V segment the file names, which a postmaster killed
// with SIGKILL (by us, or with a flagstorm that died) leaves behind.
func killPostmaster(ctx context.Context, dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	defer removeSysVSegment(b)
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return
	}
	isPostgres := func() bool {
		// The file may be stale and the pid reused: only kill a postgres.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && bytes.Contains(cmdline, []byte("postgres"))
	}
	if !isPostgres() {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	for isPostgres() && !zombie(pid) {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return
		case <-time.After(pollInterval):
		}
	}
}

// zombie reports whether pid has exited and waits to be reaped (by a
// parent that is not us).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// run runs one of the cluster's programs as c.cred and returns its combined
// output.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir // the current directory must be readable by runAs
	cmd.Env = pgEnv()
	cmd.SysProcAttr = childAttr(c.cred)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
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

// findBinDir returns a directory holding initdb and postgres: where PATH
// finds initdb, else the newest /usr/lib/postgresql/<version>/bin.
func findBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("initdb and postgres are neither in PATH nor in /usr/lib/postgresql/*/bin " +
		"(install the server with apt-get install -y postgresql)")
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
